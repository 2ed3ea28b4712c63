"""``xling index`` / ``xling search`` / ``xling demo`` on real Chroma with the bundled embedders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest
from typer.testing import Result

from tests.store.pool_checks import damage_pool
from xling.embedders import Embedder
from xling.store import Pool, Record, connect


def test_index_then_search_across_languages(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path, tmp_path_factory: object
) -> None:
    eng, swh = tmp_path / "eng.txt", tmp_path / "swh.txt"
    flores = shared_data / "flores"
    eng.write_text("\n".join(flores.joinpath("eng/dev.txt").read_text().split("\n")[:40]))
    swh.write_text("\n".join(flores.joinpath("swh/dev.txt").read_text().split("\n")[:40]))
    db = str(tmp_path / "db")
    args = ["index", "--pool", "eng-swh", "--src", str(eng), "--src-lang", "eng",
            "--tgt", str(swh), "--tgt-lang", "swh_Latn", "--chroma-path", db]  # fmt: skip
    first = xling(*args)
    assert first.exit_code == 0, first.output
    assert "80 added, 0 already there, 80 records" in first.output
    again = xling(*args)
    assert "0 added, 80 already there" in again.output
    query = "Scientists at Stanford invented a chip that sorts cells."
    found = xling(
        "search", query, "--pool", "eng-swh", "--lang", "sw", "-k", "2", "--chroma-path", db
    )
    assert found.exit_code == 0, found.output
    assert "Stanford" in found.output and "swh" in found.output and " eng " not in found.output


def test_bad_input_exits_2_with_one_line(xling: Callable[..., Result], tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\n")
    b.write_text("un\n")
    db = str(tmp_path / "db")
    cases = {
        ("index", "--pool", "p12", "--src", str(a), "--src-lang", "eng", "--tgt", str(b),
         "--tgt-lang", "fra", "--chroma-path", db): "has 2 lines but",
        ("index", "--pool", "p12", "--src", str(a), "--src-lang", "klingon", "--chroma-path", db):
            "unknown language code 'klingon'",
        ("index", "--pool", "p12", "--src", str(a), "--src-lang", "eng", "--embedder", "e5",
         "--chroma-path", db): "unknown embedder spec 'e5'",
        ("search", "x", "--pool", "missing", "--chroma-path", db): "pool 'missing' does not exist",
        ("index", "--pool", "p12", "--chroma-path", db): "give exactly one input",
    }  # fmt: skip
    for args, message in cases.items():
        result = xling(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
    # Nothing was half-written: the refused index runs left no pool behind with records.
    listing = xling("search", "x", "--pool", "p12", "--chroma-path", db)
    assert listing.exit_code == 2
    # A server that does not answer is exit 3, also in one line.
    down = xling("search", "x", "--pool", "p12", "--chroma-url", "http://127.0.0.1:9")
    lines = [line for line in down.stderr.splitlines() if line.strip()]
    assert down.exit_code == 3 and len(lines) == 1, down.stderr
    assert "Chroma at http://127.0.0.1:9 is unreachable" in lines[0]


def _one_line_error(result: Result, code: int, message: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_refused_index_runs_create_no_pool(xling: Callable[..., Result], tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Good morning.\nThank you.\n")
    empty_key = tmp_path / "empty-key.jsonl"
    empty_key.write_text(json.dumps({"text": "Good morning.", "lang": "eng", "": 1}) + "\n")
    huge = "Hello world. " * 400_000  # a 5 MB line
    long_jsonl = tmp_path / "long.jsonl"
    long_jsonl.write_text(json.dumps({"text": "Hi.", "lang": "eng"}) + "\n"
                          + json.dumps({"text": huge, "lang": "eng"}) + "\n")  # fmt: skip
    long_tsv = tmp_path / "long.tsv"
    long_tsv.write_text(f"Hi.\tSalut.\n{huge}\tBonjour.\n")
    db = tmp_path / "db"
    base = ("index", "--pool", "refused", "--chroma-path", str(db))
    cases = {
        ("--src", str(good), "--src-lang", "eng", "--batch-size", "0"): "--batch-size=0 is not",
        ("--src", str(good), "--src-lang", "eng", "--batch-size", "-1"): "--batch-size=-1 is not",
        ("--jsonl", str(empty_key)): "empty-key.jsonl:1",
        ("--jsonl", str(long_jsonl), "--on-long", "refuse"):
            "long.jsonl:2: text is longer than max_tokens=",
        ("--tsv", str(long_tsv), "--src-lang", "eng", "--tgt-lang", "fra"):
            "long.tsv is not a TSV file xling can read (field larger than field limit",
    }  # fmt: skip
    for args, message in cases.items():
        _one_line_error(xling(*base, *args), 2, message)
    assert connect(path=db).list_collections() == []
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    result = xling("index", "--pool", "refused", "--src", str(good), "--src-lang", "eng",
                   "--chroma-path", str(a_file))  # fmt: skip
    _one_line_error(result, 2, f"Chroma path {str(a_file)!r} is a file, not a folder")


def test_verify_reports_and_repairs_a_damaged_pool(
    xling: Callable[..., Result],
    tmp_path: Path,
    e5: Embedder,
    flores: Callable[[str, str], list[str]],
) -> None:
    lines = flores("eng", "dev")[:150]
    records = [Record(t, "eng", row=i, source="eng/dev.txt") for i, t in enumerate(lines)]
    e5.embed_documents(lines)
    db = tmp_path / "db"
    damage_pool(db, "hurt", e5, [records[:50], records[50:100], records[100:]])
    opts = ("--pool", "hurt", "--chroma-path", str(db), "--verify-sample", "40")
    checked = xling("index", *opts, "--verify", "--no-repair")
    _one_line_error(checked, 3, "pool 'hurt' has 50 problems left; run without --no-repair")
    assert "150 records checked; 50 unreadable" in checked.stdout
    fixed = xling("index", *opts, "--verify")
    assert fixed.exit_code == 0, fixed.output
    assert "50 unreadable" in fixed.stdout and "0 problems left" in fixed.stdout
    clean = xling("index", *opts, "--verify", "--verify-sample", "0")
    assert clean.exit_code == 0 and "0 unreadable" in clean.stdout, clean.output
    assert "0 of 150 mismatched" in clean.stdout and "0 problems left" in clean.stdout
    missing = xling("index", "--pool", "nowhere", "--chroma-path", str(db), "--verify")
    _one_line_error(missing, 2, "pool 'nowhere' does not exist; existing pools: hurt")


@pytest.mark.vllm
def test_demo_answers_on_the_bundled_sample(
    xling: Callable[..., Result], tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    # The session's server is reused (and left running) when the demo is pointed at its port.
    port = str(urlparse(llm_target[0]).port)
    result = xling("demo", "--chroma-path", str(tmp_path), "--port", port, "--rerank", "none")
    assert result.exit_code == 0, result.output
    # One passage per text: 100 English sentences once, plus their four translations.
    assert "500 passages (500 new) in 5 languages" in result.output
    assert "asked in French" in result.output and "asked in Swahili" in result.output
    assert "answers in the asker's language" in result.output


def test_user_text_is_printed_as_is_not_as_markup(
    xling: Callable[..., Result], tmp_path: Path
) -> None:
    texts = tmp_path / "markup.txt"
    texts.write_text("A note about [bold]loud[/bold] text.\nThe path C:[/x]y is odd.\n")
    db = str(tmp_path / "db")
    made = xling("index", "--pool", "markup", "--src", str(texts), "--src-lang", "eng",
                 "--chroma-path", db)  # fmt: skip
    assert made.exit_code == 0, made.output
    found = xling("search", "[bold]loud[/bold] [/x]", "--pool", "markup", "-k", "2",
                  "--chroma-path", db)  # fmt: skip
    assert found.exit_code == 0, found.output
    assert "[bold]loud[/bold]" in found.output and "C:[/x]y" in found.output
    assert "query: [bold]loud[/bold] [/x]" in found.output


def test_an_existing_pool_opens_with_the_embedder_it_records(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    eng, fra = tmp_path / "eng.txt", tmp_path / "fra.txt"
    flores = shared_data / "flores"
    eng.write_text("\n".join(flores.joinpath("eng/dev.txt").read_text().split("\n")[:30]))
    fra.write_text("\n".join(flores.joinpath("fra/dev.txt").read_text().split("\n")[:30]))
    db = str(tmp_path / "db")
    pair = ["--src", str(eng), "--src-lang", "eng", "--tgt", str(fra), "--tgt-lang", "fra"]
    made = xling("index", "--pool", "use-pool", *pair, "-e", "use-m3", "--chroma-path", db)
    assert made.exit_code == 0, made.output
    # No --embedder: the pool's own (use-m3), not the default e5, which the pool would refuse.
    again = xling("index", "--pool", "use-pool", *pair, "--chroma-path", db)
    assert again.exit_code == 0 and "0 added, 60 already there" in again.output, again.output
    assert "use-m3" in again.output
    found = xling("search", "Scientists at Stanford invented a chip.", "--pool", "use-pool",
                  "--lang", "fra", "-k", "1", "--chroma-path", db)  # fmt: skip
    assert found.exit_code == 0 and "Stanford" in found.output, found.output
    assert Pool.recorded_embedder("use-pool", path=db) == "use-m3"
    assert Pool.open("use-pool", path=db).embedder.id == "use-m3"
    assert Pool.recorded_embedder("no-such-pool", path=db) is None
    # Naming another embedder is still refused, in one line.
    other = xling("search", "chip", "--pool", "use-pool", "-e", "e5-small-q4", "--chroma-path", db)
    assert other.exit_code == 2 and "was indexed with embedder 'use-m3'" in other.output
