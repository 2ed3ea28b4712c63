"""The setwise sorting methods over an async chooser, with their call-count formulas.

Setwise ranking (Zhuang et al., SIGIR 2024, "A Setwise Approach for Effective and Highly
Efficient Zero-shot Ranking with Large Language Models"; code: ielab/llm-rankers,
``llmrankers/setwise.py``) sorts with a comparison that shows ``c + 1`` items (``c`` =
``num_child``) and returns the best of them. A chooser ``choose(shown)`` returns the index of
the best item within ``shown``; each call is one LLM prompt.

* ``heapsort``: a ``c``-ary max-heap, then ``k`` extractions (llm-rankers' ``heapSort`` and
  ``heapify``: a node is compared with all its children at once). The heap is built level by
  level from the bottom with the nodes of one level in parallel (their subtrees are disjoint,
  so calls and result equal the sequential build). Calls lie between
  :func:`setwise_heapsort_bounds`.
* ``bubblesort``: ``k`` passes of windows of ``c + 1`` items sliding from the bottom up with
  stride ``c`` (overlap one), the best of each window moved to its top; llm-rankers' faster
  form, which starts each pass at the lowest window that changed in the pass before (windows
  below it still hold their best on top). Calls lie between
  :func:`setwise_bubblesort_bounds`; every call waits for the one before.

Two places where llm-rankers' faster bubble sort goes wrong are fixed here (found by running it
on every order of up to 7 items against a consistent judge; ``tests/rerankers/test_setwise.py``
shows one case of each by hand):
when a clamped top window's last item wins, llm-rankers moves the next pass's start down by the
window's clamped length instead of the stride ``c``, so the next pass misses the window below;
and after a pass in which nothing moved, a pass whose window holds one item or none still
prompts the model (with one passage or none). Here the start moves by ``c``, and such a pass
makes no call (its top is already the best of the rest) and moves the start down by ``c``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from xling.rerankers.base import gather
from xling.rerankers.pairwise_variants import SortOutcome

__all__ = [
    "Choose",
    "SetwiseMethod",
    "SETWISE_METHODS",
    "setwise_heapsort",
    "setwise_bubblesort",
    "setwise_heapsort_bounds",
    "setwise_bubblesort_bounds",
]

# ``choose(shown)`` → the index within ``shown`` of the best item.
Choose = Callable[[list[int]], Coroutine[Any, Any, int]]
SetwiseMethod = Callable[[list[int], Choose, int, int], Awaitable[SortOutcome]]


class _Counter:
    def __init__(self, choose: Choose) -> None:
        self.choose = choose
        self.calls = 0

    async def abest(self, shown: list[int]) -> int:
        self.calls += 1
        return await self.choose(shown)


def _children(i: int, size: int, c: int) -> range:
    return range(c * i + 1, min(c * i + c + 1, size))


def _depth(i: int, c: int) -> int:
    depth = 0
    while i > 0:
        i = (i - 1) // c
        depth += 1
    return depth


async def setwise_heapsort(
    items: list[int], choose: Choose, num_child: int, top_k: int
) -> SortOutcome:
    """Extracts the ``top_k`` best by a ``num_child``-ary heap; the rest follow in their order.

    Args:
        items: The items in first-stage order.
        choose: The chooser (one LLM call per use).
        num_child: ``c``: each call shows a node and its (up to) ``c`` children.
        top_k: How many top places are sorted.
    """
    arr = list(items)
    n = len(arr)
    c = num_child
    counter = _Counter(choose)

    async def heapify(size: int, i: int) -> int:
        """Sifts ``arr[i]`` down a heap of ``size``; returns the calls made (one per level)."""
        made = 0
        while c * i + 1 < size:
            nodes = [i, *_children(i, size, c)]
            made += 1
            largest = nodes[await counter.abest([arr[j] for j in nodes])]
            if largest == i:
                break
            arr[i], arr[largest] = arr[largest], arr[i]
            i = largest
        return made

    rounds = 0
    parents = [i for i in range(n) if c * i + 1 < n]
    for depth in sorted({_depth(i, c) for i in parents}, reverse=True):
        level = [i for i in parents if _depth(i, c) == depth]
        made = await gather(*(heapify(n, i) for i in level))
        rounds += max(made, default=0)
    ranked: list[int] = []
    k = min(top_k, n)
    for end in range(n - 1, -1, -1):
        if len(ranked) == k:
            break
        arr[0], arr[end] = arr[end], arr[0]
        ranked.append(arr[end])
        if len(ranked) < k:
            rounds += await heapify(end, 0)
    chosen = set(ranked)
    rest = [item for item in items if item not in chosen]
    return SortOutcome(ranked + rest, None, counter.calls, rounds)


async def setwise_bubblesort(
    items: list[int], choose: Choose, num_child: int, top_k: int
) -> SortOutcome:
    """``top_k`` bubble passes of ``num_child + 1``-item windows from the bottom up.

    Args:
        items: The items in first-stage order.
        choose: The chooser (one LLM call per use).
        num_child: ``c``: windows show ``c + 1`` items and move by ``c``.
        top_k: How many passes (top places sorted); at most ``len(items) - 1`` are made.

    Returns:
        The sorted top places, then the others in their given order (as llm-rankers does).
    """
    arr = list(items)
    n = len(arr)
    c = num_child
    counter = _Counter(choose)
    bottom = n - (c + 1)  # the lowest window's start (negative: one window holds all)
    last_start = bottom
    passes = min(top_k, n - 1)
    for i in range(passes):
        start, end = last_start, last_start + c + 1
        if end - max(start, i) < 2:
            # Position i tops the settled window below: it is the best of the rest already.
            last_start += c
            continue
        changed = False
        while True:
            low = max(start, i)
            best = await counter.abest(arr[low:end])
            if best != 0:
                arr[low], arr[low + best] = arr[low + best], arr[low]
                if not changed:
                    changed = True
                    # The loser landed on top of the window below, which the next pass
                    # must see again (llm-rankers adds the clamped length here).
                    if last_start != bottom and low + best == end - 1:
                        last_start += c
            if low == i:
                break
            if not changed:
                last_start -= c
            start -= c
            end -= c
    ranked = arr if passes >= n - 1 else arr[:passes]
    chosen = set(ranked)
    rest = [item for item in items if item not in chosen]
    return SortOutcome(ranked + rest, None, counter.calls, counter.calls)


SETWISE_METHODS: dict[str, SetwiseMethod] = {
    "heapsort": setwise_heapsort,
    "bubblesort": setwise_bubblesort,
}


def _height(i: int, size: int, c: int) -> int:
    # The left-most path is the deepest; one call per level on it.
    made = 0
    while c * i + 1 < size:
        made += 1
        i = c * i + 1
    return made


def setwise_heapsort_bounds(n: int, num_child: int, top_k: int) -> tuple[int, int]:
    """A floor and the most of the calls :func:`setwise_heapsort` makes.

    Counted on llm-rankers' ``heapSort`` and ``heapify`` (``llmrankers/setwise.py``; Zhuang et
    al., SIGIR 2024): building calls at least once per inner node of the ``c``-ary heap
    (``ceil((n-1)/c)`` nodes), and each of the ``k-1`` re-heapifications at least once while
    the heap has two items or more. The most is when every heapify runs to the bottom of its
    subtree (one call per level, about ``log_c n``); some order of the items reaches it.

    Args:
        n: Items sorted.
        num_child: ``c``.
        top_k: ``k``.
    """
    c = num_child
    k = min(top_k, n)
    parents = [i for i in range(n) if c * i + 1 < n]
    low = len(parents) + sum(1 for j in range(1, k) if n - j >= 2)
    high = sum(_height(i, n, c) for i in parents)
    high += sum(_height(0, n - j, c) for j in range(1, k))
    return low, high


def setwise_bubblesort_bounds(n: int, num_child: int, top_k: int) -> tuple[int, int]:
    """A floor and the most of the calls :func:`setwise_bubblesort` makes.

    Counted on llm-rankers' bubble sort (``llmrankers/setwise.py``; Zhuang et al., SIGIR 2024).
    The most is its commented "standard" form, which runs every pass in full: pass ``i``
    covers items ``i..n-1`` with ``ceil((n-1-i)/c)`` windows, for ``min(k, n-1)`` passes; some
    order of the items reaches it. The floor is the first pass, ``ceil((n-1)/c)`` windows,
    which every order needs; later passes start where the pass before changed something and
    may need fewer windows, or none.

    Args:
        n: Items sorted.
        num_child: ``c``.
        top_k: ``k`` (passes).
    """
    c = num_child
    passes = min(top_k, n - 1)
    if passes <= 0:
        return 0, 0
    high = sum(-(-(n - 1 - i) // c) for i in range(passes))
    low = -(-(n - 1) // c)
    return low, high
