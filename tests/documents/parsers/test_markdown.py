"""Markdown parsing on real Chinese text (Debian Reference ch. 3) and Thai (Tatoeba)."""

from __future__ import annotations

from .real_documents import assert_offsets, block_with, parsed


def test_front_matter_title_sections_code_and_tables() -> None:
    doc = parsed("ch03-part.zh-cn.md")
    assert doc.format == "markdown"
    assert doc.title == "Debian 参考手册 第 3 章 系统初始化"
    assert "title:" not in doc.text
    block = block_with(doc, "引导加载程序是启动过程的第二阶段")
    assert block.section == (
        "第 3 章 系统初始化",
        "3.1. 启动过程概述",
        "3.1.2. 第二阶段：引载加载程序",
    )
    assert block.text.startswith("引导加载程序是启动过程的第二阶段，由 UEFI 启动。")
    code = block_with(doc, "menuentry 'Debian GNU/Linux'")
    assert code.kind == "code"
    assert code.text.splitlines()[1] == "        load_video"
    assert (
        block_with(doc, "软件包 |").text == "软件包 | 流行度 | 大小 | initrd | 引导加载程序 | 说明"
    )
    assert block_with(doc, "lilo |").kind == "table"
    assert "|---" not in doc.text
    assert_offsets(doc)


def test_thai_intact_with_first_heading_as_title() -> None:
    doc = parsed("thai.md")
    assert doc.title == "ประโยคภาษาไทย"
    assert [b.section for b in doc.blocks] == [
        ("ประโยคภาษาไทย", "การเดินทาง"),
        ("ประโยคภาษาไทย", "ชีวิต"),
    ]
    assert doc.blocks[1].text.startswith("เขาอยู่ที่ป่าคนเดียว หนังสือเกี่ยวกับชีวิตที่เยี่ยมที่สุดก็คือชีวิตนั่นเอง")
    assert_offsets(doc)
