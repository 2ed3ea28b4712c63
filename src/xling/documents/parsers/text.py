"""Plain text: encoding detected (UTF-8 first, BOM honoured, else charset-normalizer),
paragraphs at blank lines."""

from __future__ import annotations

import re

from xling.documents.parsers.common import decode_text
from xling.documents.records import ParsedDocument, RawDocument

__all__ = ["parse_text"]

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


def parse_text(raw: RawDocument) -> ParsedDocument:
    """Parses a plain-text document: one text block per paragraph (lines kept as written,
    trailing spaces dropped).

    Raises:
        InvalidInputError: If the bytes are binary, or hold no text.
    """
    text = decode_text(raw)
    blocks = []
    for paragraph in _BLANK_LINE.split(text):
        lines = [line.rstrip() for line in paragraph.strip("\n").split("\n")]
        blocks.append(("\n".join(lines).strip(), (), None, "text"))
    return ParsedDocument.from_blocks(raw, blocks)  # type: ignore[arg-type]
