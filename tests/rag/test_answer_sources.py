"""What an answer cites, as documents: title, section and page of the cited chunks."""

from __future__ import annotations

from xling.core.records import Hit
from xling.rag.answers import Answer


def _chunk(cid: str, doc: str, section: str, page: int | None = None) -> Hit:
    meta = {"doc_id": doc, "title": doc.upper(), "section": section, "source": f"/d/{doc}"}
    if page is not None:
        meta["page"] = page
    return Hit(cid, f"text of {cid}", 0.5, "eng", meta)


def _answer(passages: list[Hit], citations: list[str]) -> Answer:
    return Answer("q", "Where?", "eng", False, "See [2] and [1].", citations, [], "eng", 0.9,
                  True, [], [p.id for p in passages], None, passages)  # fmt: skip


def test_sources_follow_the_order_of_citation_once_each() -> None:
    passages = [
        _chunk("c1", "guide.pdf", "Install > Disks", 12),
        _chunk("c2", "faq.md", "Networking"),
        _chunk("c3", "guide.pdf", "Install > Disks", 12),
        Hit("s1", "a sentence", 0.4, "fra", {"row": 3}),
    ]
    answer = _answer(passages, ["c2", "c1", "c3", "s1"])
    assert answer.sources() == [
        {"doc_id": "faq.md", "title": "FAQ.MD", "section": "Networking", "page": None,
         "source": "/d/faq.md"},
        {"doc_id": "guide.pdf", "title": "GUIDE.PDF", "section": "Install > Disks", "page": 12,
         "source": "/d/guide.pdf"},
    ]  # fmt: skip
    assert answer.to_dict()["sources"] == answer.sources()


def test_citation_of_a_hit() -> None:
    assert _chunk("c1", "guide.pdf", "Install > Disks", 12).citation == (
        "GUIDE.PDF > Install > Disks, p. 12"
    )
    assert _chunk("c2", "faq.md", "").citation == "FAQ.MD"
    assert Hit("s1", "a sentence", 0.4, "fra", {"row": 3}).citation == ""
