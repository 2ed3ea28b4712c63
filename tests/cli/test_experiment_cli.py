"""``xling experiment score|summary`` end to end: success on real files, one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.experiments.run_folders import write_run
from xling.experiments import RunSpec


@pytest.fixture()
def out(tmp_path: Path, flores: Callable[[str, str], list[str]]) -> Path:
    src, ref = flores("eng", "devtest")[:40], flores("swh", "devtest")[:40]
    write_run(tmp_path, RunSpec("eng", "swh", "random", 1, 1), src, ref, src)
    write_run(tmp_path, RunSpec("eng", "swh", "bm25", 1, 1), src, ref, ref)
    return tmp_path


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_score_and_summary(xling: Callable[..., Result], out: Path) -> None:
    scored = xling("experiment", "score", str(out), "--json")
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.stdout)
    assert len(report["scored"]) == 2 and "tok:13a" in report["signatures"]["bleu"]
    summary = xling("experiment", "summary", str(out), "--samples", "20", "--sample-size", "40")
    assert summary.exit_code == 0, summary.output
    assert "## eng-swh — chrf" in summary.stdout
    for name in ("summary.md", "summary.csv", "summary.png", "significance.json"):
        assert (out / name).is_file()
    [test, _] = json.loads((out / "significance.json").read_text())["comparisons"]
    assert test["label"] == "bm25" and test["p_value"] < 0.05


def test_bad_input_exits_2_with_one_line(xling: Callable[..., Result], tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert "no such folder" in _one_error_line(xling("experiment", "score", str(missing)))
    assert "no such folder" in _one_error_line(xling("experiment", "summary", str(missing)))
    line = _one_error_line(xling("experiment", "score", str(tmp_path), "--layout", "fairseq"))
    assert "unknown layout 'fairseq'; allowed: xling, iclmt" in line
    line = _one_error_line(xling("experiment", "score", str(tmp_path), "--layout", "iclmt"))
    assert "needs references" in line
    assert "no runs/ folder" in _one_error_line(xling("experiment", "score", str(tmp_path)))
    assert "no finished run" in _one_error_line(xling("experiment", "summary", str(tmp_path)))
    line = _one_error_line(xling("experiment", "score", str(tmp_path), "--tokenize", "flores200"))
    assert "SentencePiece model" in line


XLING = str(Path(sys.executable).with_name("xling"))
GRID = """
name = "resume"
directions = ["eng-fra"]
strategies = ["random", "bm25"]
k = [1]
[data]
pool = "bundled:dev"
test = "bundled:devtest"
test_size = 30
[llm]
concurrency = 2
[decoding]
max_new_tokens = 40
"""


@pytest.mark.vllm
def test_a_run_killed_midway_resumes_without_lost_or_repeated_lines(
    tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    config, out = tmp_path / "resume.toml", tmp_path / "out"
    config.write_text(GRID, encoding="utf-8")
    command = [XLING, "experiment", "run", str(config), "--out", str(out), "--llm-url",
               llm_target[0], "--json"]  # fmt: skip
    partial = out / "runs" / "eng-fra.random.k1.seed0.icl-mt-11" / "outputs.partial.jsonl"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.is_file() and partial.read_text(encoding="utf-8").count("\n") >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {
        json.loads(line)["index"]: json.loads(line)
        for line in partial.read_text(encoding="utf-8").splitlines()
        if line.endswith("}")
    }
    assert 6 <= len(before) < 30, "the kill came too late to interrupt the run"

    done = subprocess.run([*command, "--no-summary"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    first, second = report["runs"]
    assert first["status"] == "resumed" and first["kept"] >= len(before)
    assert first["generated"] == 30 - first["kept"]
    assert (second["status"], second["generated"]) == ("ran", 30)
    rows = [
        json.loads(x) for x in (Path(first["folder"]) / "outputs.jsonl").read_text().splitlines()
    ]
    assert [r["index"] for r in rows] == list(range(30))  # none lost, none twice, in order
    assert all(rows[i] == row for i, row in before.items())  # kept lines were not redone
    assert not partial.exists()
