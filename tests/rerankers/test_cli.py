"""``xling rerank``: JSONL in, JSONL out, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xling.cli.app import main
from xling.rerankers import RerankRequest


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
        raise SystemExit(0)
    return int(exit_info.value.code or 0)


@pytest.mark.vllm
def test_rerank_jsonl_end_to_end(
    tmp_path: Path, llm_target: tuple[str, str], short_request: RerankRequest
) -> None:
    candidates = [
        {"id": c.id, "text": c.text, "score": 1.0 - i / 10, "lang": c.lang}
        for i, c in enumerate(short_request.candidates)
    ]
    rows: list[dict[str, object]] = [
        {"query": short_request.query, "query_lang": "en", "candidates": candidates},
        {"query": short_request.query, "candidates": [{"text": "only one"}]},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code = run(
        ["rerank", str(source), "-o", str(out), "--url", llm_target[0], "--window", "5",
         "--set", "max_tokens=6"]
    )  # fmt: skip
    assert code == 0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == 2
    first = results[0]
    assert sorted(c["id"] for c in first["candidates"]) == sorted(c["id"] for c in candidates)
    assert first["llm_calls"] == 1 and first["completion_tokens"] <= 6
    assert first["reranker"] == "listwise" and first["fallback"] is False
    by_id = {c["id"]: c for c in first["candidates"]}
    assert by_id["fra"]["first_stage_rank"] == 1 and by_id["fra"]["first_stage_score"] == 0.9
    assert by_id["swh"]["lang"] == "swh"
    # A single candidate needs no LLM call.
    assert [c["id"] for c in results[1]["candidates"]] == ["0"]
    assert results[1]["llm_calls"] == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"query": "q", "candidates": []}], "in.jsonl:1: no candidates to rerank"),
        (
            [{"query": "q", "candidates": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}],
            "duplicate candidate id 'a'",
        ),
        ([{"candidates": [{"text": "x"}]}], "needs 'query' and 'candidates'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[dict[str, object]],
    message: str,
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    assert run(["rerank", str(source), "--url", "http://127.0.0.1:9/v1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err


def test_unknown_method_and_option_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"query": "q", "candidates": [{"text": "x"}]}])
    assert run(["rerank", str(source), "-m", "rankgpt", "--url", "http://127.0.0.1:9/v1"]) == 2
    assert "unknown reranker 'rankgpt'" in capsys.readouterr().err
    assert run(["rerank", str(source), "--set", "windw=3", "--url", "http://127.0.0.1:9/v1"]) == 2
    assert "unknown option(s) ['windw']" in " ".join(capsys.readouterr().err.split())
    assert (
        run(["rerank", str(source), "--set", "method=first", "--url", "http://127.0.0.1:9/v1"]) == 2
    )
    err = capsys.readouterr().err
    assert "option method='first' is now called scoring; use scoring='first'" in err
    assert len(err.strip().splitlines()) == 1
