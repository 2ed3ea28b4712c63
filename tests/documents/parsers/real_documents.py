"""Paths of the real documents in tests/data/documents (see its README for their origin)."""

from __future__ import annotations

from pathlib import Path

from xling.documents import Block, Document, ParsedDocument
from xling.documents.parsers import parse_document

DATA = Path(__file__).resolve().parents[2] / "data" / "documents"


def parsed(name: str, **kwargs: object) -> ParsedDocument:
    """The parse of a committed document."""
    return parse_document(Document(name, path=DATA / name, **kwargs))  # type: ignore[arg-type]


def block_with(doc: ParsedDocument, needle: str) -> Block:
    """The first block whose text holds ``needle``."""
    found = [b for b in doc.blocks if needle in b.text]
    assert found, f"no block holds {needle!r}"
    return found[0]


def assert_offsets(doc: ParsedDocument) -> None:
    """Every block is the slice of the text its offsets name."""
    for block in doc.blocks:
        assert doc.text[block.start : block.end] == block.text
