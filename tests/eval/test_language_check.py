"""Response-language correctness (XRAG): verdicts, sentence voting, summaries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.eval import LanguageChecker, read_responses, split_sentences


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


def test_read_responses_jsonl_and_plain(tmp_path: Path, lines: dict[str, list[str]]) -> None:
    swh, eng = lines["swh"], lines["eng"]
    data = tmp_path / "answers.jsonl"
    rows = [{"lang": "sw", "response": swh[0]}, {"lang": "en", "response": eng[0], "id": 7}]
    data.write_text(json.dumps(rows[0]) + "\n\n  \n" + json.dumps(rows[1]) + "\n")
    assert read_responses(data) == [("sw", swh[0]), ("en", eng[0])]
    custom = tmp_path / "custom.jsonl"
    custom.write_text(json.dumps({"expected": "fr", "answer": lines["fra"][0]}))
    got = read_responses(custom, lang_field="expected", text_field="answer")
    assert got == [("fr", lines["fra"][0])]
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(swh[:3]) + "\n")
    assert read_responses(plain, "swh_Latn") == [("swh_Latn", t) for t in swh[:3]]
    assert read_responses(str(plain), expected="swh") == [("swh", t) for t in swh[:3]]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("plain text", ":3 is not JSON; give JSONL, or plain lines with --expected LANG"),
        ('{"lang": "sw", "response": ', ":3 is not valid JSON"),
        ('{"lang": "sw", "text": "Habari"}', ":3 has no string field 'response'"),
        ('{"lang": 5, "response": "Habari"}', ":3 has no string field 'lang' (expected language)"),
        ('{"lang": "sw", "response": ["Habari"]}', ":3 has no string field 'response'"),
    ],
)
def test_read_responses_names_the_bad_line(tmp_path: Path, bad_line: str, message: str) -> None:
    data = tmp_path / "answers.jsonl"
    good = json.dumps({"lang": "sw", "response": "Habari yako?"})
    data.write_text(f"{good}\n\n{bad_line}\n{good}\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        read_responses(data)
    assert str(info.value).startswith(f"{data}{message}")
    assert "\n" not in str(info.value)


def test_read_responses_empty_missing_and_not_utf8(tmp_path: Path) -> None:
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    with pytest.raises(InvalidInputError, match="is empty"):
        read_responses(blank)
    with pytest.raises(InvalidInputError):
        read_responses(tmp_path / "missing.jsonl")
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"lang": "fr", "response": "caf\xe9"}\n')
    with pytest.raises(InvalidInputError, match=r"latin1.jsonl:1 is not UTF-8"):
        read_responses(latin1)


def test_report_to_dict(
    checker: LanguageChecker, lines: dict[str, list[str]], tmp_path: Path
) -> None:
    data = tmp_path / "answers.jsonl"
    rows = [{"lang": "sw", "response": t} for t in lines["swh"][:3]]
    rows.append({"lang": "swh", "response": lines["eng"][0]})
    rows.append({"lang": "en", "response": lines["eng"][1]})
    data.write_text("\n".join(json.dumps(r) for r in rows))
    report = checker.check_many(read_responses(data))
    payload = report.to_dict()
    assert list(payload) == ["accuracy", "per_language", "verdicts"]
    assert payload["accuracy"] == report.accuracy == 0.8
    assert list(payload["per_language"]) == ["eng", "swh"]
    swh = payload["per_language"]["swh"]
    assert list(swh) == ["accuracy", "total", "verdicts", "detected", "mean_confidence"]
    assert swh["accuracy"] == 0.75 and swh["total"] == 4
    assert swh["verdicts"] == {"correct": 3, "wrong_language": 1}
    assert swh["detected"] == {"swh": 3, "eng": 1}
    assert len(payload["verdicts"]) == 5
    first = payload["verdicts"][0]
    assert list(first) == [
        "expected", "detected", "verdict", "confidence", "expected_share", "backend", "evidence",
        "unrestricted",
    ]  # fmt: skip
    assert first == report.verdicts[0].to_dict()
    assert first["expected"] == "swh" and first["verdict"] == "correct"
    assert first["backend"] == "pycld2"
    assert [v["verdict"] for v in payload["verdicts"]][3] == "wrong_language"
    assert json.loads(json.dumps(payload)) == payload
