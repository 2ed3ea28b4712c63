"""The real ``xling serve`` process: it listens, drains a request in flight on SIGTERM, exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from xling.data import sample_path
from xling.store import read_lines

XLING = str(Path(sys.executable).with_name("xling"))


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"xling serve exited {proc.returncode}: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url}/healthz did not answer within {seconds:.0f} s")


def test_sigterm_drains_the_request_in_flight_then_exits_0(served_db: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [XLING, "serve", "--pool", "sample", "--chroma-path", str(served_db), "--port", str(port),
         "--drain-seconds", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_healthy(url, proc)
        # 200 distinct queries: embedding them takes seconds (no cache hit helps).
        queries = [f"{line} ({i})" for i, line in enumerate(
            read_lines(sample_path("fra")) + read_lines(sample_path("deu")))]  # fmt: skip
        results: list[httpx.Response] = []
        started = threading.Event()

        def slow() -> None:
            started.set()
            body = {"queries": queries, "k": 5}
            results.append(httpx.post(f"{url}/v1/retrieve", json=body, timeout=180))

        thread = threading.Thread(target=slow)
        thread.start()
        started.wait()
        time.sleep(1.0)  # the request is being served
        proc.send_signal(signal.SIGTERM)
        thread.join(timeout=180)
        assert proc.wait(timeout=60) == 0
        assert len(results) == 1 and results[0].status_code == 200, results
        assert len(results[0].json()["results"]) == len(queries)
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            raise AssertionError("the server still answers after exiting")
        except httpx.ConnectError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
