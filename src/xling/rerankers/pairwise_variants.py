"""The PRP sorting variants over an async comparator, with their call-count formulas.

A comparator ``compare(i, j)`` returns how strongly ``i`` beats ``j``: 1 when both prompt orders
prefer ``i``, 0 when both prefer ``j``, 0.5 when they disagree (Qin et al. 2023). ``i`` *beats*
``j`` in the sorting variants when ``compare(i, j) > 0.5``.

* ``allpair``: every pair, all in flight; a passage's score is its sum of wins.
  ``n(n-1)/2`` comparisons, ``n(n-1)`` prompts.
* ``heapsort``: a max-heap over the candidates, then ``k`` extractions (llm-rankers' heapSort);
  the heap is built level by level from the bottom with the nodes of one level in parallel
  (their subtrees are disjoint, so comparisons and result equal the sequential build).
  Comparisons lie between :func:`heapsort_comparison_bounds`.
* ``sliding``: ``K`` bubble passes from the bottom up; pass ``p`` compares positions
  ``n-1 .. p+1`` with the one above, so :func:`sliding_comparisons` is exact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from xling.rerankers.base import gather

__all__ = [
    "Compare",
    "SortOutcome",
    "allpair",
    "heapsort",
    "sliding",
    "PAIRWISE_VARIANTS",
    "allpair_comparisons",
    "sliding_comparisons",
    "heapsort_comparison_bounds",
]

Compare = Callable[[int, int], Coroutine[Any, Any, float]]


@dataclass
class SortOutcome:
    """A variant's ranking.

    Attributes:
        order: The items, best first.
        scores: Win totals aligned with ``order`` (``allpair``), else ``None`` (rank-derived).
        comparisons: Comparator calls made (each is two prompts).
        rounds: Longest chain of comparisons that waited for each other.
    """

    order: list[int]
    scores: list[float] | None
    comparisons: int
    rounds: int


class _Counter:
    def __init__(self, compare: Compare) -> None:
        self.compare = compare
        self.calls = 0

    async def abeats(self, a: int, b: int) -> bool:
        self.calls += 1
        score = await self.compare(a, b)
        # A tie (the two prompt orders disagree: a position-biased judge) goes to the item
        # earlier in the first stage (items are first-stage positions). Kept as in
        # llm-rankers, where the item in place wins a tie, a heap's root just swapped in from
        # the bottom is extracted next and a good first stage sinks.
        return score > 0.5 or (score == 0.5 and a < b)


async def allpair(items: list[int], compare: Compare, top_k: int) -> SortOutcome:
    """Scores every item by its wins over all others (``top_k`` is unused: all are scored)."""
    n = len(items)
    pairs = list(combinations(range(n), 2))
    results = await gather(*(compare(items[a], items[b]) for a, b in pairs))
    wins = [0.0] * n
    for (a, b), score in zip(pairs, results, strict=True):
        wins[a] += score
        wins[b] += 1.0 - score
    ranked = sorted(range(n), key=lambda i: (-wins[i], i))
    return SortOutcome([items[i] for i in ranked], [wins[i] for i in ranked], len(pairs), 1)


async def heapsort(items: list[int], compare: Compare, top_k: int) -> SortOutcome:
    """Extracts the ``top_k`` best by heap sort; the rest follow in their given order."""
    arr = list(items)
    n = len(arr)
    counter = _Counter(compare)

    async def sift_down(size: int, i: int) -> int:
        """Sifts ``arr[i]`` down a heap of ``size``; returns the comparisons made."""
        made = 0
        while True:
            largest, left, right = i, 2 * i + 1, 2 * i + 2
            if left < size:
                made += 1
                if await counter.abeats(arr[left], arr[largest]):
                    largest = left
            if right < size:
                made += 1
                if await counter.abeats(arr[right], arr[largest]):
                    largest = right
            if largest == i:
                return made
            arr[i], arr[largest] = arr[largest], arr[i]
            i = largest

    rounds = 0
    parents = range((n - 2) // 2, -1, -1)
    for depth in sorted({_depth(i) for i in parents}, reverse=True):
        level = [i for i in parents if _depth(i) == depth]
        made = await gather(*(sift_down(n, i) for i in level))
        rounds += max(made, default=0)
    ranked: list[int] = []
    k = min(top_k, n)
    for end in range(n - 1, -1, -1):
        arr[0], arr[end] = arr[end], arr[0]
        ranked.append(arr[end])
        if len(ranked) == k:
            break
        rounds += await sift_down(end, 0)
    chosen = set(ranked)
    rest = [item for item in items if item not in chosen]
    return SortOutcome(ranked + rest, None, counter.calls, rounds)


async def sliding(items: list[int], compare: Compare, top_k: int) -> SortOutcome:
    """``top_k`` bubble passes from the bottom up (PRP's sliding window, stride 1)."""
    arr = list(items)
    n = len(arr)
    counter = _Counter(compare)
    for p in range(min(top_k, n - 1)):
        for j in range(n - 1, p, -1):
            if await counter.abeats(arr[j], arr[j - 1]):
                arr[j - 1], arr[j] = arr[j], arr[j - 1]
    return SortOutcome(arr, None, counter.calls, counter.calls)


PAIRWISE_VARIANTS: dict[str, Callable[[list[int], Compare, int], Awaitable[SortOutcome]]] = {
    "allpair": allpair,
    "heapsort": heapsort,
    "sliding": sliding,
}


def _depth(i: int) -> int:
    return (i + 1).bit_length() - 1


def allpair_comparisons(n: int) -> int:
    """``n(n-1)/2`` comparisons (``n(n-1)`` prompts)."""
    return n * (n - 1) // 2


def sliding_comparisons(n: int, passes: int) -> int:
    """``sum(n-1-p for p < min(passes, n-1))`` = ``K(n-1) - K(K-1)/2`` with ``K`` passes."""
    return sum(n - 1 - p for p in range(min(passes, max(n - 1, 0))))


def _sift_bound(size: int, i: int) -> int:
    # The left-most path is the deepest; at most two comparisons per level on it.
    made = 0
    while 2 * i + 1 < size:
        made += 2 if 2 * i + 2 < size else 1
        i = 2 * i + 1
    return made


def heapsort_comparison_bounds(n: int, top_k: int) -> tuple[int, int]:
    """Fewest and most comparisons :func:`heapsort` can make for ``n`` items and ``top_k``.

    The fewest is when nothing ever swaps: building compares every child with its parent once
    (``n-1``), and each of the ``k-1`` re-heapifications compares the root's children
    (``min(2, size-1)``). The most is when every sift-down runs to the bottom.
    """
    k = min(top_k, n)
    low = max(n - 1, 0) + sum(min(2, n - j - 1) for j in range(1, k) if n - j - 1 > 0)
    high = sum(_sift_bound(n, i) for i in range((n - 2) // 2, -1, -1))
    high += sum(_sift_bound(n - j, 0) for j in range(1, k))
    return low, high
