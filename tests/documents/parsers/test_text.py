"""Plain text: encodings, paragraphs, binary refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.documents import Document
from xling.documents.parsers import parse_document

from .real_documents import DATA, assert_offsets, parsed

THAI_FIRST = (
    "เหลือเวลาอีกกี่ชั่วโมงกว่าจะเดินทางไปถึง?\nมีอะไรที่เธอต้องการจะซื้อมั้ย?\n"
    "ทางแก้ปัญหาที่ง่ายที่สุดมักจะเป็นทางที่ดีที่สุดเสมอ\nราคา 30 ยูโรค่ะ/ครับ\nหางานเป็นไงบ้าง?\n"
    "ได้เวลาปลุกทอมแล้ว"
)


def test_thai_in_tis_620_is_detected_and_split_at_blank_lines() -> None:
    doc = parsed("thai.tis-620.txt")
    assert doc.format == "text"
    assert len(doc.blocks) == 2
    assert doc.blocks[0].text == THAI_FIRST
    assert doc.blocks[1].text.endswith("ฉันไม่เคยนั่งเครื่องบินมาก่อนเลย")
    assert_offsets(doc)


def test_utf16_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes("第一段。\r\n続き。\r\n\r\n第二段。\r\n".encode("utf-16"))
    doc = parse_document(Document("note", path=path))
    assert [b.text for b in doc.blocks] == ["第一段。\n続き。", "第二段。"]


def test_text_given_without_path() -> None:
    doc = parse_document(Document("t", text="One.\n\n\nTwo.  \n"))
    assert [(b.text, b.start, b.end) for b in doc.blocks] == [("One.", 0, 4), ("Two.", 6, 10)]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ((DATA / "ch03.en.pdf").read_bytes()[:400] + b"\x00\x01", "it holds NUL bytes"),
        (bytes(range(1, 32)) * 20, "it holds control characters"),
    ],
)
def test_binary_refused(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(data)
    with pytest.raises(InvalidInputError) as caught:
        parse_document(Document("blob", path=path))
    assert str(caught.value) == (
        f"document {str(path)!r} is not text ({why}); give a text, Markdown, HTML, PDF or DOCX file"
    )


def test_empty_text_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"\n \n\t\n")
    with pytest.raises(InvalidInputError) as caught:
        parse_document(Document("empty", path=path))
    assert str(caught.value) == f"document {str(path)!r} holds no text (text)"
