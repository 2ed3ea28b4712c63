"""Exit codes and one-line errors of the real ``xling`` command line, run in subprocesses.

0 done; 1 an internal error (one line, the traceback only with --debug or XLING_DEBUG=1); 2 bad
input, usage errors included; 3 a server failed; 4 finished, but every query fell back; 5 a server
refused the request (an HTTP 4xx such as a refused key). Each
failure prints exactly one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import refused_port
from tests.llm.standin import Reply, StandIn
from xling.cli.app import main

XLING = str(Path(sys.executable).with_name("xling"))
# The CLI with one more command whose body is a bug, to see how an internal error ends.
BUGGY = (
    "import sys\n"
    "from xling.cli.app import app, main\n"
    "@app.command('boom')\n"
    "def boom() -> None:\n"
    "    {}['missing']\n"
    "main(sys.argv[1:])\n"
)


@dataclass
class Run:
    """One finished command line."""

    args: Sequence[str]
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def one_line(self, code: int) -> str:
        """Asserts the exit code and a single stderr line without a traceback; returns it."""
        assert self.code == code, (self.args, self.code, self.stderr)
        assert "Traceback" not in self.stderr, (self.args, self.stderr)
        assert len(self.error_lines) == 1, (self.args, self.stderr)
        return self.error_lines[0]


def run_all(
    commands: Sequence[Sequence[str]],
    *,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> list[Run]:
    """Runs the command lines at once (each is ``xling ARGS`` unless it starts with python)."""
    environment = {k: v for k, v in os.environ.items() if k != "XLING_DEBUG"}
    environment.update(env or {})
    processes = [
        subprocess.Popen(
            list(args) if args and args[0] == sys.executable else [XLING, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        for args in commands
    ]
    runs = []
    for args, process in zip(commands, processes, strict=True):
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"xling {' '.join(args)} still ran after {timeout} s: {err.decode()!r}")
        runs.append(Run(args, process.returncode, out.decode(), err.decode()))
    return runs


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Run:
    """Runs one command line."""
    return run_all([args], stdin=stdin, env=env)[0]


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_usage_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    source = jsonl(tmp_path / "in.jsonl", [{"query": "q", "candidates": [{"text": "a"}]}])
    runs = run_all(
        [
            ["select", "-k", "abc"],
            ["rerank", str(source), "--window", "abc"],
            ["rerank", str(source), "--windw", "3"],
            ["rerank"],
        ]
    )
    lines = [r.one_line(2) for r in runs]
    assert lines[0] == "error: Invalid value for '-k': 'abc' is not a valid integer."
    assert lines[1] == "error: Invalid value for '--window': 'abc' is not a valid integer."
    assert lines[2].startswith("error: No such option: --windw")
    assert lines[3] == "error: Missing argument 'input'."


def test_help_still_works() -> None:
    help_run, bare = run_all([["rerank", "--help"], []])
    assert help_run.code == 0 and "--deadline" in help_run.stdout
    assert bare.code == 2 and "rerank" in bare.stdout and bare.stderr == ""


def test_user_text_is_printed_as_it_is_never_as_markup(tmp_path: Path) -> None:
    folder = tmp_path / "[bold]x"
    folder.mkdir()
    runs = run_all([["rerank", str(folder / "[/x].jsonl")], ["rerank", "[red]in.jsonl"]])
    assert runs[0].one_line(2) == f"error: input {folder / '[/x].jsonl'} is not a file"
    assert runs[1].one_line(2) == "error: input [red]in.jsonl is not a file"


def test_an_internal_error_is_one_line_and_the_traceback_is_opt_in() -> None:
    plain, flagged, by_env = run_all(
        [
            [sys.executable, "-c", BUGGY, "boom"],
            [sys.executable, "-c", BUGGY, "--debug", "boom"],
        ]
    ) + [run(sys.executable, "-c", BUGGY, "boom", env={"XLING_DEBUG": "1"})]
    line = plain.one_line(1)
    assert line.startswith("error: internal error: KeyError: 'missing' (a bug; please report")
    assert "--debug" in line
    for verbose in (flagged, by_env):
        assert verbose.code == 1 and "Traceback" in verbose.stderr
        assert "line 5, in boom" in verbose.stderr
        assert verbose.error_lines[-1] == (
            "error: internal error: KeyError: 'missing' (a bug; please report)"
        )


def test_a_dead_server_with_on_failure_raise_exits_3(tmp_path: Path) -> None:
    source = jsonl(
        tmp_path / "in.jsonl",
        [{"query": f"q{i}", "candidates": [{"text": "a"}, {"text": "b"}]} for i in range(3)],
    )
    url = f"http://127.0.0.1:{refused_port()}/v1"
    line = run("rerank", str(source), "--url", url, "--on-failure", "raise", "--retries", "0")
    text = line.one_line(3)
    assert text.startswith(f"error: LLM endpoint {url}/models failed after 1 attempt(s)")
    assert text.endswith("check that the server is running and reachable")


def in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    """Runs the same entry point in this process (cheaper than a subprocess for pure checks)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return Run(argv, int(exit_info.value.code or 0), captured.out, captured.err)


def test_bad_client_settings_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = jsonl(tmp_path / "in.jsonl", [{"query": "q", "candidates": [{"text": "a"}]}])
    url = ["--url", "http://127.0.0.1:9/v1"]
    # --concurrency 0 used to hang: in a subprocess, with a time limit.
    hung, ftp = run_all(
        [
            ["rerank", str(source), *url, "--concurrency", "0"],
            ["rerank", str(source), "--url", "ftp://x"],
        ],
        timeout=30,
    )
    assert hung.one_line(2) == "error: --concurrency 0 is not allowed; use 1 or more"
    assert ftp.one_line(2) == (
        "error: LLM base URL 'ftp://x' is not allowed; use http(s)://host:port[/v1] (it needs "
        "an http:// or https:// scheme and a host)"
    )
    cases = {
        "--concurrency -1": "error: --concurrency -1 is not allowed; use 1 or more",
        "--timeout -1": "error: --timeout -1 is not allowed; use seconds > 0",
        "--timeout nan": "error: --timeout nan is not allowed; use seconds > 0",
        "--retries -1": "error: --retries -1 is not allowed; use 0 or more",
        "--deadline 0": "error: --deadline 0 is not allowed; use seconds > 0",
    }
    for case, line in cases.items():
        assert in_process(["rerank", str(source), *url, *case.split()], capsys).one_line(2) == line


def test_server_replies_map_to_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One policy for the LLM and the embeddings endpoint: 503 and a malformed body exit 3
    (the server failed), 401 exits 5 (the server refused the key), each in one line."""
    pair = [{"query": "q", "candidates": [{"text": "a"}, {"text": "b"}]}]
    source = jsonl(tmp_path / "in.jsonl", pair)
    texts = tmp_path / "eng.txt"
    texts.write_text("hello\n", encoding="utf-8")
    unavailable = Reply.json({"error": {"message": "engine overloaded"}}, 503)
    refused = Reply.json({"error": {"message": "Invalid API key"}}, 401)
    malformed = Reply(200, b"<html>proxy</html>")
    with StandIn() as server:
        llm = ["rerank", str(source), "--url", server.url, "--retries", "0"]
        llm += ["--on-failure", "raise"]
        embed = ["index", "--pool", "p", "--src", str(texts), "--src-lang", "eng"]
        embed += ["--chroma-path", str(tmp_path / "chroma"), "--embedder"]
        embed += [f"openai:{server.url}#m"]
        lines = {}
        for name, reply in [("503", unavailable), ("401", refused), ("bad", malformed)]:
            server.always("*", reply)
            code = 5 if name == "401" else 3
            lines[name, "llm"] = in_process(llm, capsys).one_line(code)
            lines[name, "embed"] = in_process(embed, capsys).one_line(code)
    models, embeddings = f"{server.url}/models", f"{server.url}/embeddings"
    assert lines["503", "llm"] == (
        f"error: LLM endpoint {models} failed after 1 attempt(s) (HTTP 503: "
        '{"error": {"message": "engine overloaded"}}); check that the server is running and '
        "reachable"
    )
    assert lines["503", "embed"] == (
        f"error: embeddings endpoint {embeddings} failed (HTTP 503: engine overloaded); check "
        "that the server is running and not overloaded"
    )
    assert lines["401", "llm"] == (
        f"error: LLM endpoint {models} refused the API key with HTTP 401: Invalid API key; "
        "pass the key it accepts"
    )
    assert lines["401", "embed"] == (
        f"error: embeddings endpoint {embeddings} refused the API key with HTTP 401: Invalid "
        "API key; pass the key it accepts"
    )
    assert lines["bad", "llm"].startswith(
        f"error: LLM endpoint {models} failed after 1 attempt(s) (malformed answer: the answer "
        "is not JSON ("
    )
    assert lines["bad", "embed"].startswith(
        f"error: embeddings endpoint {embeddings} answered a malformed body (the answer is not "
        "JSON ("
    )
