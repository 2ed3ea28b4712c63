"""PDF parsing on a real manual chapter (Debian Reference ch. 3, English and Japanese)."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.documents import Document
from xling.documents.parsers import parse_document

from .real_documents import DATA, assert_offsets, block_with, parsed


def test_english_chapter_pages_sections_and_spacing() -> None:
    doc = parsed("ch03.en.pdf")
    assert doc.format == "pdf"
    assert doc.pages == 10
    assert doc.title == "Debian Reference (chapter extract)"
    block = block_with(doc, "GRUB2 first reads the ESP partition")
    assert block.page == 2
    assert block.section == (
        "The system initialization",
        "An overview of the boot strap process",
        "Stage 2: the boot loader",
    )
    # Words keep their spaces, and a wrapped line is joined with one space.
    assert "uses UUID specified for search.fs_uuid in" in block.text
    kernel = block_with(doc, "The modprobe(8) program enables us")
    assert kernel.page == 10
    assert kernel.section[-1] == "The kernel module initialization"
    assert_offsets(doc)


def test_running_header_and_page_numbers_are_dropped() -> None:
    doc = parsed("ch03.en.pdf")
    assert "Debian Reference 76 / 233" not in doc.text
    assert "/ 233" not in doc.text


def test_heading_lines_switch_the_section_inside_a_page() -> None:
    doc = parsed("ch03.en.pdf")
    # Page 1 holds the chapter start and section 3.1: the paragraph after the 3.1 heading is
    # in 3.1, the one before it is not.
    assert block_with(doc, "It is wise for you").section == ("The system initialization",)
    assert block_with(doc, "For simplicity, I limit discussion").section == (
        "The system initialization",
        "An overview of the boot strap process",
    )
    assert "3.1 An overview of the boot strap process" not in doc.text


def test_japanese_lines_join_without_spaces() -> None:
    doc = parsed("ch03.ja.pdf")
    block = block_with(doc, "正確で詳細な")
    assert block.page == 1
    # The source wraps after 正確で詳細な; the join adds no space.
    assert (
        "正確で詳細な情報がインストールされたパッケージのソースや文書中にあるとは言え" in block.text
    )
    assert block_with(doc, "典型的なブートストラッププロセスは 4 段ロケット").section == (
        "システムの初期化",
        "ブートストラッププロセスの概要",
    )
    assert_offsets(doc)


def test_html_and_pdf_of_a_chapter_give_the_same_paragraph() -> None:
    pdf = block_with(parsed("ch03.en.pdf"), "The computer system undergoes").text
    html = block_with(parsed("ch03.en.html"), "The computer system undergoes").text
    expected = (
        "The computer system undergoes several phases of boot strap processes from the power-on "
        "event until it offers the fully functional operating system (OS) to the user."
    )
    assert pdf == expected
    assert html == expected


def test_encrypted_pdf_is_refused_in_one_line() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parsed("encrypted.pdf")
    message = str(caught.value)
    assert message == (
        f"document {str(DATA / 'encrypted.pdf')!r} is an encrypted PDF that needs a password; "
        "give an unencrypted PDF"
    )


def test_truncated_pdf_is_refused_in_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cut = tmp_path / "cut.pdf"
    cut.write_bytes((DATA / "ch03.en.pdf").read_bytes()[:5000])
    with pytest.raises(InvalidInputError) as caught:
        parse_document(Document("cut", path=cut))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"document {str(cut)!r} is not a readable PDF (corrupt or truncated")
    assert message.endswith("give a valid PDF")


def test_pdf_without_text_layer_needs_ocr(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    blank = pdfium.PdfDocument.new()
    blank.new_page(595, 842)
    path = tmp_path / "scan.pdf"
    blank.save(str(path))
    with pytest.raises(InvalidInputError, match="a scanned PDF needs OCR, which xling does not do"):
        parse_document(Document("scan", path=path))


def test_pdf_over_the_page_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from xling.documents.parsers import pdf as pdf_parser

    monkeypatch.setattr(pdf_parser, "MAX_PAGES", 2)
    with pytest.raises(InvalidInputError) as caught:
        parsed("ch03.en.pdf")
    assert str(caught.value) == (  # the committed chapter has 10 pages
        f"document {str(DATA / 'ch03.en.pdf')!r} has 10 pages, over the limit of 2; split it"
    )
