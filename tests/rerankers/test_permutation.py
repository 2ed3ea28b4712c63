"""Permutation parsing and repair: hand-made answers of the shapes real models write."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xling.rerankers import parse_permutation
from xling.rerankers.permutation import fold_lookalikes, strip_thinking


def kinds(text: str, n: int, **kwargs: object) -> tuple[tuple[int, ...], dict[str, int]]:
    parsed = parse_permutation(text, n, **kwargs)  # type: ignore[arg-type]
    return parsed.order, {r.kind: r.count for r in parsed.repairs}


def test_clean_answer_needs_no_repair() -> None:
    assert kinds("[2] > [3] > [1]", 3) == ((1, 2, 0), {})


def test_missing_ids_are_appended_in_first_stage_order() -> None:
    # 5 passages, the model names 4 and 2: 3 (index 2), then 0, 2, 4 (indices) follow in order.
    assert kinds("[4] > [2]", 5) == ((3, 1, 0, 2, 4), {"missing_appended": 3})


def test_duplicates_and_out_of_range_are_dropped() -> None:
    order, repairs = kinds("[3] > [3] > [9] > [0] > [1]", 3)
    assert order == (2, 0, 1)
    assert repairs == {"duplicates_dropped": 1, "out_of_range_dropped": 2, "missing_appended": 1}


def test_thinking_is_stripped() -> None:
    order, repairs = kinds("<think>maybe [1] > [2]? no</think>[2] > [1]", 2)
    assert order == (1, 0)
    assert repairs == {"think_stripped": 1}
    # An unclosed block: the model stopped while thinking, nothing after <think> is an answer.
    assert strip_thinking("[2] > [1] <think>hmm [1]") == "[2] > [1] "
    # A stray closing tag (the opening one was in the prompt): keep only what follows it.
    assert strip_thinking("reasoning [1] [2]</think> [2] > [1]") == " [2] > [1]"


def test_lookalike_digits_and_brackets_fold_to_ascii() -> None:
    # Full-width, Arabic-Indic (٣ = 3), Devanagari (२ = 2) and CJK lenticular brackets.
    text = "［３］ > [٣] > 【२】 > [1]"
    folded, changed = fold_lookalikes(text)
    assert folded == "[3] > [3] > [2] > [1]"
    assert changed == 7  # ［３］: 3 full-width; ٣: 1; 【२】: 2 brackets + 1 Devanagari digit
    order, repairs = kinds(text, 3)
    assert order == (2, 1, 0)
    assert repairs == {"lookalike_digits": 7, "duplicates_dropped": 1}


def test_bracketed_ids_win_over_numbers_in_prose() -> None:
    # RankGPT reads every digit run: "12 people" would become id 12. Brackets come first here.
    assert kinds("[3] mentions 12 people, then [1]", 20)[0][:2] == (2, 0)
    # Without brackets every digit run is an identifier (RankGPT's reading).
    assert kinds("Passage 2 is best, then passage 1", 3)[0] == (1, 0, 2)


def test_answer_without_identifiers_keeps_the_window_order() -> None:
    order, repairs = kinds("I cannot rank these passages.", 4)
    assert order == (0, 1, 2, 3)
    assert repairs == {"no_identifiers": 1, "missing_appended": 4}


def test_alphabetic_identifiers() -> None:
    assert kinds("[C] > [a] > [B]", 3, style="alpha")[0] == (2, 0, 1)
    # Two-letter labels after Z: AA is the 27th passage.
    assert kinds("[AA] > [Z]", 27, style="alpha")[0][:2] == (26, 25)
    # Alphabetic answers have no digit fallback: bare letters are words, not ids.
    assert kinds("A is better than B", 2, style="alpha")[1]["no_identifiers"] == 1


def test_lrl_identifiers() -> None:
    text = "Passage3, Passage1, PassageX, Passage2]"
    assert kinds(text, 3, prefix="Passage", suffix="")[0] == (2, 0, 1)
    assert kinds("PassageB, PassageA]", 2, style="alpha", prefix="Passage", suffix="")[0] == (1, 0)


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(),
    n=st.integers(min_value=1, max_value=40),
    style=st.sampled_from(["numeric", "alpha"]),
    wrap=st.sampled_from([("[", "]"), ("Passage", "")]),
)
def test_any_text_gives_a_permutation(text: str, n: int, style: str, wrap: tuple[str, str]) -> None:
    parsed = parse_permutation(text, n, style=style, prefix=wrap[0], suffix=wrap[1])  # type: ignore[arg-type]
    assert sorted(parsed.order) == list(range(n))


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.integers(min_value=-3, max_value=45), max_size=60),
    n=st.integers(min_value=1, max_value=40),
    noise=st.text(alphabet="[]>, <think>/0123456789٣３", max_size=20),
)
def test_id_soup_gives_a_permutation_that_keeps_the_first_valid_mentions(
    ids: list[int], n: int, noise: str
) -> None:
    text = " > ".join(f"[{i}]" for i in ids) + noise
    order = parse_permutation(text, n).order
    assert sorted(order) == list(range(n))
    if "<think>" not in noise and "</think>" not in noise and "[" not in noise:
        first_valid = list(dict.fromkeys(i - 1 for i in ids if 1 <= i <= n))
        assert list(order[: len(first_valid)]) == first_valid
