"""Sliding-window plans, against RankGPT's reference loop and hand-listed windows."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.rerankers import count_sliding_windows, sliding_windows


def rankgpt_windows(
    rank_start: int, rank_end: int, window: int, step: int
) -> list[tuple[int, int]]:
    """RankGPT's loop (sunnweiwei/RankGPT, rank_gpt.py ``sliding_windows``), windows only."""
    out = []
    end_pos, start_pos = rank_end, rank_end - window
    while start_pos >= rank_start:
        start_pos = max(start_pos, rank_start)
        out.append((start_pos, end_pos))
        end_pos, start_pos = end_pos - step, start_pos - step
    return out


def test_default_plan_matches_rankgpt_on_100() -> None:
    windows = sliding_windows(100, window=20, stride=10)
    assert windows == rankgpt_windows(0, 100, 20, 10)
    assert windows[0] == (80, 100) and windows[-1] == (0, 20) and len(windows) == 9


def test_rank_end_not_a_multiple_of_the_stride_still_reaches_the_top() -> None:
    windows = sliding_windows(95, window=20, stride=10)
    # RankGPT stops at (5, 25): the top five are never reranked.
    assert rankgpt_windows(0, 95, 20, 10)[-1] == (5, 25)
    assert windows[-2:] == [(5, 25), (0, 15)]
    assert len(windows) == count_sliding_windows(95, 20, 10) == 9


def test_fewer_candidates_than_a_window_is_one_window() -> None:
    assert sliding_windows(7, window=20, stride=10) == [(0, 7)]
    assert count_sliding_windows(7, 20, 10) == 1
    # RankGPT's loop makes no window at all here (start_pos = -13 < 0).
    assert rankgpt_windows(0, 7, 20, 10) == []


def test_rank_start_and_rank_end() -> None:
    assert sliding_windows(100, window=4, stride=2, rank_start=3, rank_end=10) == [
        (6, 10),
        (4, 8),
        (3, 6),
    ]
    assert sliding_windows(5, window=4, stride=2, rank_start=5) == []


@pytest.mark.parametrize("n", range(1, 60))
@pytest.mark.parametrize(("window", "stride"), [(20, 10), (4, 3), (5, 5), (3, 1)])
def test_every_position_is_covered_and_counts_match(n: int, window: int, stride: int) -> None:
    windows = sliding_windows(n, window=window, stride=stride)
    covered = {i for start, end in windows for i in range(start, end)}
    assert covered == set(range(n))
    assert windows[-1][0] == 0
    assert all(end - start <= window for start, end in windows)
    assert len(windows) == count_sliding_windows(n, window, stride)


def test_bad_plans_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="stride"):
        sliding_windows(10, window=4, stride=5)
    with pytest.raises(InvalidInputError, match="stride"):
        sliding_windows(10, window=0, stride=1)
