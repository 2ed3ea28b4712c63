"""Rank fusion by hand: RRF, Borda and weighted scores on two small rankings."""

from __future__ import annotations

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.core.fusion import fuse_rankings

# Two rankings of items 0..3: a = [0, 1, 2], b = [2, 0, 3].
A = np.array([[0, 1, 2]])
B = np.array([[2, 0, 3]])


def test_rrf_with_k_60_by_hand() -> None:
    # 1-based ranks: item 0 is 1st in a, 2nd in b -> 1/61 + 1/62 = 0.032522...
    # item 2 is 3rd in a, 1st in b -> 1/63 + 1/61 = 0.032266...; item 1: 1/62; item 3: 1/63.
    fused = fuse_rankings([A, B], 4, 4, "rrf")
    assert fused.indices.tolist() == [[0, 2, 1, 3]]
    expected = [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63]
    assert fused.scores[0].tolist() == pytest.approx(expected)
    assert fused.scores[0, 0] == pytest.approx(0.0325224748)


def test_rrf_constant_changes_the_points() -> None:
    # c = 1: item 0 gets 1/2 + 1/3, item 2 gets 1/4 + 1/2, item 1 1/3, item 3 1/4.
    fused = fuse_rankings([A, B], 4, 2, "rrf", rrf_k=1)
    assert fused.indices.tolist() == [[0, 2]]
    assert fused.scores[0].tolist() == pytest.approx([5 / 6, 3 / 4])


def test_borda_by_hand_with_an_empty_slot() -> None:
    # Depth 3: a gives 0:3, 1:2, 2:1; b = [2, -1, 3] gives 2:3, 3:1 (the empty slot gives
    # nothing) -> 2:4, 0:3, 1:2, 3:1.
    fused = fuse_rankings([A, np.array([[2, -1, 3]])], 4, 4, "borda")
    assert fused.indices.tolist() == [[2, 0, 1, 3]]
    assert fused.scores.tolist() == [[4.0, 3.0, 2.0, 1.0]]


def test_weighted_scales_each_list_by_its_min_and_max() -> None:
    # a's scores 0.9, 0.7, 0.5 scale to 1, 0.5, 0; b's 10, 6, 2 to 1, 0.5, 0.
    # weight 0.75 for a: 0 -> 0.75*1 + 0.25*0.5 = 0.875; 1 -> 0.75*0.5 = 0.375;
    # 2 -> 0.75*0 + 0.25*1 = 0.25; 3 -> 0.25*0 = 0.
    fused = fuse_rankings(
        [A, B],
        4,
        4,
        "weighted",
        scores=[np.array([[0.9, 0.7, 0.5]]), np.array([[10.0, 6.0, 2.0]])],
        weights=[0.75, 0.25],
    )
    assert fused.indices.tolist() == [[0, 1, 2, 3]]
    assert fused.scores[0].tolist() == pytest.approx([0.875, 0.375, 0.25, 0.0])


def test_ties_go_to_the_lower_index_and_unlisted_items_never_come_back() -> None:
    # 0: 2 + 1, 1: 1 + 2 (Borda, depth 2): a tie, the lower index first; items 2..4 are in
    # no list, so k = 4 gives two items and then empty slots.
    fused = fuse_rankings([np.array([[0, 1]]), np.array([[1, 0]])], 5, 4, "borda")
    assert fused.indices.tolist() == [[0, 1, -1, -1]]
    assert fused.scores[0, 2:].tolist() == [-np.inf, -np.inf]


def test_rows_are_fused_independently() -> None:
    fused = fuse_rankings([np.array([[0, 1], [1, 0]])], 2, 1, "rrf")
    assert fused.indices.tolist() == [[0], [1]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fuse_rankings([], 3, 1, "rrf"), "non-empty"),
        (lambda: fuse_rankings([A], 3, 1, "sum"), "'sum'"),  # type: ignore[arg-type]
        (lambda: fuse_rankings([A, np.array([[1], [2]])], 4, 1, "rrf"), "same number of rows"),
        (lambda: fuse_rankings([A], 4, 1, "weighted"), "one score array per ranking"),
        (lambda: fuse_rankings([A], 4, 0, "rrf"), "k=0"),
    ],
)
def test_bad_calls_say_what_is_wrong(call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()  # type: ignore[operator]
