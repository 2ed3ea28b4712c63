"""The JSON dicts of plain records: their fields, in the published order, copied."""

from __future__ import annotations

from xling.core.records import Hit, RunRow
from xling.store.indexer import IndexReport


def test_run_row_and_index_report_dicts_are_their_fields_in_order() -> None:
    row = RunRow("q1", "d7", 2, 0.5).to_dict()
    assert list(row.items()) == [("query_id", "q1"), ("doc_id", "d7"), ("rank", 2), ("score", 0.5)]
    report = IndexReport(5, 3, 2).to_dict()
    assert list(report.items()) == [("total", 5), ("added", 3), ("skipped", 2), ("updated", 0)]


def test_hit_dict_puts_lang_before_score_and_copies_metadata() -> None:
    hit = Hit("d1", "Habari", 0.25, "sw", {"source": "a.tsv"})
    data = hit.to_dict()
    assert list(data) == ["id", "text", "lang", "score", "metadata"]
    assert data == {
        "id": "d1",
        "text": "Habari",
        "lang": "swh",
        "score": 0.25,
        "metadata": {"source": "a.tsv"},
    }
    data["metadata"]["source"] = "changed"
    assert hit.metadata == {"source": "a.tsv"}
