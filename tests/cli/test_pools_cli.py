"""``xling index`` / ``xling search`` / ``xling demo`` on real Chroma with the bundled embedders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result


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
        ("search", "x", "--pool", "p12", "--chroma-url", "http://127.0.0.1:9"):
            "Chroma at http://127.0.0.1:9 is unreachable",
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


def test_demo_runs_on_the_bundled_sample(xling: Callable[..., Result], tmp_path: Path) -> None:
    result = xling("demo", "--embedder", "use-m3", "--chroma-path", str(tmp_path), "-k", "1",
                   "--query", "Where did the plane crash?")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "800 records (800 new)" in result.output
    assert "Gripen" in result.output
