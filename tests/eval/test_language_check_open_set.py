"""The open-set verdict: a restricted win confirmed by evidence that the text is in the language."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xling.core.errors import InvalidInputError
from xling.eval import LanguageChecker


@pytest.fixture(scope="module")
def checker() -> LanguageChecker:
    # As the answer pipeline builds it for an English context: {expected language, English}.
    return LanguageChecker(candidates=["eng"])


def test_a_real_swahili_answer_is_correct(checker: LanguageChecker) -> None:
    verdict = checker.check(
        "swh", "Arthur Guinness alisaini mkataba wa miaka 9,000 mwaka 1759. Ni mkataba mrefu."
    )
    assert verdict.verdict == "correct" and verdict.detected == "swh"
    assert verdict.unrestricted == {"pycld2": "swh", "py3langid": "swh"}
    assert verdict.evidence is not None and verdict.evidence > 0.5


@pytest.mark.parametrize(
    "invented",
    [
        "Kwamba zorbi flanta mekora",
        "Kwamba zorbi flanta mekora tuvani kelo blimpa sorunga.",
        "Na blorvi kantema zolifu, ya mekora tuvani pelinga.",
    ],
)
def test_invented_words_are_not_swahili(checker: LanguageChecker, invented: str) -> None:
    verdict = checker.check("swh", invented)
    assert verdict.verdict in ("unsure", "wrong_language"), verdict
    # The restricted vote alone calls some of them Swahili: what the open-set check corrects.
    if verdict.verdict == "unsure":
        assert verdict.detected == "swh"
        assert LanguageChecker(candidates=["eng"], open_set=False).check("swh", invented).correct


def test_an_english_answer_to_a_french_question_is_the_wrong_language(
    checker: LanguageChecker,
) -> None:
    verdict = checker.check("fra", "Arthur Guinness signed a 9,000 year lease in 1759.")
    assert verdict.verdict == "wrong_language" and verdict.detected == "eng"
    assert verdict.unrestricted == {}  # the open-set check runs only on a win


@pytest.mark.parametrize(
    ("lang", "answer"),
    [
        ("fra", "Oui, à Paris."),
        ("fra", "Il a signé un bail de 9 000 ans."),
        ("deu", "Ja, in Berlin."),
        ("deu", "Am Montag."),
        ("swh", "Ndiyo, huko Paris."),
        ("swh", "Jumatatu."),
        ("spa", "Sí, en Madrid."),
        ("por", "Sim, em Lisboa."),
        ("ind", "Ya, di Jakarta."),
        ("eng", "Yes."),
    ],
)
def test_short_correct_answers_stay_correct(
    checker: LanguageChecker, lang: str, answer: str
) -> None:
    assert checker.check(lang, answer).verdict == "correct"


@pytest.mark.parametrize(
    ("text", "other"),
    [
        ("Saya tidak tahu apa yang harus saya lakukan sekarang.", "ind"),
        ("Ikaw ay isang mabuting tao at mahal kita.", "tgl"),
    ],
)
def test_a_language_outside_the_candidates_is_named(
    checker: LanguageChecker, text: str, other: str
) -> None:
    # Asked "Swahili or English?", the restricted vote says Swahili; both open-set backends and
    # the other language's own words name it.
    assert LanguageChecker(candidates=["eng"], open_set=False).check("swh", text).correct
    verdict = checker.check("swh", text)
    assert verdict.verdict == "wrong_language" and verdict.detected == other
    assert verdict.votes == {"swh": 1.0}  # the restricted vote, as it was


def test_a_language_without_word_profile_relies_on_the_open_set_backends(
    flores: Callable[[str, str], list[str]],
) -> None:
    wolof = flores("wol", "dev")[0]
    verdict = LanguageChecker(backend="pycld2", candidates=["eng"]).check("wol", wolof)
    assert verdict.verdict == "correct" and verdict.evidence is None
    assert verdict.unrestricted == {"pycld2": "wol"}  # py3langid does not know Wolof


def test_reports_count_unsure(checker: LanguageChecker) -> None:
    report = checker.check_many(
        [
            ("swh", "Kwa sababu ya mvua, watoto walibaki nyumbani."),
            ("swh", "Kwamba zorbi flanta mekora"),
            ("swh", "It rained, so the children stayed at home."),
        ]
    )
    swh = report.per_language["swh"]
    assert swh.verdicts == {"correct": 1, "unsure": 1, "wrong_language": 1}
    assert swh.accuracy == pytest.approx(1 / 3)
    assert [v.to_dict()["verdict"] for v in report.verdicts] == [
        "correct", "unsure", "wrong_language",
    ]  # fmt: skip


def test_bad_evidence_backends() -> None:
    with pytest.raises(InvalidInputError, match="klingon"):
        LanguageChecker(evidence_backends=["klingon"])
    with pytest.raises(InvalidInputError, match="evidence_backends"):
        LanguageChecker(evidence_backends="pycld2")
