"""Window plans for listwise reranking: bottom-up sliding windows and top-down partitions."""

from __future__ import annotations

import math

from xling.core.errors import InvalidInputError

__all__ = ["sliding_windows", "count_sliding_windows", "partition_blocks"]


def sliding_windows(
    n_items: int, *, window: int, stride: int, rank_start: int = 0, rank_end: int | None = None
) -> list[tuple[int, int]]:
    """The ``(start, end)`` windows of one bottom-up pass, in the order they are ranked.

    Windows slide from ``rank_end`` up by ``stride`` and the last one always starts at
    ``rank_start``. RankGPT's loop (``while start_pos >= rank_start``) stops early when
    ``rank_end - rank_start - window`` is not a multiple of the stride, so the top few
    candidates are never reranked; and with fewer candidates than a window it ranks empty
    slices. Here the top window is clipped at ``rank_start`` instead, and a short list is one
    window.

    Args:
        n_items: Candidates in the list.
        window: Passages per window.
        stride: How far each window moves up.
        rank_start: First position reranked (0-based).
        rank_end: Position after the last one reranked; default the list's length.

    Returns:
        Windows bottom first; empty when nothing lies in ``[rank_start, rank_end)``.

    Examples:
        100 items, window 20, stride 10: ``(80, 100), (70, 90), ..., (0, 20)`` (9 windows).
        95 items: ``(75, 95), ..., (5, 25), (0, 15)`` (9 windows; RankGPT stops at (5, 25)).
    """
    if window < 1 or stride < 1 or stride > window:
        raise InvalidInputError(
            f"window={window}, stride={stride} is not allowed; use 1 <= stride <= window"
        )
    end = n_items if rank_end is None else min(rank_end, n_items)
    if end - rank_start <= 0:
        return []
    windows: list[tuple[int, int]] = []
    start = max(end - window, rank_start)
    while True:
        windows.append((start, end))
        if start == rank_start:
            return windows
        end -= stride
        start = max(end - window, rank_start)


def count_sliding_windows(span: int, window: int, stride: int) -> int:
    """How many windows :func:`sliding_windows` makes over ``span`` candidates.

    ``1`` when ``span <= window``, else ``1 + ceil((span - window) / stride)``.
    """
    if span <= 0:
        return 0
    return 1 if span <= window else 1 + math.ceil((span - window) / stride)


def partition_blocks(n_rest: int, size: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` blocks of at most ``size`` over ``n_rest`` items."""
    return [(start, min(start + size, n_rest)) for start in range(0, n_rest, size)]
