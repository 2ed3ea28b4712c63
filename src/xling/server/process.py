"""Running the service in this process: uvicorn, with a drained SIGTERM that exits 0."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from xling.server.config import ServiceConfig
from xling.server.connections import connection_cap, guarded_protocol

__all__ = ["serve_forever"]


class _DrainingServer(uvicorn.Server):
    """A uvicorn server whose graceful SIGTERM shutdown ends the process with status 0.

    uvicorn re-raises a caught SIGTERM once it has shut down, so the process dies of the signal
    (status -15) even when every request in flight finished; supervisors (systemd, Kubernetes)
    read a drained shutdown as a clean exit, so that re-raise is dropped. SIGINT keeps uvicorn's
    behaviour.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def serve_forever(config: ServiceConfig, asgi: Any) -> None:
    """Serves ``asgi`` (:func:`xling.server.app.create_app`) on ``config``'s address until a
    signal.

    On SIGTERM the server stops accepting connections, lets requests in flight finish for up to
    ``config.drain_seconds``, runs the app's shutdown (closing its clients) and returns.
    Connections are guarded by :mod:`xling.server.connections` (read deadline, head size,
    connection cap).
    """
    protocol = guarded_protocol(
        config.read_timeout, config.max_header_bytes, connection_cap(config.max_connections)
    )
    server = _DrainingServer(
        uvicorn.Config(
            asgi,
            host=config.host,
            port=config.port,
            log_level="warning",
            http=protocol,
            timeout_keep_alive=config.keep_alive_timeout,
            timeout_graceful_shutdown=config.drain_seconds,
        )  # fmt: skip
    )
    server.run()
