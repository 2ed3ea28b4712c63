"""HTML parsing on real DocBook chapters (Debian Reference ch. 3, English and Japanese)."""

from __future__ import annotations

from xling.documents import Document
from xling.documents.parsers import parse
from xling.documents.records import RawDocument, content_hash

from .real_documents import assert_offsets, block_with, parsed


def test_sections_from_the_heading_stack() -> None:
    doc = parsed("ch03.en.html")
    assert doc.format == "html"
    assert doc.title == "Chapter 3. The system initialization"
    assert doc.pages is None
    block = block_with(doc, "GRUB2 first reads the ESP partition")
    assert block.section == (
        "Chapter 3. The system initialization",
        "3.1. An overview of the boot strap process",
        "3.1.2. Stage 2: the boot loader",
    )
    assert block.page is None
    assert block_with(doc, "The modprobe(8) program enables us").section[1:] == (
        "3.8. The udev system",
        "3.8.1. The kernel module initialization",
    )
    assert_offsets(doc)


def test_navigation_and_table_of_contents_are_dropped() -> None:
    doc = parsed("ch03.en.html")
    assert "Table of Contents" not in doc.text  # div.toc
    assert "Chapter 2. Debian package management" not in doc.text  # div.navfooter
    assert "Prev" not in doc.text and "Next" not in doc.text
    assert doc.blocks[0].text.startswith("It is wise for you as the system administrator")


def test_code_and_table_blocks() -> None:
    doc = parsed("ch03.en.html")
    code = block_with(doc, "menuentry 'Debian GNU/Linux'")
    assert code.kind == "code"
    assert "        insmod gzio\n" in code.text  # whitespace of <pre> kept
    row = block_with(doc, "grub-efi-amd64 |")
    assert row.kind == "table"
    assert row.text.startswith("grub-efi-amd64 | I:261 | 159 | Supported | GRUB UEFI | ")
    assert block_with(doc, "package | popcon").text == (
        "package | popcon | size | initrd | bootloader | description"
    )
    # An admonition laid out as a table is text, not table rows.
    assert block_with(doc, "Do not play with boot loaders").kind == "text"


def test_japanese_text_intact() -> None:
    doc = parsed("ch03.ja.html")
    assert doc.title == "第3章 システムの初期化"
    block = block_with(doc, "ブートストラッププロセスを数段通過します")
    assert block.text == (
        "コンピューターシステムは、電源投入イベントからユーザーに機能の完備したオペレーティング"
        "システム (OS) を提供するまでブートストラッププロセスを数段通過します。"
    )
    assert block.section == ("第3章 システムの初期化", "3.1. ブートストラッププロセスの概要")
    assert_offsets(doc)


def test_main_element_preferred_and_legacy_charset_read() -> None:
    page = (
        '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head><body>'
        "<nav><p>Home | About</p></nav><header><p>Site banner</p></header>"
        "<main><h1>Menu</h1><h2>Drinks</h2><p>Caf\xe9 cr\xe8me</p>"
        "<ul><li>Th\xe9</li></ul></main><footer>(c) 2024</footer></body></html>"
    ).encode("cp1252")
    raw = RawDocument(Document("cafe.html", text="-"), page, content_hash(page), "html")
    doc = parse(raw)
    assert doc.title == "Café"
    assert [(b.text, b.section) for b in doc.blocks] == [
        ("Café crème", ("Menu", "Drinks")),
        ("Thé", ("Menu", "Drinks")),
    ]
