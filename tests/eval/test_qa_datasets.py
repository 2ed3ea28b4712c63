"""Question files with gold answers: MKQA, XOR-TyDi QA, MIRACL as published, and xling's JSONL.

The files under tests/data/qa_datasets are hand-made in the published formats (see the README
there).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.eval import (
    QAExample,
    read_miracl,
    read_mkqa,
    read_qa_examples,
    read_xor_tydi,
    write_qa_examples,
)

DATA = Path(__file__).parent.parent / "data" / "qa_datasets"
MKQA = DATA / "mkqa_sample.jsonl"
XOR = DATA / "xor_dev_full_sample.jsonl"
XOR_Q_ONLY = DATA / "xor_test_full_q_only_sample.jsonl"
TOPICS = DATA / "topics.miracl-v1.0-sw-dev.tsv"
QRELS = DATA / "qrels.miracl-v1.0-sw-dev.tsv"
XLING = DATA / "xling_qa_sample.jsonl"

ACHEBE = "7318440023881951001"
PACIFIC = "-4417771385452218002"
APOLLO = "-906612334100277004"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# --- QAExample -------------------------------------------------------------------------------


def test_qa_example_normalises_and_converts() -> None:
    example = QAExample("q1", "Mji mkuu wa Kenya ni upi?", "sw", ["Nairobi "], ["kenya.md#0"])  # type: ignore[arg-type]
    assert example.lang == "swh"
    assert example.answers == ("Nairobi",)
    assert example.gold_passages == ("kenya.md#0",)
    assert example.to_dict() == {
        "qid": "q1",
        "question": "Mji mkuu wa Kenya ni upi?",
        "lang": "swh",
        "answers": ["Nairobi"],
        "gold_passages": ["kenya.md#0"],
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.qid = "q2"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("", "Q?", "eng"), "qid '' is not allowed"),
        (("q1", "  ", "eng"), "question '  ' of 'q1' is not allowed"),
        (("q1", "Q?", "xx-nope"), "unknown language code 'xx-nope'"),
        (("q1", "Q?", None), "lang None of 'q1' is not allowed"),
        (("q1", "Q?", "eng", ("ok", "")), "answers holds ''"),
        (("q1", "Q?", "eng", "Paris"), "answers must be a list of strings"),
        (("q1", "Q?", "eng", (), (3,)), "gold_passages holds 3"),
    ],
)
def test_qa_example_refuses_bad_fields(fields: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInputError, match=message):
        QAExample(*fields)


# --- MKQA ------------------------------------------------------------------------------------


def test_read_mkqa_one_example_per_answerable_language() -> None:
    examples = read_mkqa(MKQA)
    # 4 questions in 6 languages: the unanswerable one gives none, and Apollo's Thai answer is a
    # long answer without text: 6 + 6 + 0 + 5.
    assert len(examples) == 17
    by_qid = {e.qid: e for e in examples}
    assert [e.qid for e in examples[:6]] == [
        f"{ACHEBE}_{code}" for code in ("en", "fr", "ja", "ko", "th", "zh_cn")
    ]
    assert by_qid[f"{ACHEBE}_ja"] == QAExample(
        f"{ACHEBE}_ja",
        "小説「崩れゆく絆」を書いたのは誰ですか",
        "jpn",
        ("チヌア・アチェベ", "チニュア・アチェベ", "Chinua Achebe"),
    )
    # Text then aliases, stripped ("钦努阿·阿契贝 " in the file), repeats dropped.
    assert by_qid[f"{ACHEBE}_zh_cn"].answers == ("钦努阿·阿契贝",)
    assert by_qid[f"{ACHEBE}_zh_cn"].lang == "cmn"
    assert by_qid[f"{APOLLO}_en"].answers == ("1969-07-20", "20 July 1969", "July 20, 1969")
    assert f"{APOLLO}_th" not in by_qid
    assert by_qid[f"{PACIFIC}_fr"].answers == ("yes",)
    assert all(e.gold_passages == () for e in examples)


def test_read_mkqa_languages() -> None:
    examples = read_mkqa(MKQA, langs=["zh_cn", "fra"])
    assert [e.qid for e in examples] == [
        f"{ACHEBE}_zh_cn",
        f"{ACHEBE}_fr",
        f"{PACIFIC}_zh_cn",
        f"{PACIFIC}_fr",
        f"{APOLLO}_zh_cn",
        f"{APOLLO}_fr",
    ]
    assert [e.lang for e in read_mkqa(MKQA, langs="th")] == ["tha", "tha"]


def test_read_mkqa_gzip_as_published(tmp_path: Path) -> None:
    packed = tmp_path / "mkqa.jsonl.gz"
    packed.write_bytes(gzip.compress(MKQA.read_bytes()))
    assert read_mkqa(packed) == read_mkqa(MKQA)


def test_read_mkqa_language_errors() -> None:
    with pytest.raises(InvalidInputError, match="language 'sw' is not in MKQA; use one of ar, "):
        read_mkqa(MKQA, langs=["sw"])
    with pytest.raises(InvalidInputError, match=r'mkqa_sample.jsonl:1: language "de" is missing'):
        read_mkqa(MKQA, langs=["de"])
    with pytest.raises(InvalidInputError, match="langs is empty"):
        read_mkqa(MKQA, langs=[])


def mkqa_line(**overrides: object) -> str:
    record: dict[str, object] = {
        "example_id": 1,
        "query": "who?",
        "queries": {"en": "who?"},
        "answers": {"en": [{"type": "entity", "text": "Ada"}]},
    }
    record.update(overrides)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"bad.jsonl:2 is not valid JSON"),
        (
            '{"example_id": 2, "answers": {}}',
            r"bad.jsonl:2: expected an MKQA record .*missing queries",
        ),
        (mkqa_line(example_id=None), r'bad.jsonl:2: "example_id" None must be'),
        (
            mkqa_line(queries={"en": "who?", "sw": "nani?"}),
            r"bad.jsonl:2: \"queries\" has language 'sw'",
        ),
        (mkqa_line(answers={"en": [{"text": "Ada"}]}), r"bad.jsonl:2: \"answers\"\[\"en\"\] holds"),
        (mkqa_line(answers={"en": "Ada"}), r"bad.jsonl:2: \"answers\"\[\"en\"\] must be a list"),
        (mkqa_line(answers={"en": [{"type": "entity", "text": "Ada", "aliases": "A"}]}), "aliases"),
        (mkqa_line(queries={"en": ""}), r"bad.jsonl:2: question '' of '1_en' is not allowed"),
        (mkqa_line(), r"bad.jsonl:2: qid '1_en' was used before"),
    ],
)
def test_read_mkqa_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [mkqa_line(), line])
    with pytest.raises(InvalidInputError, match=message):
        read_mkqa(path)


def test_read_mkqa_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_mkqa(tmp_path / "missing.jsonl.gz")
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(MKQA.read_bytes())[:60])
    with pytest.raises(InvalidInputError, match="broken.jsonl.gz is not a readable gzip file"):
        read_mkqa(broken)
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(mkqa_line().encode() + b"\n" + '{"é": 1}'.encode("latin-1") + b"\n")
    with pytest.raises(InvalidInputError, match="latin1.jsonl:2 is not UTF-8"):
        read_mkqa(latin1)


# --- XOR-TyDi QA -----------------------------------------------------------------------------


def test_read_xor_tydi() -> None:
    examples = read_xor_tydi(XOR)
    assert [(e.qid, e.lang) for e in examples] == [
        ("-2178542283402458810", "jpn"),
        ("5832176013974331262", "kor"),
        ("-7066317450391847126", "rus"),
        ("3390467120513428951", "ben"),
        ("8127740019642005133", "fin"),
    ]
    assert examples[1].answers == ("서울", "서울특별시")
    # A single answer given as a string (the official evaluation accepts it).
    assert examples[3].answers == ("ঢাকা",)
    assert [e.qid for e in read_xor_tydi(XOR, langs=["ko", "rus"])] == [
        "5832176013974331262",
        "-7066317450391847126",
    ]


def test_read_xor_tydi_questions_only() -> None:
    examples = read_xor_tydi(XOR_Q_ONLY)
    assert [(e.lang, e.answers) for e in examples] == [("tel", ()), ("arb", ())]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "2", "question": "Q?"}', r"x.jsonl:2: expected an XOR-TyDi record .*missing lang"),
        (
            '{"id": "2", "question": "Q?", "lang": "ja", "answers": [1]}',
            r"x.jsonl:2: answers holds 1",
        ),
        ('{"id": "1", "question": "Q?", "lang": "ja"}', r"x.jsonl:2: qid '1' was used before"),
        ('["id"]', r"x.jsonl:2 must hold a JSON object"),
    ],
)
def test_read_xor_tydi_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    first = '{"id": "1", "question": "Q?", "answers": ["A"], "lang": "ja"}'
    path = write_lines(tmp_path / "x.jsonl", [first, line])
    with pytest.raises(InvalidInputError, match=message):
        read_xor_tydi(path)


# --- MIRACL ----------------------------------------------------------------------------------


def test_read_miracl_with_qrels() -> None:
    examples = read_miracl(TOPICS, qrels=QRELS)
    # Relevance 0 is a judged non-relevant passage; query 99 of the qrels has no topic.
    assert examples == [
        QAExample("0", "Mlima Kilimanjaro uko nchi gani?", "swh", (), ("2187#0", "54022#1")),
        QAExample("12", "Nani alikuwa rais wa kwanza wa Tanzania?", "swh", (), ("881#0",)),
        QAExample("37", "Ziwa Victoria lina ukubwa gani?", "swh", (), ()),
    ]


def test_read_miracl_language(tmp_path: Path) -> None:
    assert {e.lang for e in read_miracl(TOPICS)} == {"swh"}
    renamed = tmp_path / "topics.tsv"
    renamed.write_bytes(TOPICS.read_bytes())
    assert {e.lang for e in read_miracl(renamed, lang="sw")} == {"swh"}
    with pytest.raises(InvalidInputError, match="is not in its name .*give lang"):
        read_miracl(renamed)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("5 Ziwa Victoria?", r"topics.tsv:2 has 1 tab-separated fields; MIRACL topics lines"),
        ("5\tA\tB", r"topics.tsv:2 has 3 tab-separated fields"),
        ("5\t ", r"topics.tsv:2: question '' of '5' is not allowed"),
        ("1\tTena?", r"topics.tsv:2: qid '1' was used before"),
    ],
)
def test_read_miracl_bad_topics(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "topics.tsv", ["1\tMlima?", line])
    with pytest.raises(InvalidInputError, match=message):
        read_miracl(path, lang="swh")


def test_read_miracl_bad_qrels(tmp_path: Path) -> None:
    qrels = write_lines(tmp_path / "qrels.tsv", ["0\tQ0\t2187#0\t1", "0\tQ0\t2187#1"])
    with pytest.raises(InvalidInputError, match=r"qrels.tsv:2 has 3 fields"):
        read_miracl(TOPICS, qrels=qrels)


# --- xling's JSONL and read_qa_examples ------------------------------------------------------


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    examples = read_mkqa(MKQA, langs=["ja"]) + read_miracl(TOPICS, qrels=QRELS)
    path = tmp_path / "out" / "qa.jsonl"
    write_qa_examples(path, examples)
    assert read_qa_examples(path) == examples
    first = json.loads(path.read_text(encoding="utf-8").split("\n")[0])
    assert first == {
        "qid": f"{ACHEBE}_ja",
        "question": "小説「崩れゆく絆」を書いたのは誰ですか",
        "lang": "jpn",
        "answers": ["チヌア・アチェベ", "チニュア・アチェベ", "Chinua Achebe"],
        "gold_passages": [],
    }


def test_read_xling_sample() -> None:
    examples = read_qa_examples(XLING, langs=["fr", "sw"])
    assert examples == [
        QAExample(
            "doc-fr-1", "Quelle est la capitale du Kenya ?", "fra", ("Nairobi",), ("kenya.md#0",)
        ),
        QAExample(
            "doc-sw-1",
            "Mji mkuu wa Kenya ni upi?",
            "swh",
            ("Nairobi",),
            ("kenya.md#0", "kenya.md#2"),
        ),
    ]


@pytest.mark.parametrize(
    ("path", "qids"),
    [
        (MKQA, 17),
        (XOR, 5),
        (XOR_Q_ONLY, 2),
        (TOPICS, 3),
        (XLING, 3),
    ],
)
def test_read_qa_examples_tells_formats_apart(path: Path, qids: int) -> None:
    assert len(read_qa_examples(path)) == qids


def test_read_qa_examples_explicit_format_and_options() -> None:
    assert read_qa_examples(MKQA, "mkqa", langs=["ko"]) == read_mkqa(MKQA, langs=["ko"])
    assert read_qa_examples(XOR, "xor_tydi") == read_xor_tydi(XOR)
    assert read_qa_examples(TOPICS, "miracl", langs="sw", qrels=QRELS) == read_miracl(
        TOPICS, qrels=QRELS
    )
    # The wrong reader for a file fails on its first line, naming what it expected.
    with pytest.raises(InvalidInputError, match=r"mkqa_sample.jsonl:1: expected an XOR-TyDi"):
        read_qa_examples(MKQA, "xor_tydi")


def test_read_qa_examples_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="format='squad' is not allowed; use one of auto"):
        read_qa_examples(XOR, "squad")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="qrels are read with MIRACL topics only"):
        read_qa_examples(XOR, qrels=QRELS)
    with pytest.raises(InvalidInputError, match="MIRACL topics are in one language"):
        read_qa_examples(TOPICS, langs=["sw", "en"])
    empty = write_lines(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(InvalidInputError, match="empty.jsonl holds no question"):
        read_qa_examples(empty)
    other = write_lines(tmp_path / "other.jsonl", ['{"text": "Q?"}'])
    with pytest.raises(InvalidInputError, match=r"other.jsonl:1: cannot tell the format"):
        read_qa_examples(other)
    plain = write_lines(tmp_path / "plain.txt", ["Where is Nairobi?"])
    with pytest.raises(InvalidInputError, match=r"plain.txt:1: cannot tell the format"):
        read_qa_examples(plain)
    extra = write_lines(
        tmp_path / "extra.jsonl", ['{"qid": "1", "question": "Q?", "lang": "en", "answer": "A"}']
    )
    with pytest.raises(InvalidInputError, match=r"extra.jsonl:1: expected .*; unknown answer"):
        read_qa_examples(extra)


def test_write_qa_examples_refuses_bad_records(tmp_path: Path) -> None:
    example = QAExample("1", "Q?", "eng", ("A",))
    with pytest.raises(InvalidInputError, match="qid '1' appears twice"):
        write_qa_examples(tmp_path / "qa.jsonl", [example, example])
    with pytest.raises(InvalidInputError, match="give QAExamples"):
        write_qa_examples(tmp_path / "qa.jsonl", [example.to_dict()])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="is a folder"):
        write_qa_examples(tmp_path, [example])
    assert not (tmp_path / "qa.jsonl").exists()
