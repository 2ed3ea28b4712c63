"""The real ``xling serve`` process: it listens, drains a request in flight on SIGTERM, exits 0."""

from __future__ import annotations

import signal
import socket
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


def _serve(db: Path, *flags: str, nofile: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """A ``xling serve`` process on a free port (optionally with a lowered open-file limit)."""
    import resource

    port = free_port()

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [XLING, "serve", "--pool", "sample", "--chroma-path", str(db), "--port", str(port),
         *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc)
    return url, proc


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b"" or True  # EOF (or an error answer, then EOF)
    except TimeoutError:
        return False
    except OSError:
        return True  # reset


def test_half_sent_requests_beyond_the_open_file_limit_leave_healthz_answering(
    served_db: Path,
) -> None:
    url, proc = _serve(served_db, "--read-timeout", "2", nofile=256)
    port = int(url.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    try:
        # More half-sent requests than the process has file descriptors.
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /v1/retrieve HTTP/1.1\r\nHost: x\r\nContent-Le")
            held.append(sock)
        started = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        assert time.monotonic() - started < 2
        # The half-sent requests are closed once the read timeout (2 s) has passed.
        time.sleep(2.5)
        assert all(_closed_by_server(s, 1.0) for s in held[-20:])
        # A body that stops half way is closed too; the route sees the client go away.
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /v1/retrieve HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/json\r\n\r\n{\"queries\"")  # fmt: skip
        assert not _closed_by_server(sock, 1.0) and _closed_by_server(sock, 3.0)
        sock.close()
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in held:
            sock.close()
        proc.kill()
        proc.wait()


def test_a_request_head_over_the_cap_is_431(served_db: Path) -> None:
    url, proc = _serve(served_db, "--max-header-bytes", "8192")
    try:
        big = httpx.get(f"{url}/healthz", headers={"X-Big": "a" * 20_000}, timeout=10)
        assert big.status_code == 431, big.text
        assert big.json() == {"detail": "request head over 8192 bytes"}
        # Under the cap, heads pass.
        assert httpx.get(f"{url}/healthz", headers={"X-Big": "a" * 4000}).status_code == 200
    finally:
        proc.kill()
        proc.wait()
