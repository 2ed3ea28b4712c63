"""Choosing a parser by content type or extension, and registering one."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.documents import Document, ParsedDocument, RawDocument
from xling.documents.parsers import (
    available_formats,
    format_for,
    parse_document,
    register_parser,
)
from xling.documents.parsers.registry import PARSERS


def test_available_formats() -> None:
    assert available_formats()[:5] == ["pdf", "html", "markdown", "docx", "text"]


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        ("manual/ch03.en.pdf", None, "pdf"),
        ("INDEX.HTM", None, "html"),
        ("notes.md", None, "markdown"),
        ("report.docx", None, "docx"),
        ("readme.txt", None, "text"),
        (None, None, "text"),
        (None, "markdown", "markdown"),
        (None, "md", "markdown"),
        ("page.php", "text/html; charset=utf-8", "html"),
        ("x.bin", "application/pdf", "pdf"),
    ],
)
def test_format_for(path: str | None, content_type: str | None, expected: str) -> None:
    assert format_for(path, content_type) == expected


def test_unsupported_extension_names_the_file_and_the_supported_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        format_for("slides/deck.pptx")
    assert str(caught.value) == (
        "'slides/deck.pptx' has extension '.pptx'; supported extensions: .pdf, .html, .htm, "
        ".xhtml, .md, .markdown, .mdown, .mkd, .docx, .txt, .text, .rst, .log (or give "
        "content_type)"
    )
    with pytest.raises(InvalidInputError, match="'Makefile' has no extension; supported"):
        parse_document(Document("m", path="Makefile"))


def test_unsupported_content_type() -> None:
    with pytest.raises(InvalidInputError) as caught:
        format_for("a.bin", "image/png")
    assert str(caught.value).startswith(
        "content type 'image/png' for 'a.bin' is not supported; allowed: pdf, html, markdown,"
    )


def test_register_parser() -> None:
    def parse_csv(raw: RawDocument) -> ParsedDocument:
        rows = raw.data.decode().splitlines()
        return ParsedDocument.from_blocks(
            raw, [(r.replace(",", " | "), (), None, "table") for r in rows]
        )

    register_parser("csv-test", parse_csv, extensions=["CSV"], content_types=["text/csv"])
    try:
        assert format_for("t.csv") == "csv-test"
        doc = parse_document(Document("t", text="a,b\nc,d", content_type="text/csv"))
        assert [b.text for b in doc.blocks] == ["a | b", "c | d"]
        with pytest.raises(InvalidInputError, match="already registered"):
            register_parser("csv-test", parse_csv)
    finally:
        PARSERS._entries.pop("csv-test")
