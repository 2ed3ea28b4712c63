"""PDF with pypdfium2 (PDFium): the text layer page by page, bookmarks as the section path.

PDFium keeps word spaces in English and Korean and none inside Chinese or Japanese, and reads
a page in a few milliseconds. A page's lines are regrouped into paragraphs (a line ending well
short of the page's longest line, or a bullet, ends one; wrapped lines are joined with a space,
or none between Chinese/Japanese/Thai characters; PDFium's hyphenation mark joins the halves of
a word). Lines repeated at the top or bottom of most pages (running headers and footers, page
numbers) are dropped. The section of a line is the bookmark path of the last bookmark at or
before it: a bookmark's title found as a line on its page switches the section there (the line
itself is the heading, not text). Scanned PDFs have no text layer: they need OCR, which xling
does not do.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from xling.core.errors import InvalidInputError
from xling.documents.parsers.common import is_unspaced, join_lines, library_error, where
from xling.documents.records import BlockKind, ParsedDocument, RawDocument

__all__ = ["MAX_PAGES", "parse_pdf"]

MAX_PAGES = 5000
"""The most pages a PDF may have; more is refused before any page is read (a PDF of millions
of empty pages is a few hundred kilobytes)."""

_EDGE_LINES = 2  # lines at each end of a page where running headers and footers are looked for
_PAGE_NUMBER = re.compile(
    r"^\s*(?:page\s*)?(?:\d+|[ivxlcdm]+)(?:\s*(?:/|of)\s*\d+)?\s*$", re.IGNORECASE
)
_DIGITS = re.compile(r"\d+")
_BULLET = re.compile(r"^\s*(?:[•◦▪‣●○■□–]|\d+[.)]\s|[a-z][.)]\s)")
_HYPHEN_MARKS = "\ufffe\x02\xad"
_SPACES = re.compile(r"\s+")
_SHORT_LINE = 0.8  # a line under this share of the page's longest line ends its paragraph
_ERR_FORMAT = 3
_ERR_PASSWORD = 4
_ERR_SECURITY = 5

Blocks = list[tuple[str, tuple[str, ...], int | None, BlockKind]]


@dataclass
class _Bookmark:
    page: int
    key: str
    path: tuple[str, ...]


def parse_pdf(raw: RawDocument) -> ParsedDocument:
    """Parses a PDF's text layer.

    Raises:
        InvalidInputError: If the PDF is encrypted (needs a password), corrupt, has more than
            :data:`MAX_PAGES` pages, or has no text layer (a scan: OCR is needed, which xling
            does not do).
    """
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(raw.data)
    except pdfium.PdfiumError as exc:
        raise _open_error(raw, exc) from None
    if len(pdf) > MAX_PAGES:
        count = len(pdf)
        pdf.close()
        raise InvalidInputError(
            f"document {where(raw)} has {count} pages, over the limit of {MAX_PAGES}; split it"
        )
    try:
        title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
        pages = [_page_lines(pdf, i) for i in range(len(pdf))]
        bookmarks = _bookmarks(pdf)
    except pdfium.PdfiumError as exc:
        raise library_error(raw, "PDF", exc) from None
    finally:
        pdf.close()
    _drop_running_lines(pages)
    blocks = _paragraphs(pages, bookmarks)
    return ParsedDocument.from_blocks(raw, blocks, title=title, pages=len(pages))


def _open_error(raw: RawDocument, exc: Any) -> InvalidInputError:
    code = getattr(exc, "err_code", None)
    if code in (_ERR_PASSWORD, _ERR_SECURITY):
        return InvalidInputError(
            f"document {where(raw)} is an encrypted PDF that needs a password; give an "
            "unencrypted PDF"
        )
    return InvalidInputError(
        f"document {where(raw)} is not a readable PDF (corrupt or truncated: "
        f"{' '.join(str(exc).split())[:80]}); give a valid PDF"
    )


def _page_lines(pdf: Any, index: int) -> list[str]:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


def _key(text: str) -> str:
    return _SPACES.sub("", text).casefold()


def _bookmarks(pdf: Any) -> list[_Bookmark]:
    """Bookmarks with a page, in outline order, each with the path of titles down to it."""
    marks: list[_Bookmark] = []
    path: list[str] = []
    for item in pdf.get_toc():
        title = " ".join((item.get_title() or "").split())
        del path[item.level :]
        path.extend([""] * (item.level - len(path)))
        path.append(title)
        dest = item.get_dest()
        page = dest.get_index() if dest is not None else None
        if title and page is not None and page >= 0:
            marks.append(_Bookmark(page, _key(title), tuple(p for p in path if p)))
    return marks


def _drop_running_lines(pages: list[list[str]]) -> None:
    """Removes page numbers and lines repeated (digits aside) at the top or bottom of most
    pages, in place."""
    counts: Counter[str] = Counter()
    for lines in pages:
        edges = {_DIGITS.sub("#", line) for line in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]}
        counts.update(edges)
    threshold = max(3, (len(pages) + 1) // 2)
    running = {key for key, n in counts.items() if n >= threshold}
    for lines in pages:
        for position in [*range(min(_EDGE_LINES, len(lines))), *range(-1, -_EDGE_LINES - 1, -1)]:
            if -len(lines) <= position < len(lines):
                line = lines[position]
                if _DIGITS.sub("#", line) in running or _PAGE_NUMBER.match(line):
                    lines[position] = ""
        lines[:] = [line for line in lines if line]


def _width(line: str) -> int:
    return sum(2 if is_unspaced(c) else 1 for c in line)


def _paragraphs(pages: list[list[str]], bookmarks: list[_Bookmark]) -> Blocks:
    blocks: Blocks = []
    section: tuple[str, ...] = ()
    paragraph = ""
    start_page = 1
    previous_short = True
    marks = sorted(bookmarks, key=lambda b: b.page)  # stable: outline order within a page

    def flush() -> None:
        nonlocal paragraph
        text = "".join(c for c in paragraph if c not in _HYPHEN_MARKS)
        blocks.append((text.strip(), section, start_page, "text"))
        paragraph = ""

    for index, lines in enumerate(pages):
        pending = [b for b in marks if b.page == index]
        longest = max((_width(line) for line in lines), default=0)
        for line in lines:
            matched = _heading(line, pending)
            if matched is not None:
                flush()
                section = pending[matched].path
                del pending[: matched + 1]
                previous_short = True
                continue
            if paragraph and (previous_short or _BULLET.match(line)):
                flush()
            if not paragraph:
                start_page = index + 1
                paragraph = line
            elif paragraph[-1] in _HYPHEN_MARKS:
                paragraph = paragraph[:-1] + line
            elif paragraph.endswith("-") and paragraph[-2:-1].isalpha():
                paragraph += line
            else:
                paragraph = join_lines(paragraph, line)
            previous_short = _width(line) < _SHORT_LINE * longest
        if pending:
            flush()
            section = pending[-1].path
            previous_short = True
    flush()
    return blocks


def _heading(line: str, pending: list[_Bookmark]) -> int | None:
    """The index of the pending bookmark whose title this line is (section numbers before the
    title allowed), else ``None``."""
    key = _key(line)
    for i, mark in enumerate(pending):
        if key == mark.key or (key.endswith(mark.key) and not key[: -len(mark.key)].isalpha()):
            return i
    return None
