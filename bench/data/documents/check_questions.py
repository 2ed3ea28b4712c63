"""Checks the gold strings of ``questions.jsonl`` against the committed Debian Reference.

Independent of xling's own parsers (so that a parser bug cannot hide a bad gold): it unpacks
``debian-reference-2.100.tar.xz``, cuts every language's HTML into *leaf sections* with
selectolax (the text of one ``div.section`` without its sub-sections, headings, tables of
contents and navigation left out) and, for every question, reports:

- whether the gold occurs (case-sensitive) in the answer section (``anchor``) of every
  language that has that section (the Indonesian translation lacks 50 of the 463);
- in how many sections of each language it occurs (1 = unambiguous; the set keeps at most 2);
- how often it occurs in the text layer of each committed PDF (pypdfium2).

    python bench/data/documents/check_questions.py      # exits 1 if a gold fails

Needs selectolax and pypdfium2 (xling's core dependencies).
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCHIVE = HERE / "debian-reference-2.100.tar.xz"
QUESTIONS = HERE / "questions.jsonl"
LANGS = ("en", "de", "es", "fr", "id", "it", "ja", "pt", "pt-br", "zh-cn", "zh-tw")
FILES = ("pr01", *(f"ch{i:02d}" for i in range(1, 13)), "apa")
SKIP = {"titlepage", "toc", "navheader", "navfooter"}
BLOCK = {"p", "div", "li", "td", "th", "tr", "pre", "dt", "dd", "table", "br", "ul", "ol", "dl"}
MAX_SECTIONS = 2


def _classes(node: object) -> set[str]:
    return set((node.attributes.get("class") or "").split())  # type: ignore[attr-defined]


def _own_text(node: object, out: list[str]) -> None:
    for child in node.iter(include_text=True):  # type: ignore[attr-defined]
        if child.tag == "-text":
            out.append(child.text_content or "")
            continue
        cls = _classes(child)
        if child.tag == "div" and (cls & SKIP or "section" in cls):
            continue
        block = child.tag in BLOCK
        if block:
            out.append("\n")
        _own_text(child, out)
        if block:
            out.append("\n")


def _heading_id(node: object) -> str | None:
    for tag in ("h1", "h2", "h3", "h4", "h5"):
        heading = node.css_first(f"div.titlepage {tag}")  # type: ignore[attr-defined]
        if heading is not None:
            # The XHTML writes <a id="..."/>; an HTML5 parser reopens that <a> in the next
            # heading, so a heading may hold its predecessor's anchor first: take the last.
            ids = [a.attributes["id"] for a in heading.css("a[id]")]
            return ids[-1] if ids else None
    return None


def leaf_sections(root: Path, lang: str) -> dict[str, str]:
    """Anchor id → own text of every section of one language's HTML."""
    from selectolax.lexbor import LexborHTMLParser

    sections: dict[str, str] = {}

    def walk(node: object) -> None:
        parts: list[str] = []
        _own_text(node, parts)
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parts))
        sections[_heading_id(node) or f"?{len(sections)}"] = re.sub(r"\s*\n\s*", "\n", text)
        for child in node.iter():  # type: ignore[attr-defined]
            if child.tag == "div" and "section" in _classes(child):
                walk(child)

    for stem in FILES:
        html = (root / "html" / lang / f"{stem}.{lang}.html").read_text("utf-8")
        tree = LexborHTMLParser(html)
        top = tree.css_first("div.chapter, div.preface, div.appendix")
        if top is not None:
            walk(top)
    return sections


def pdf_texts(root: Path) -> dict[str, str]:
    """Language → whole text layer of each committed PDF."""
    import pypdfium2 as pdfium

    texts = {}
    for path in sorted((root / "pdf").glob("*.pdf")):
        pdf = pdfium.PdfDocument(path)
        texts[path.stem.split(".")[-1]] = "\n".join(
            pdf[i].get_textpage().get_text_range() for i in range(len(pdf))
        )
    return texts


def main() -> int:
    """Prints one line per question and the totals; 1 if any gold fails."""
    rows = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line]
    questions: dict[str, dict[str, str]] = {}
    for row in rows:
        questions.setdefault(row["qid"], row)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(tmp, filter="data")
        root = Path(tmp) / "debian-reference"
        sections = {lang: leaf_sections(root, lang) for lang in LANGS}
        pdfs = pdf_texts(root)
    failed = 0
    ambiguity: Counter[int] = Counter()
    for qid, q in questions.items():
        gold, anchor = q["gold"], q["anchor"]
        counts = {lang: sum(gold in t for t in sections[lang].values()) for lang in LANGS}
        missing = [
            lang
            for lang in LANGS
            if anchor in sections[lang] and gold not in sections[lang][anchor]
        ]
        absent = [lang for lang in LANGS if anchor not in sections[lang]]
        worst = max(counts.values())
        ambiguity[counts["en"]] += 1
        ok = not missing and "en" not in absent and worst <= MAX_SECTIONS
        failed += not ok
        pdf = " ".join(f"{lang}={pdfs[lang].count(gold)}" for lang in sorted(pdfs))
        print(
            f"{'ok  ' if ok else 'FAIL'} {qid} {gold!r:42} sections en={counts['en']} "
            f"max={worst} pdf {pdf}"
            + (f" missing={missing}" if missing else "")
            + (f" absent={absent}" if absent else "")
        )
    per_lang = Counter(row["lang"] for row in rows)
    print(f"{len(questions)} questions, {len(rows)} lines; per language: {dict(per_lang)}")
    print(f"English sections holding the gold: {dict(sorted(ambiguity.items()))}")
    print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
