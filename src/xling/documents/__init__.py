"""Documents: what users add and delete, read, parsed and cut into chunks for a pool.

Ingestion is a chain of stages with typed records between them (:mod:`xling.documents.records`):
read (:func:`read_document`) → parse (:mod:`xling.documents.parsers`) → chunk
(:mod:`xling.documents.chunking`) → embed and write (:mod:`xling.store.ingest`).
"""

from xling.documents.records import Block, Chunk, Document, ParsedDocument, RawDocument

__all__ = ["Block", "Chunk", "Document", "ParsedDocument", "RawDocument"]
