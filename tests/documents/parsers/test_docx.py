"""DOCX parsing on a Word file built from real English and Japanese text, and bad zips."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.documents import Document
from xling.documents.parsers import docx as docx_parser
from xling.documents.parsers import parse_document

from .real_documents import DATA, assert_offsets, block_with, parsed


def test_headings_paragraphs_and_table_rows() -> None:
    doc = parsed("boot.en-ja.docx")
    assert doc.format == "docx"
    assert doc.title == "Debian Reference: system initialization (extract)"
    assert "The system initialization / システムの初期化" not in doc.text  # the Title paragraph
    assert block_with(doc, "The boot loader is the 2nd stage").section == (
        "An overview of the boot strap process",
        "Stage 2: the boot loader",
    )
    rows = [b.text for b in doc.blocks if b.kind == "table"]
    assert rows[0] == "package | popcon | size | initrd | bootloader | description"
    assert rows[1].startswith("grub-efi-amd64 | I:261 | 159 | Supported | GRUB UEFI | ")
    ja = block_with(doc, "ブートローダーは UEFI によって起動される")
    assert ja.section == ("ブートストラッププロセスの概要", "2段目: ブートローダー")
    assert ja.text.startswith("ブートローダーは UEFI によって起動されるブートプロセスの2段目です。")
    assert_offsets(doc)


def _refused(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "bad.docx"
    path.write_bytes(data)
    with pytest.raises(InvalidInputError) as caught:
        parse_document(Document("bad", path=path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"document {str(path)!r} ")
    return message


def test_not_a_zip(tmp_path: Path) -> None:
    message = _refused(tmp_path, (DATA / "thai.md").read_bytes())
    assert "is not a DOCX (not a zip file)" in message


def test_zip_bomb_refused_before_unpacking(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(docx_parser, "MAX_UNPACKED_BYTES", 1_000_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<" + b"a" * 2_000_000)
    assert len(buffer.getvalue()) < 10_000
    message = _refused(tmp_path, buffer.getvalue())
    assert "unpacks to 2000001 bytes, over the limit of 1000000" in message


def test_zip_without_document_xml(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("content.xml", "<x/>")
    assert "zip without word/document.xml" in _refused(tmp_path, buffer.getvalue())


def test_broken_document_xml(tmp_path: Path) -> None:
    source = zipfile.ZipFile(DATA / "boot.en-ja.docx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            data = source.read(item)
            archive.writestr(item, data[:100] if item.filename == "word/document.xml" else data)
    assert "cannot be read as DOCX" in _refused(tmp_path, buffer.getvalue())
