"""``xling select`` on FLORES files: output lines, prompt order, errors and atomic writes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from xling.prompts.mt import build_mt_prompt


def _files(shared_data: Path, tmp_path: Path, n: int = 120) -> tuple[Path, Path, Path]:
    flores = shared_data / "flores"
    src, tgt, queries = tmp_path / "pool.eng", tmp_path / "pool.swh", tmp_path / "queries.eng"
    src.write_text("\n".join(flores.joinpath("eng/dev.txt").read_text().split("\n")[:n]))
    tgt.write_text("\n".join(flores.joinpath("swh/dev.txt").read_text().split("\n")[:n]))
    queries.write_text("\n".join(flores.joinpath("eng/devtest.txt").read_text().split("\n")[:6]))
    return src, tgt, queries


def test_select_writes_one_line_per_query(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path)
    out = tmp_path / "out" / "prompts.jsonl"
    result = xling("select", "--pool-src", str(src), "--pool-tgt", str(tgt),
                   "--queries", str(queries), "--src", "eng", "--tgt", "swh_Latn",
                   "--strategy", "bm25", "-k", "3", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6 queries, 3 examples each from 120 pairs" in result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    pool_src, pool_tgt = src.read_text().split("\n"), tgt.read_text().split("\n")
    assert [line["query"] for line in lines] == queries.read_text().split("\n")
    for line in lines:
        examples = line["examples"]
        assert len(examples) == 3 and set(examples[0]) == {"row", "source", "target", "score"}
        for e in examples:  # rows are 0-based line numbers of the pool files
            assert pool_src[e["row"]] == e["source"] and pool_tgt[e["row"]] == e["target"]
        # Prompt order: the best example last, next to the query.
        assert [e["score"] for e in examples] == sorted(e["score"] for e in examples)
        pairs = [(e["source"], e["target"]) for e in examples]
        assert line["prompt"] == build_mt_prompt(line["query"], pairs, "eng", "swh")
        assert line["prompt"].endswith("\nSwahili translation\n")
    assert [p.name for p in out.parent.iterdir()] == ["prompts.jsonl"]  # no temp file left


def test_method_is_the_option_and_strategy_its_old_name(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path)
    outs = {}
    for option in ("--method", "-m", "--strategy"):
        out = tmp_path / f"{option.strip('-')}.jsonl"
        result = xling("select", "--pool-src", str(src), "--pool-tgt", str(tgt),
                       "--queries", str(queries), "--src", "eng", "--tgt", "swh",
                       option, "bm25", "-k", "2", "--out", str(out))  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "(bm25;" in result.output
        outs[option] = out.read_text(encoding="utf-8")
    assert outs["--method"] == outs["-m"] == outs["--strategy"] != ""


def test_select_margin_with_the_readme_command(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path, n=60)
    out = tmp_path / "prompts.jsonl"
    result = xling("select", "--pool-src", str(src), "--pool-tgt", str(tgt),
                   "--queries", str(queries), "--src", "eng", "--tgt", "swh",
                   "--strategy", "margin", "-k", "5", "--out", str(out),
                   "--embedder", "use-m3", "--filter", "all")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and all(len(json.loads(x)["examples"]) == 5 for x in lines)


def test_select_from_a_chroma_pool(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path, n=50)
    db = str(tmp_path / "db")
    indexed = xling("index", "--pool", "sel-cli", "--src", str(src), "--src-lang", "eng",
                    "--tgt", str(tgt), "--tgt-lang", "swh", "--embedder", "use-m3",
                    "--chroma-path", db)  # fmt: skip
    assert indexed.exit_code == 0, indexed.output
    out = tmp_path / "chroma.jsonl"
    result = xling("select", "--pool", "sel-cli", "--chroma-path", db, "--embedder", "use-m3",
                   "--queries", str(queries), "--src", "en", "--tgt", "sw", "-k", "2",
                   "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [e["row"] for line in out.read_text().splitlines() for e in json.loads(line)["examples"]]
    assert len(rows) == 12 and all(0 <= r < 50 for r in rows)


def test_select_bad_input_exits_2_and_writes_nothing(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path, n=30)
    short = tmp_path / "short.swh"
    short.write_text("\n".join(tgt.read_text().split("\n")[:29]))
    out = tmp_path / "prompts.jsonl"
    out.write_text("previous run\n")
    base = ["select", "--queries", str(queries), "--src", "eng", "--tgt", "swh", "--out", str(out)]
    cases = {
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--strategy", "knn"):
            "unknown selection method 'knn'; allowed: random, bm25, r-bm25, s2s, s2t, mix, "
            "mmr, margin, borda, rrf",
        ("--pool-src", str(src), "--pool-tgt", str(short), "--strategy", "bm25"):
            "has 30 lines but",
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--strategy", "bm25", "-k", "31"):
            "k=31 is larger than the pool (30 pairs)",
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--strategy", "bm25", "-k", "0"):
            "k=0 is not allowed",
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--tgt", "xx"):
            "unknown language code 'xx'",
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--order", "random"):
            "use one of: nearest-last, nearest-first",
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--filter", "lid"):
            "unknown pool filter 'lid'; allowed: empty, length-ratio, language, duplicates",
        ("--pool-src", str(src), "--pool-tgt", str(tgt), "--template", "t5"):
            "unknown MT template 't5'",
        ("--pool-src", str(src),): "give the pool",
    }  # fmt: skip
    for args, message in cases.items():
        result = xling(*base, *args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_out_must_be_a_writable_file(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path, n=30)
    folder = tmp_path / "results"
    folder.mkdir()
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a folder\n")
    base = ["select", "--pool-src", str(src), "--pool-tgt", str(tgt), "--queries", str(queries),
            "--src", "eng", "--tgt", "swh", "--strategy", "bm25"]  # fmt: skip
    cases = {
        str(folder): f"--out {str(folder)!r} is a folder, not a file",
        str(blocker / "out.jsonl"): f"{str(blocker)!r} is a file, not a folder",
    }
    for out, message in cases.items():
        result = xling(*base, "--out", out)
        assert result.exit_code == 2, (out, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (out, result.stderr)
    assert list(folder.iterdir()) == [] and blocker.read_text() == "not a folder\n"


def test_a_5_mb_query_is_truncated_or_refused_in_seconds(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    src, tgt, queries = _files(shared_data, tmp_path, n=30)
    sentences = queries.read_text().split("\n")
    huge = (" ".join(sentences) * 6000)[:5_000_000]
    queries.write_text("\n".join([sentences[0], huge]))
    out = tmp_path / "prompts.jsonl"
    base = ["select", "--pool-src", str(src), "--pool-tgt", str(tgt), "--queries", str(queries),
            "--src", "eng", "--tgt", "swh", "-s", "s2s", "-k", "2", "--out", str(out)]  # fmt: skip
    started = time.monotonic()
    refused = xling(*base, "--on-long", "refuse")
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "query texts[1] is longer than max_tokens=2048" in lines[0]
    assert not out.exists()
    result = xling(*base, "--max-tokens", "64")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 120
    assert "1 texts truncated to 64 tokens" in " ".join(result.stdout.split())
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written[1]["query"] == huge and len(written[1]["examples"]) == 2


def test_a_failure_while_writing_leaves_the_old_output(tmp_path: Path) -> None:
    from xling.cli.select import write_jsonl_atomic
    from xling.core.errors import InvalidInputError

    out = tmp_path / "prompts.jsonl"
    out.write_text("previous run\n")

    def records() -> Iterator[dict[str, object]]:
        yield {"query": "one"}
        yield {"query": "two"}
        raise InvalidInputError("prompt template failed on the third query")

    with pytest.raises(InvalidInputError, match="third query"):
        write_jsonl_atomic(out, records())
    assert out.read_text() == "previous run\n" and sorted(tmp_path.iterdir()) == [out]
    assert write_jsonl_atomic(out, iter([{"query": "new"}])) == 1
    assert out.read_text() == '{"query": "new"}\n'
