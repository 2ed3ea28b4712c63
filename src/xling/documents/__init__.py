"""Documents: what users add and delete, read, parsed and cut into chunks for a pool.

Ingestion is a chain of stages with typed records between them (:mod:`xling.documents.records`):
read (:func:`~xling.documents.records.read_document`) → parse (:func:`parse_document`, one
module per format in :mod:`xling.documents.parsers`) → chunk (:class:`Chunker`, by the
embedder's tokens at sentence boundaries) → embed and write (:mod:`xling.store.ingest`).
"""

from typing import TYPE_CHECKING

from xling.core.imports import lazy_attributes
from xling.documents.records import Block, Chunk, Document, ParsedDocument, RawDocument

if TYPE_CHECKING:
    from xling.documents.chunking import Chunker
    from xling.documents.files import find_documents
    from xling.documents.parsers import parse_document
    from xling.documents.sentences import sentence_spans

__all__ = [
    "Block",
    "Chunk",
    "Chunker",
    "Document",
    "ParsedDocument",
    "RawDocument",
    "find_documents",
    "parse_document",
    "sentence_spans",
]

__getattr__ = lazy_attributes(
    globals(),
    {
        "Chunker": "xling.documents.chunking",
        "find_documents": "xling.documents.files",
        "parse_document": "xling.documents.parsers",
        "sentence_spans": "xling.documents.sentences",
    },
)
