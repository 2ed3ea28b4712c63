"""Guards on the service's HTTP connections: a deadline to send a request, a cap on its head's
size, and a cap on open connections that keeps room for new clients.

uvicorn's HTTP protocol (httptools) waits for a request head for ever, accepts a head of any
size, and accepts connections until the process runs out of file descriptors; then ``accept()``
fails and even ``/healthz`` goes unanswered. :func:`guarded_protocol` is uvicorn's protocol with
three guards added:

* A client must send a request's head within ``read_timeout`` seconds of connecting (or of its
  first byte on a kept-alive connection), and must not pause longer than that while sending a
  body; else the connection is closed (the route sees the client go away).
* A head (request line and headers) over ``max_header_bytes`` is answered 431 and closed.
* Over ``max_connections`` open connections, the connection idle the longest (no request being
  served: still sending its head, or kept alive after an answer) is closed to let the new one
  in; when every connection is serving a request, the new one is answered 503 and closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["connection_cap", "guarded_protocol"]

log = logging.getLogger("xling.server")

# File descriptors kept free beyond those open at start-up: the LLM and Chroma clients' own
# connections, log files, the worker threads' files.
_SPARE_FDS = 64


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered to fit the process's open-file limit (``RLIMIT_NOFILE``) with the
    descriptors open now and a spare for the service's own clients; at least 1."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        open_now = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_now = 64
    room = soft - open_now - _SPARE_FDS
    if room < wanted:
        log.warning(
            "max_connections lowered from %d to %d to fit the open-file limit of %d",
            wanted, max(1, room), soft,
        )  # fmt: skip
    return max(1, min(wanted, room))


def _plain(status: bytes, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )  # fmt: skip


def guarded_protocol(
    read_timeout: float, max_header_bytes: int, max_connections: int
) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the guards of this module (pass it as ``http=``).

    Args:
        read_timeout: Seconds to send a request head, and the longest pause within a body.
        max_header_bytes: Largest request line plus headers (431 above).
        max_connections: Most open connections (see the module's docstring).
    """

    class GuardedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._idle_since: float | None = None  # None while a request is being served
            self._head_bytes = 0

        # -- connections ----------------------------------------------------------------------
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._idle_since = time.monotonic()
            if len(self.connections) > max_connections and not self._make_room():
                transport.write(_plain(b"503 Service Unavailable", "too many connections"))
                transport.close()
                return
            self._arm()

        def _make_room(self) -> bool:
            """Closes the connection idle the longest; False when none is idle."""
            idle = [
                c for c in self.connections
                if isinstance(c, GuardedProtocol) and c is not self and c._idle_since is not None
                and not c.transport.is_closing()
            ]  # fmt: skip
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._idle_since or 0.0)
            oldest.transport.close()
            self.connections.discard(oldest)
            return True

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        # -- the read deadline ----------------------------------------------------------------
        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(read_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        # -- parser callbacks -----------------------------------------------------------------
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            if self.cycle is not None and not self.cycle.response_complete:
                return  # pipelined behind a request being served: read once that is answered
            self._idle_since = self._idle_since or time.monotonic()
            if self._deadline is None:
                self._arm()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > max_header_bytes and not self.transport.is_closing():
                detail = f"request head over {max_header_bytes} bytes"
                self.transport.write(_plain(b"431 Request Header Fields Too Large", detail))
                self.transport.close()

        def on_headers_complete(self) -> None:
            if self.transport.is_closing():
                return
            self._idle_since = None
            self._disarm()
            super().on_headers_complete()
            if self.cycle is not None and self.cycle.more_body:
                self._arm()  # the body must keep coming

        def on_body(self, body: bytes) -> None:
            if self.cycle is None or self.transport.is_closing():
                return
            if self._deadline is not None:
                self._arm()
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            if self.cycle is None or self.transport.is_closing():
                return
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = time.monotonic()

    return GuardedProtocol
