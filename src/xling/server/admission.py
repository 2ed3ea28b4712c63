"""Admission of LLM-bound requests: refused at once when no LLM is configured, answered 503
with ``Retry-After`` when too many already wait (backpressure), counted from the moment they are
admitted until they end (a streamed answer: until its stream ends or its client goes away)."""

from __future__ import annotations

from collections.abc import Callable

from xling.core.errors import ServiceUnavailableError
from xling.server.middleware import HTTPError
from xling.server.service import Service

__all__ = ["Admission", "Ticket"]


class Ticket:
    """One admitted request's place among the waiting ones; :meth:`release` gives it back
    (once, however often it is called). A context manager that releases on exit."""

    def __init__(self, service: Service) -> None:
        self._service: Service | None = service
        service.waiting += 1

    def release(self) -> None:
        """Gives the place back (again: nothing)."""
        if self._service is not None:
            self._service.waiting -= 1
            self._service = None

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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

    def admit(self) -> Ticket:
        """Admits a request now, counting it as waiting at once, or refuses it.

        A streamed answer keeps its ticket until its stream ends: release it in the stream's
        ``finally`` and in the response's background task (the one that runs when the stream
        never starts), and when anything fails before the response is returned.

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
        return Ticket(service)
