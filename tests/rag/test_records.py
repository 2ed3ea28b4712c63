"""Loaders: line-aligned files, TSV and JSONL, and content-derived ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from xling.errors import InvalidInputError
from xling.rag import Record, load_aligned, load_jsonl, load_lines, load_tsv, read_lines


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_flores_files_load_as_pairs(shared_data: Path) -> None:
    folder = shared_data / "flores"
    records = load_aligned(folder / "eng/dev.txt", folder / "swh/dev.txt", "eng_Latn", "sw")
    assert len(records) == 2 * 997
    src, tgt = records[0], records[1]
    assert (src.side, src.lang, tgt.side, tgt.lang) == ("src", "eng", "tgt", "swh")
    assert src.pair_id == tgt.pair_id and src.row == tgt.row == 0
    assert records[-1].row == 996 and records[-1].source == "eng/dev.txt"
    assert len({r.id for r in records}) == len(records)


def test_final_newline_is_optional(tmp_path: Path) -> None:
    assert read_lines(write(tmp_path / "a", "x\ny")) == read_lines(write(tmp_path / "b", "x\ny\n"))
    assert read_lines(write(tmp_path / "c", "x\r\ny\r\n")) == ["x", "y"]


def test_misaligned_files_name_both(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a.txt", "one\ntwo\n"), write(tmp_path / "b.txt", "un\n")
    with pytest.raises(InvalidInputError, match=r"a\.txt has 2 lines but .*b\.txt has 1"):
        load_aligned(a, b, "eng", "fra")


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("one\n\nthree\n", r":2 is an empty line"), ("ok\n  \n", r":2 is an empty")],
)
def test_empty_lines_and_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_lines(write(tmp_path / "f.txt", content), "eng")


def test_missing_file_and_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_lines(tmp_path / "nope.txt", "eng")
    with pytest.raises(InvalidInputError, match="unknown language code 'xx'"):
        load_lines(write(tmp_path / "f.txt", "hi\n"), "xx")


def test_pairs_sharing_a_source_sentence_get_distinct_ids(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "Good morning.\nGood morning.\n")
    tgt = write(tmp_path / "t.txt", "Bonjour.\nBon matin.\n")
    records = load_aligned(src, tgt, "eng", "fra")
    assert records[0].text == records[2].text
    assert records[0].id != records[2].id
    same = load_aligned(src, tgt, "eng", "fra")
    assert [r.id for r in same] == [r.id for r in records]


def test_tsv_one_or_two_columns(tmp_path: Path) -> None:
    pairs = load_tsv(write(tmp_path / "p.tsv", "Hello\tJambo\nThanks\tAsante\n"), "en", "sw")
    assert [(r.text, r.lang, r.side) for r in pairs[:2]] == [
        ("Hello", "eng", "src"),
        ("Jambo", "swh", "tgt"),
    ]
    mono = load_tsv(write(tmp_path / "m.tsv", "Hello\nThanks\n"), "eng")
    assert [r.side for r in mono] == [None, None]
    with pytest.raises(
        InvalidInputError, match=r"p2\.tsv:2 has 1 tab-separated columns; expected 2"
    ):
        load_tsv(write(tmp_path / "p2.tsv", "a\tb\nc\n"), "en", "sw")


def test_jsonl_texts_pairs_and_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        '{"text": "Jambo", "lang": "sw", "topic": "greeting"}\n'
        '{"src": "Thanks", "tgt": "Merci", "src_lang": "en", "tgt_lang": "fr"}\n',
    )
    records = load_jsonl(path)
    assert records[0] == Record(
        "Jambo", "swh", None, None, 0, records[0].source, {"topic": "greeting"}
    )
    assert [(r.text, r.side) for r in records[1:]] == [("Thanks", "src"), ("Merci", "tgt")]
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:2 is not valid JSON"):
        load_jsonl(write(tmp_path / "bad.jsonl", '{"text": "a", "lang": "en"}\n{oops\n'))
    with pytest.raises(InvalidInputError, match=r"nolang\.jsonl:1 has no \"lang\""):
        load_jsonl(write(tmp_path / "nolang.jsonl", '{"text": "a"}\n'))
