"""Response-language correctness (XRAG): verdicts, sentence voting, summaries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xling.errors import InvalidInputError
from xling.eval import LanguageChecker, split_sentences


@pytest.fixture(scope="module")
def lines(flores: Callable[[str, str], list[str]]) -> dict[str, list[str]]:
    return {lang: flores(lang, "dev")[:6] for lang in ("eng", "swh", "fra", "wol")}


@pytest.fixture(scope="module")
def checker() -> LanguageChecker:
    return LanguageChecker(backend="pycld2")


def test_right_and_wrong_language(checker: LanguageChecker, lines: dict[str, list[str]]) -> None:
    right = checker.check("sw", lines["swh"][0])
    assert right.verdict == "correct" and right.correct
    assert right.detected == "swh" and right.expected == "swh"
    assert 0.5 < right.confidence <= 1.0 and right.backend == "pycld2"
    wrong = checker.check("swh_Latn", lines["eng"][0])
    assert wrong.verdict == "wrong_language" and wrong.detected == "eng"
    assert wrong.expected_share == 0.0


def test_sentence_voting_on_code_switched_answers(
    checker: LanguageChecker, lines: dict[str, list[str]]
) -> None:
    swh, eng = lines["swh"], lines["eng"]
    mostly_swahili = checker.check("swh", f"{swh[1]} {swh[2]} {eng[3]}")
    assert mostly_swahili.verdict == "correct" and mostly_swahili.sentences == 3
    assert 0.4 < mostly_swahili.expected_share < 1.0
    assert set(mostly_swahili.votes) >= {"swh", "eng"}
    # One Swahili sentence among three English ones: the expected language is present but loses.
    mixed = checker.check("swh", f"{eng[1]} {swh[2]} {eng[3]}")
    assert mixed.detected == "eng"
    assert mixed.verdict == ("mixed" if mixed.expected_share >= 0.25 else "wrong_language")
    assert 0.0 < mixed.expected_share < 0.5


def test_whole_response_mode_and_restricted_candidates(lines: dict[str, list[str]]) -> None:
    whole = LanguageChecker(backend="langdetect", sentence_voting=False)
    assert whole.check("fra", lines["fra"][0]).sentences == 1
    restricted = LanguageChecker(backend="langdetect", candidates=["eng"])
    # langdetect reads this greeting as Indonesian unless it may only say Swahili or English.
    verdict = restricted.check("swh", "Habari ya asubuhi, rafiki yangu.")
    assert verdict.verdict == "correct"
    assert set(verdict.votes) <= {"swh", "eng"}


def test_undetermined_and_bad_input(checker: LanguageChecker) -> None:
    assert checker.check("swh", "").verdict == "undetermined"
    assert checker.check("swh", "42 !!").verdict == "undetermined"
    with pytest.raises(InvalidInputError, match="unknown language code 'klingon'"):
        checker.check("klingon", "Qapla'")
    with pytest.raises(InvalidInputError, match="mixed_share"):
        LanguageChecker(mixed_share=0.9)


def test_report_per_language(checker: LanguageChecker, lines: dict[str, list[str]]) -> None:
    items = [("swh", t) for t in lines["swh"][:4]] + [("swh", lines["eng"][0])]
    items += [("wol", t) for t in lines["wol"][:3]]
    report = checker.check_many(items)
    assert set(report.per_language) == {"swh", "wol"}
    swh = report.per_language["swh"]
    assert swh.total == 5 and swh.verdicts["correct"] == 4 and swh.accuracy == 0.8
    assert swh.detected["eng"] == 1
    assert report.per_language["wol"].total == 3
    assert report.accuracy == (4 + report.per_language["wol"].verdicts.get("correct", 0)) / 8
    with pytest.raises(InvalidInputError, match="no responses"):
        checker.check_many([])


def test_split_sentences() -> None:
    assert split_sentences("Hi there. How are you?\nFine!") == [
        "Hi there.",
        "How are you?",
        "Fine!",
    ]
    assert split_sentences("我很好。你呢？") == ["我很好。", "你呢？"]
    assert split_sentences("  \n ") == []
