"""Builds the Markdown, DOCX and Thai fixtures from the real texts beside them (run from the
repository root with xling on the path; the output is committed, this records how).

    python tests/data/documents/make_fixtures.py DIR

DIR is the unpacked ``debian-reference-zh-cn`` package (``apt-get download
debian-reference-zh-cn; dpkg -x debian-reference-zh-cn_*.deb DIR``); the Thai sentences come
from ``../shared`` beside the repository.
"""

import sys
from pathlib import Path

import docx

from xling.documents import Document
from xling.documents.parsers import parse_document

HERE = Path(__file__).parent
TATOEBA = HERE.parents[2].parent / "shared" / "data" / "tatoeba" / "tatoeba.tha-eng.tha"


def markdown(package: Path) -> None:
    chapter = package / "usr" / "share" / "debian-reference" / "ch03.zh-cn.html"
    parsed = parse_document(Document("zh", path=chapter))
    lines = ["---", "title: Debian 参考手册 第 3 章 系统初始化", "lang: zh-cn", "---", ""]
    section: tuple[str, ...] = ()
    in_table = False
    for block in parsed.blocks[:45]:
        if block.section != section:
            for level, heading in enumerate(block.section, 1):
                if level > len(section) or section[level - 1] != heading:
                    lines += [f"{'#' * level} {heading}", ""]
            section = block.section
        if block.kind == "table":
            cells = block.text.split(" | ")
            if not in_table:
                lines += ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]
                in_table = True
            else:
                lines.append("| " + " | ".join(cells) + " |")
            continue
        if in_table:
            lines.append("")
            in_table = False
        if block.kind == "code":
            lines += ["```", block.text, "```", ""]
        else:
            lines += [block.text, ""]
    (HERE / "ch03-part.zh-cn.md").write_text("\n".join(lines), encoding="utf-8")


def word() -> None:
    en = parse_document(Document("en", path=HERE / "ch03.en.html")).blocks
    ja = parse_document(Document("ja", path=HERE / "ch03.ja.html")).blocks
    out = docx.Document()
    out.core_properties.title = "Debian Reference: system initialization (extract)"
    out.add_paragraph("The system initialization / システムの初期化", style="Title")
    out.add_heading("An overview of the boot strap process", level=1)
    for block in en[5:8]:
        out.add_paragraph(block.text)
    out.add_heading("Stage 2: the boot loader", level=2)
    out.add_paragraph(en[14].text)
    rows = [b.text.split(" | ") for b in en[18:21]]
    table = out.add_table(rows=len(rows), cols=len(rows[0]))
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            table.cell(r, c).text = cell
    out.add_heading("ブートストラッププロセスの概要", level=1)
    for block in ja[5:8]:
        out.add_paragraph(block.text)
    out.add_heading("2段目: ブートローダー", level=2)
    out.add_paragraph(ja[14].text)
    out.save(HERE / "boot.en-ja.docx")


def thai() -> None:
    sentences = TATOEBA.read_text(encoding="utf-8").splitlines()[:12]
    md = ["# ประโยคภาษาไทย", "", "## การเดินทาง", "", " ".join(sentences[:6]), "",
          "## ชีวิต", "", " ".join(sentences[6:12]), ""]  # fmt: skip
    (HERE / "thai.md").write_text("\n".join(md), encoding="utf-8")
    text = "\n".join(sentences[:6]) + "\n\n" + "\n".join(sentences[6:12]) + "\n"
    (HERE / "thai.tis-620.txt").write_bytes(text.encode("tis-620"))


if __name__ == "__main__":
    markdown(Path(sys.argv[1]))
    word()
    thai()
