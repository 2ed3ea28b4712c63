"""``xling rerank`` in a subprocess against a scripted stand-in LLM (or no server at all).

Bad input files name the file and line (exit 2); the output is written whole or not at all;
fallbacks end with a summary line grouping the reasons, and exit 4 when every query fell back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_exit_codes import jsonl, run, run_all
from tests.conftest import refused_port
from tests.llm.standin import CHAT, Reply, StandIn

TWO = {"query": "Where is Paris?", "candidates": [{"text": "Paris, France."}, {"text": "Rome."}]}
ONE = {"query": "Where is Rome?", "candidates": [{"text": "Rome, Italy."}]}  # needs no LLM call


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


def fast(url: str) -> list[str]:
    return ["--url", url, "--retries", "1", "--timeout", "5"]


def test_bad_input_files_name_the_file_and_line(tmp_path: Path) -> None:
    good = json.dumps(TWO).encode() + b"\n"
    files = {
        "utf8.jsonl": good + b'{"query": "caf\xe9", "candidates": [{"text": "a"}]}\n',
        "score.jsonl": good + b'{"query": "q", "candidates": [{"text": "a", "score": "abc"}]}\n',
        "digits.jsonl": b'{"query": "q", "candidates": [{"text": "a", "score": '
        + b"9" * 5000 + b"}]}\n",
    }  # fmt: skip
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    url = ["--url", "http://127.0.0.1:9/v1"]
    runs = run_all([["rerank", str(tmp_path / name), *url] for name in files])
    lines = [r.one_line(2) for r in runs]
    assert lines[0] == (
        f"error: {tmp_path / 'utf8.jsonl'}:2 is not valid UTF-8 (byte 15 of the line: invalid "
        "continuation byte); save the file as UTF-8"
    )
    assert lines[1] == (
        f"error: {tmp_path / 'score.jsonl'}:2: candidate '0' has score 'abc'; use a finite "
        "number (or no score)"
    )
    assert lines[2].startswith(f"error: {tmp_path / 'digits.jsonl'}:1 is not usable JSON")


def test_output_into_a_missing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    source = jsonl(tmp_path / "in.jsonl", [TWO])
    target = tmp_path / "missing" / "out.jsonl"
    line = run("rerank", str(source), "-o", str(target), "--url", "http://127.0.0.1:9/v1")
    assert line.one_line(2) == (
        f"error: --output {target}: the folder {target.parent} does not exist; create it first"
    )
    assert not target.parent.exists()


def test_a_failed_run_leaves_the_output_untouched(tmp_path: Path) -> None:
    source = jsonl(tmp_path / "in.jsonl", [ONE, TWO])
    target = tmp_path / "out.jsonl"
    target.write_text("previous results\n")
    url = f"http://127.0.0.1:{refused_port()}/v1"
    failed = run("rerank", str(source), "-o", str(target), *fast(url), "--on-failure", "raise")
    failed.one_line(3)
    assert target.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_all_queries_falling_back_exits_4_with_the_reasons(
    tmp_path: Path, stand_in: StandIn
) -> None:
    stand_in.always(CHAT, Reply(200, b'{"choices": [{"message": {"content": "[2] >'))
    source = jsonl(tmp_path / "in.jsonl", [TWO, TWO])
    target = tmp_path / "out.jsonl"
    done = run("rerank", str(source), "-o", str(target), *fast(stand_in.url))
    assert done.code == 4, done.stderr
    warning = done.error_lines[-1]
    assert warning.startswith(
        f"warning: 2 of 2 queries fell back to the first-stage order: LLM endpoint "
        f"{stand_in.url}/chat/completions failed after 2 attempt(s) (malformed answer: the "
        "answer is not JSON ("
    )
    assert warning.endswith("check that the server is running and reachable (2 queries)")
    results = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["fallback"] for r in results] == [True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_some_queries_falling_back_exits_0_with_a_summary(tmp_path: Path) -> None:
    source = jsonl(tmp_path / "in.jsonl", [ONE, TWO])
    url = f"http://127.0.0.1:{refused_port()}/v1"
    done = run("rerank", str(source), *fast(url))
    assert done.code == 0, done.stderr
    assert done.error_lines[-1].startswith(
        f"warning: 1 of 2 queries fell back to the first-stage order: LLM endpoint {url}/models "
        "failed after 2 attempt(s) (ConnectError"
    )
    assert [json.loads(line)["fallback"] for line in done.stdout.splitlines()] == [False, True]


def test_a_hung_server_reaches_the_fallback_within_the_deadline(
    tmp_path: Path, stand_in: StandIn
) -> None:
    stand_in.always("*", Reply(hang=True))
    source = jsonl(tmp_path / "in.jsonl", [TWO] * 6)
    started = time.monotonic()
    done = run(
        "rerank", str(source), "--url", stand_in.url, "--timeout", "0.5", "--deadline", "1",
        "--concurrency", "2",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    # A fresh CLI process imports for seconds on a loaded machine; the deadline message below
    # is the behaviour, the clock only rules out waiting on the hung server for good.
    assert done.code == 4 and elapsed < 30, (elapsed, done.stderr)
    assert "reached its 1 s deadline" in done.error_lines[-1]
    assert "6 of 6 queries fell back" in done.error_lines[-1]


def test_a_5000_digit_identifier_costs_a_repair_not_the_batch(
    tmp_path: Path, stand_in: StandIn
) -> None:
    stand_in.content = "[" + "4" * 5000 + "] > [2] > [1]"
    source = jsonl(tmp_path / "in.jsonl", [TWO])
    done = run("rerank", "-", *fast(stand_in.url), stdin=source.read_bytes())
    assert done.code == 0, done.stderr
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert [c["first_stage_rank"] for c in result["candidates"]] == [1, 0]
    assert result["repairs"] == {"out_of_range_dropped": 1} and not result["fallback"]
