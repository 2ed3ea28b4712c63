"""Hits of several queries merged: each passage once with its best score, a floor, the k best."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.core.records import Hit, QueryHits
from xling.retrieval.merging import merge_hits

FIRST = QueryHits("0", "q0", (Hit("a", "A", 0.9), Hit("b", "B", 0.5), Hit("c", "C", 0.0)))
SECOND = QueryHits("1", "q1", (Hit("b", "B", 0.95), Hit("d", "D", 0.5), Hit("e", "E", None)))


def test_best_score_per_passage_then_first_found_on_ties() -> None:
    merged = merge_hits([FIRST, SECOND], 10)
    # b keeps its better score (0.95); a score of 0.0 counts; a hit without a score comes last.
    assert [(h.id, h.score) for h in merged] == [
        ("b", 0.95), ("a", 0.9), ("d", 0.5), ("c", 0.0), ("e", None),
    ]  # fmt: skip


def test_floor_and_k() -> None:
    assert [h.id for h in merge_hits([FIRST, SECOND], 10, 0.5)] == ["b", "a", "d"]
    assert [h.id for h in merge_hits([FIRST, SECOND], 2, 0.0)] == ["b", "a"]
    assert [h.id for h in merge_hits([FIRST], 10, 0.0)] == ["a", "b", "c"]  # 0.0 >= 0.0


@pytest.mark.parametrize(("k", "floor"), [(0, None), (1, float("nan")), (1, True)])
def test_bad_arguments(k: int, floor: float | None) -> None:
    with pytest.raises(InvalidInputError):
        merge_hits([FIRST], k, floor)
