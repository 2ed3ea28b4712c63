"""Admission of LLM-bound requests: refused at once when no LLM is configured, answered 503
with ``Retry-After`` when too many already wait (backpressure), counted while they run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from xling.core.errors import ServiceUnavailableError
from xling.server.middleware import HTTPError
from xling.server.service import Service

__all__ = ["Admission"]


class Admission:
    """The waiting bound of LLM-bound requests.

    Args:
        service: Returns the process's service (opened at start-up, after the routes exist).
        max_waiting: Requests allowed in flight; beyond, 503.
        on_admit: Called once per admitted request (the metrics counter).
    """

    def __init__(
        self, service: Callable[[], Service], max_waiting: int, on_admit: Callable[[], None]
    ) -> None:
        self.service, self.max_waiting, self.on_admit = service, max_waiting, on_admit

    def check(self) -> None:
        """Admits a request now or refuses it.

        Raises:
            ServiceUnavailableError: When the service has no LLM.
            HTTPError: 503 with ``Retry-After: 1`` when ``max_waiting`` requests wait.
        """
        service = self.service()
        if not service.llm:
            raise ServiceUnavailableError("this service has no LLM server; start it with --llm-url")
        if service.waiting >= self.max_waiting:
            raise HTTPError(
                503, f"{service.waiting} LLM requests are waiting; try again shortly",
                {"Retry-After": "1"},
            )  # fmt: skip
        self.on_admit()

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Counts an admitted request as waiting for the length of the block."""
        service = self.service()
        service.waiting += 1
        try:
            yield
        finally:
            service.waiting -= 1
