"""Word documents (DOCX) with python-docx: ``Heading N`` styles give the section path, the
``Title`` style (else the core properties) the title, tables become one block per row.

The zip is checked before python-docx opens it: not a zip, a zip that would unpack to more
than :data:`MAX_UNPACKED_BYTES` or with a member packed over :data:`MAX_RATIO` to 1 (a zip
bomb), or one without ``word/document.xml`` is refused
with one line.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from xling.core.errors import InvalidInputError
from xling.documents.parsers.common import collapse_spaces, library_error, where
from xling.documents.records import BlockKind, ParsedDocument, RawDocument

__all__ = ["MAX_RATIO", "MAX_UNPACKED_BYTES", "parse_docx"]

MAX_UNPACKED_BYTES = 256 * 1024 * 1024
"""The most a DOCX may unpack to (the sum of its members' sizes); more is refused as a zip
bomb. Real documents with many images stay far below."""

MAX_RATIO = 200
"""The most one member may unpack to per stored byte (beyond 1 MB unpacked); more is refused
as a zip bomb. Word's own XML packs about 5-20 to 1; a run of one repeated byte, 1,000 to 1."""
_RATIO_FLOOR = 1024 * 1024

_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def parse_docx(raw: RawDocument) -> ParsedDocument:
    """Parses a DOCX document: paragraphs and table rows in body order.

    Raises:
        InvalidInputError: If the bytes are not a zip, unpack to over
            :data:`MAX_UNPACKED_BYTES`, lack ``word/document.xml``, cannot be read by
            python-docx, or hold no text.
    """
    _check_zip(raw)
    import docx

    try:
        document = docx.Document(io.BytesIO(raw.data))
        items = list(document.iter_inner_content())
    except Exception as exc:  # python-docx raises KeyError, lxml and zip errors on bad files
        raise library_error(raw, "DOCX", exc) from None
    title = document.core_properties.title or None
    headings: list[tuple[int, str]] = []
    blocks: list[tuple[str, tuple[str, ...], None, BlockKind]] = []
    for item in items:
        section = tuple(h for _, h in headings)
        if hasattr(item, "rows"):
            blocks.extend((row, section, None, "table") for row in _rows(item))
            continue
        text = collapse_spaces(item.text)
        style = item.style.name if item.style is not None else ""
        heading = _HEADING.match(style or "")
        if style == "Title":
            title = title or text or None
        elif heading and text:
            level = int(heading.group(1))
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, text))
        else:
            blocks.append((text, section, None, "text"))
    return ParsedDocument.from_blocks(raw, blocks, title=title)


def _rows(table: Any) -> list[str]:
    """One ``"cell | cell"`` line per row; a merged cell (repeated by python-docx) once."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = collapse_spaces(cell.text)
            if text:
                cells.append(text)
        rows.append(" | ".join(cells))
    return rows


def _check_zip(raw: RawDocument) -> None:
    allowed = "give a Word document saved as .docx"
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw.data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidInputError(
            f"document {where(raw)} is not a DOCX (not a zip file); {allowed}"
        ) from None
    with archive:
        members = archive.infolist()
        size = sum(m.file_size for m in members)
        if size > MAX_UNPACKED_BYTES:
            raise InvalidInputError(
                f"document {where(raw)} unpacks to {size} bytes, over the limit of "
                f"{MAX_UNPACKED_BYTES} (a zip bomb?); {allowed}"
            )
        for member in members:
            ratio = member.file_size / max(1, member.compress_size)
            if member.file_size > _RATIO_FLOOR and ratio > MAX_RATIO:
                raise InvalidInputError(
                    f"document {where(raw)} has a member {member.filename!r} that unpacks "
                    f"{ratio:.0f} times its packed size, over the limit of {MAX_RATIO} "
                    f"(a zip bomb?); {allowed}"
                )
        if "word/document.xml" not in {m.filename for m in members}:
            raise InvalidInputError(
                f"document {where(raw)} is a zip without word/document.xml, not a DOCX; {allowed}"
            )
