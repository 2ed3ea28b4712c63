"""PRP variants over deterministic comparators: results and call counts against the formulas."""

from __future__ import annotations

import random
from typing import Any

import pytest

from xling.rerankers import (
    allpair_comparisons,
    heapsort_comparison_bounds,
    sliding_comparisons,
)
from xling.rerankers.pairwise_variants import allpair, heapsort, sliding


def oracle(relevance: list[float]):  # type: ignore[no-untyped-def]
    """A comparator that knows the true relevance: 1 when i is more relevant, 0 when less."""

    async def compare(i: int, j: int) -> float:
        if relevance[i] == relevance[j]:
            return 0.5
        return 1.0 if relevance[i] > relevance[j] else 0.0

    return compare


async def always_tie(i: int, j: int) -> float:
    # What a model with total position bias gives: "Passage A" in both orders.
    return 0.5


async def test_allpair_scores_and_count() -> None:
    relevance = [0.1, 0.9, 0.5, 0.7]
    outcome = await allpair([0, 1, 2, 3], oracle(relevance), 10)
    assert outcome.order == [1, 3, 2, 0]
    assert outcome.scores == [3.0, 2.0, 1.0, 0.0]  # wins against the other three
    assert outcome.comparisons == allpair_comparisons(4) == 6
    # Disagreement everywhere: 0.5 per comparison each, n-1 comparisons -> 1.5; first-stage order.
    tie = await allpair([0, 1, 2, 3], always_tie, 10)
    assert tie.order == [0, 1, 2, 3] and tie.scores == [1.5] * 4


async def test_heapsort_where_nothing_swaps_makes_exactly_the_lower_bound() -> None:
    # A judge by whom the second item always wins (compare(child, parent) = 0): nothing ever
    # swaps. n=100, k=10: building compares each of the 99 children once, each of the 9
    # re-heapifications compares the root's two children: 99 + 9 * 2 = 117.
    async def second_wins(i: int, j: int) -> float:
        return 0.0

    outcome = await heapsort(list(range(100)), second_wins, 10)
    assert outcome.comparisons == 117 == heapsort_comparison_bounds(100, 10)[0]
    assert sorted(outcome.order) == list(range(100))


@pytest.mark.parametrize("variant", [heapsort, sliding])
async def test_ties_go_to_the_first_stage_order(variant: Any) -> None:
    # A judge that cannot tell any pair apart (each prompt order says "Passage A": position
    # bias) leaves the first-stage order as it is. By llm-rankers' rule (the item in place
    # keeps a tie) heapsort would extract 0, then 99, 98, ... (each root swapped in from the
    # bottom).
    outcome = await variant(list(range(100)), always_tie, 10)
    assert outcome.order == list(range(100))


async def test_heapsort_small_case_by_hand() -> None:
    # Items 0..3 with relevance rising (3 best). Heap [0,1,2,3]:
    # build i=1: 3 vs 1 -> swap (1 cmp), arr [0,3,2,1]; i=0: 3 vs 0 win, 2 vs 3 no -> swap
    # (2 cmp), arr [3,0,2,1]; sift 0 at 1: 1 vs 0 -> swap (1 cmp), arr [3,1,2,0]. Build = 4.
    # Extract 3; arr [0,1,2 | 3]; sift root in size 3: 1 vs 0 win, 2 vs 1 win -> 2 cmp.
    # Extract 2 -> k=2 reached. Total 6 comparisons; top-2 = [3, 2], rest in given order.
    outcome = await heapsort([0, 1, 2, 3], oracle([0.0, 1.0, 2.0, 3.0]), 2)
    assert outcome.order == [3, 2, 0, 1]
    assert outcome.comparisons == 6
    low, high = heapsort_comparison_bounds(4, 2)
    assert (low, high) == (5, 6)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("n", "k"), [(1, 1), (2, 1), (7, 3), (20, 10), (50, 50), (100, 10)])
async def test_heapsort_finds_the_true_top_k_within_bounds(seed: int, n: int, k: int) -> None:
    rng = random.Random(seed)
    relevance = [rng.random() for _ in range(n)]
    outcome = await heapsort(list(range(n)), oracle(relevance), k)
    truth = sorted(range(n), key=lambda i: -relevance[i])
    assert outcome.order[: min(k, n)] == truth[: min(k, n)]
    assert sorted(outcome.order) == list(range(n))
    low, high = heapsort_comparison_bounds(n, k)
    assert low <= outcome.comparisons <= high


def test_heapsort_top10_of_100_is_under_a_quarter_of_allpair() -> None:
    # Even the worst case: 2 * high prompts vs n(n-1) = 9900.
    high = heapsort_comparison_bounds(100, 10)[1]
    assert 2 * high / (100 * 99) < 0.25


@pytest.mark.parametrize(("n", "k"), [(2, 1), (10, 3), (20, 10), (100, 10), (5, 50)])
async def test_sliding_count_is_exact_and_top_k_is_right(n: int, k: int) -> None:
    rng = random.Random(n * 31 + k)
    relevance = [rng.random() for _ in range(n)]
    outcome = await sliding(list(range(n)), oracle(relevance), k)
    expected = sliding_comparisons(n, k)
    passes = min(k, n - 1)
    assert expected == passes * (n - 1) - passes * (passes - 1) // 2
    assert outcome.comparisons == expected
    truth = sorted(range(n), key=lambda i: -relevance[i])
    assert outcome.order[:passes] == truth[:passes]  # K bubble passes fix the top K
    tie = await sliding(list(range(n)), always_tie, k)
    assert tie.order == list(range(n)) and tie.comparisons == expected
