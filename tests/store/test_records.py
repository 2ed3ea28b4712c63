"""Loaders: line-aligned files, TSV and JSONL, and content-derived ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.store import Record, load_aligned, load_jsonl, load_lines, load_tsv, read_lines


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


def test_one_text_is_one_passage_whatever_the_pairs(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "Good morning.\nGood morning.\n")
    tgt = write(tmp_path / "t.txt", "Bonjour.\nBon matin.\n")
    records = load_aligned(src, tgt, "eng", "fra")
    assert records[0].text == records[2].text
    # Same text and language: one id; the two pairs stay apart in the stored metadata.
    assert records[0].id == records[2].id
    assert records[0].pair_id != records[2].pair_id
    keys = [k for r in (records[0], records[2]) for k in r.chroma_metadata() if "pair" in k]
    assert keys == [f"xling:pair:{records[0].pair_id}", f"xling:pair:{records[2].pair_id}"]
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


def test_a_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    for load in (lambda p: read_lines(p), lambda p: load_jsonl(p), lambda p: load_lines(p, "en")):
        with pytest.raises(InvalidInputError, match=r"is a folder, not a file$"):
            load(tmp_path)


def test_invalid_utf8_names_file_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok", "lang": "en"}\n{"text": "caf\xe9", "lang": "fr"}\n')
    with pytest.raises(
        InvalidInputError, match=r"latin1\.jsonl:2 is not UTF-8 \(byte 42 is 0xe9\)"
    ):
        load_jsonl(path)


def test_nul_only_lines_are_empty_lines(tmp_path: Path) -> None:
    path = tmp_path / "nul.txt"
    path.write_bytes(b"Jambo\n\x00\x00\x00\x00\n")
    with pytest.raises(InvalidInputError, match=r"nul\.txt:2 is an empty line"):
        load_lines(path, "sw")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": 42, "lang": "en"}', r":1: 'text' must be a string, got int 42$"),
        ('{"text": "\\u0000", "lang": "en"}', r":1: 'text' is empty"),
        ('{"lang": "en"}', r":1 has no 'text' field"),
        (
            '{"src": "a", "tgt": ["b"], "src_lang": "en", "tgt_lang": "fr"}',
            r":1: 'tgt' must be a string, got list",
        ),
        ('{"text": "a", "lang": "en", "score": NaN}', r":1: metadata field 'score'=nan"),
        ('{"text": "a", "lang": "en", "w": -Infinity}', r":1: metadata field 'w'=-inf"),
        ('{"text": "a", "lang": "en", "": 1}', r":1 has a field with the empty name ''"),
        ('{"text": "a", "lang": "en", "n": 99999999999999999999}', r":1: .* outside the 64-bit"),
        ('{"text": "a", "lang": "klingon"}', r":1: unknown language code 'klingon'"),
        ('{"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": 7}', r":1: language code 7"),
    ]
    + [
        (
            json.dumps({"text": "a", "lang": "en", key: 1}),
            f":1: metadata field name '{key}' is reserved",
        )
        for key in ("#x", "$x", "chroma:document", "chroma:x", "xling:embedder", "source", "row")
    ],
)
def test_bad_jsonl_fields_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "d.jsonl", line + "\n")
    with pytest.raises(
        InvalidInputError, match=re.escape(str(path)) + message.replace("$x", r"\$x")
    ):
        load_jsonl(path)


def test_metadata_rules_match_what_chroma_stores(tmp_path: Path) -> None:
    """Every metadata refused here is one Chroma refuses, or stores other than it was given."""
    import chromadb

    collection = chromadb.PersistentClient(str(tmp_path / "db")).create_collection("meta-check")
    cases: list[dict[str, object]] = [
        {"": 1}, {"#x": 1}, {"$x": 1}, {"chroma:document": 1}, {"n": float("nan")},
        {"n": float("inf")}, {"n": 2**70},
    ]  # fmt: skip
    for i, meta in enumerate(cases):
        with pytest.raises(InvalidInputError):
            Record("a", "en", metadata=meta)  # type: ignore[arg-type]
        try:
            collection.add(ids=[str(i)], documents=["a"], embeddings=[[0.1, 0.2]], metadatas=[meta])
        except Exception:  # noqa: BLE001 - refused by Chroma: what we want to know
            continue
        stored = collection.get(ids=[str(i)], include=["metadatas"])["metadatas"][0]
        assert stored != meta, meta  # accepted, but not stored as given
    fine = {"topic": "greeting", "n": 3, "w": 0.5, "ok": True, "a b": ""}
    record = Record("a", "en", metadata=fine)  # type: ignore[arg-type]
    collection.add(ids=["fine"], documents=["a"], embeddings=[[0.1, 0.2]],
                   metadatas=[record.chroma_metadata()])  # fmt: skip
    stored = collection.get(ids=["fine"], include=["metadatas"])["metadatas"][0]
    assert stored == record.chroma_metadata()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lang": "klingon"}, "unknown language code 'klingon'"),
        ({"side": "bogus"}, "record side 'bogus' is not allowed; use 'src', 'tgt' or None"),
        ({"text": ""}, "record text '' is not allowed"),
        ({"text": "\x00\x00"}, r"record text '\\x00\\x00' is not allowed"),
        ({"text": 42}, "record text 42 is not allowed"),
        ({"row": -1}, "record row -1 is not allowed"),
        ({"row": True}, "record row True is not allowed"),
        ({"source": None}, "record source None is not allowed"),
        ({"pair_id": 3}, "record pair_id 3 is not allowed"),
        ({"metadata": {"k": [1, 2]}}, r"metadata field 'k'=\[1, 2\] is not allowed"),
        ({"metadata": "k=1"}, "metadata must be a mapping"),
    ],
)
def test_records_refuse_bad_fields(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"text": "Jambo", "lang": "sw", **fields}
    with pytest.raises(InvalidInputError, match=message):
        Record(**values)  # type: ignore[arg-type]


def test_record_languages_are_stored_canonical() -> None:
    assert Record("Jambo", "sw").lang == Record("Jambo", "swh_Latn").lang == "swh"
    assert Record("Jambo", "sw").id == Record("Jambo", "swh").id


def test_unusable_json_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    huge = write(tmp_path / "huge.jsonl", '{"text": "a", "lang": "en", "n": ' + "9" * 5000 + "}\n")
    with pytest.raises(InvalidInputError, match=r"huge\.jsonl:1 is not usable JSON \(Exceeds"):
        load_jsonl(huge)
    deep = write(tmp_path / "deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InvalidInputError, match=r"deep\.jsonl:1 is not usable JSON \(nested"):
        load_jsonl(deep)
    array = write(tmp_path / "array.jsonl", '["a", "en"]\n')
    with pytest.raises(InvalidInputError, match=r"array\.jsonl:1 must hold a JSON object, got"):
        load_jsonl(array)
