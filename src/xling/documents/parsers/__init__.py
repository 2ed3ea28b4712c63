"""Parsing (stage 2 of ingestion): a document's bytes → its text as blocks with heading paths
and pages, one module per format.

Formats are registered in :data:`~xling.documents.parsers.registry.PARSERS` and chosen by
``content_type`` or file extension (:func:`format_for`): ``pdf`` (pypdfium2; text layer only,
scanned PDFs need OCR, which xling does not do), ``html`` (selectolax; main content, navigation
dropped), ``markdown`` (markdown-it-py), ``docx`` (python-docx) and ``text`` (encoding
detected by charset-normalizer). :func:`register_parser` adds more.
"""

from __future__ import annotations

from xling.core.errors import InvalidInputError
from xling.documents.parsers.registry import (
    PARSERS,
    Parser,
    format_for,
    register_parser,
    supported_extensions,
)
from xling.documents.records import Document, ParsedDocument, RawDocument, read_document

__all__ = [
    "Parser",
    "available_formats",
    "format_for",
    "parse",
    "parse_document",
    "register_parser",
    "supported_extensions",
]


def available_formats() -> list[str]:
    """The registered format names, built-in ones first."""
    return PARSERS.names()


def parse(raw: RawDocument) -> ParsedDocument:
    """Parses a raw document with the parser of its ``format``.

    Raises:
        InvalidInputError: On an unknown format or a file its parser refuses (one line naming
            the file).
    """
    if raw.format not in PARSERS:
        where = raw.document.source or raw.document.doc_id
        raise InvalidInputError(
            f"document {where!r}: unknown format {raw.format!r}; allowed: "
            f"{', '.join(PARSERS.names())}"
        )
    return PARSERS[raw.format].parse(raw)


def parse_document(document: Document) -> ParsedDocument:
    """Reads and parses a document (stages 1 and 2): format by :func:`format_for` from its
    ``path`` and ``content_type``, then :func:`~xling.documents.records.read_document`, then
    :func:`parse`.

    Raises:
        InvalidInputError: On an unsupported format, an unreadable file or a file its parser
            refuses.
    """
    fmt = format_for(document.path, document.content_type)
    return parse(read_document(document, fmt))
