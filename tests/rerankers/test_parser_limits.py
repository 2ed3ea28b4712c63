"""The permutation parser on hostile answers: no quadratic time, bounded reading, absurd ids.

A model (or a server) may send 140 KB of ``<think>`` tags or a 5,000-digit "identifier"; the
parser must stay fast and return a permutation with the fixes recorded. The new single-pass
``strip_thinking`` is compared with the regex version it replaced on random tag soups.
"""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from xling.prompts.rerank import label_index
from xling.rerankers import parse_permutation
from xling.rerankers.permutation import MAX_ANSWER_CHARS, strip_thinking

PIECES = ["<think>", "</think>", "<THINK>", "</Think>", "[1]", " > ", "x", "<", ">", "\n"]
_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def reference_strip_thinking(text: str) -> str:
    """The regex version (quadratic on many unclosed tags), as the reference for the results."""
    text = _BLOCK.sub(" ", text)
    closes = list(_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _OPEN.search(text)
    return text[: opened.start()] if opened else text


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_single_pass_strip_matches_the_regex_version(text: str) -> None:
    assert strip_thinking(text) == reference_strip_thinking(text)


def timed(text: str, n: int, **kwargs: str) -> tuple[float, dict[str, int], tuple[int, ...]]:
    started = time.perf_counter()
    parsed = parse_permutation(text, n, **kwargs)  # type: ignore[arg-type]
    return (
        time.perf_counter() - started,
        {r.kind: r.count for r in parsed.repairs},
        parsed.order,
    )


def test_many_unclosed_think_tags_take_linear_time() -> None:
    # 280 KB of unclosed tags: the quadratic regex version took 11 s on half of it, so about
    # 44 s here; the single pass takes milliseconds (figures: bench/parser.py). The bound is
    # far from both, so a loaded machine cannot fail it and a quadratic parser cannot pass.
    seconds, repairs, order = timed("<think>" * 40_000, 20)
    assert seconds < 5.0, seconds
    assert order == tuple(range(20)) and repairs["think_stripped"] == 1


def test_a_5000_digit_identifier_is_out_of_range() -> None:
    _, repairs, order = timed("[" + "9" * 5000 + "] > [2] > [1]", 3)
    assert order == (1, 0, 2)
    assert repairs == {"out_of_range_dropped": 1, "missing_appended": 1}
    # RankGPT's fallback reading (any digit run) meets the same run without brackets.
    _, repairs, order = timed("best: " + "1" * 5000 + " then 2", 2)
    assert order == (1, 0) and repairs["out_of_range_dropped"] == 1
    _, repairs, order = timed("1" * 140_000, 2)  # cut to the limit, then out of range
    assert order == (0, 1) and repairs["out_of_range_dropped"] == 1


def test_labels_longer_than_any_window_are_not_converted() -> None:
    assert label_index("0003", "numeric") == 2  # leading zeros do not count
    assert label_index("1" * 9, "numeric") == 111_111_110
    assert label_index("1" * 10, "numeric") is None
    assert label_index("0" * 5000 + "7", "numeric") == 6
    assert label_index("AB", "alpha") == 27 and label_index("A" * 7, "alpha") is None
    assert label_index("٣", "numeric") is None  # other scripts are folded before, not here


def test_only_the_start_of_an_overlong_answer_is_read() -> None:
    text = "[2] > [1] " + "x" * (2 * MAX_ANSWER_CHARS) + " [3]"
    _, repairs, order = timed(text, 3)
    assert order == (1, 0, 2)
    # What is cut is what was not read (the speed of the cut: bench/parser.py).
    assert repairs["answer_cut"] == len(text) - MAX_ANSWER_CHARS
    assert repairs["missing_appended"] == 1  # the [3] beyond the limit was not read
