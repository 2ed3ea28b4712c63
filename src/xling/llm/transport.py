"""The LLM client's HTTP side: connection pools per event loop, retries, deadlines, down state.

Every answer is judged by the one policy of :mod:`xling.core.http_replies`: 408, 429, 5xx,
timeouts, broken connections and malformed bodies are retried, then reported as
:class:`~xling.core.errors.ServiceUnavailableError`; any other 4xx is
:class:`~xling.core.errors.ServerRefusedError` at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from xling.core.errors import ServiceUnavailableError
from xling.core.http_replies import (
    MalformedReply,
    is_unavailable_status,
    one_line,
    parse_json,
    reply_error,
)
from xling.llm.answers import LLMUsage

__all__ = ["Transport", "TransportSettings", "WHAT", "describe"]

T = TypeVar("T")
WHAT = "LLM endpoint"
# httpx's own timeouts fire first and name the phase that stalled (ConnectTimeout, ReadTimeout);
# this guard, a little later, bounds a server that trickles bytes slower than any read timeout.
_GUARD_SLACK = 0.1


def describe(exc: BaseException) -> str:
    """``ExceptionName: message`` on one line."""
    return f"{type(exc).__name__}: {one_line(str(exc))}".rstrip(": ")


@dataclass(frozen=True)
class TransportSettings:
    """The checked settings of a client's requests (see :class:`~xling.llm.LLMClient`).

    Attributes:
        headers: Sent with every request (the bearer token).
        max_concurrency: Most requests in flight at once.
        timeout: Seconds per attempt.
        max_retries: Further attempts after a failure.
        backoff: Base delay in seconds, doubled per retry.
        deadline: Seconds per request, all attempts and backoff included.
    """

    headers: dict[str, str]
    max_concurrency: int
    timeout: float
    max_retries: int
    backoff: float
    deadline: float


class _LoopState:
    """An HTTP connection pool, a semaphore and what is known of the server, per event loop.

    Attributes:
        loop: The loop (held, so that its id cannot be reused by a later loop).
        http: The connection pool.
        semaphore: Bounds the requests in flight.
        down_at: When a request last gave up because the server did not answer at all
            (connection refused, timeouts, deadline); ``None`` after an answer.
        down_reason: That request's error message.
        info: The one ``/v1/models`` lookup in flight, shared by every caller.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, limit: int
    ) -> None:
        self.loop = loop
        self.http = client
        self.semaphore = asyncio.Semaphore(limit)
        self.down_at: float | None = None
        self.down_reason = ""
        self.info: asyncio.Task[dict[str, Any]] | None = None

    def down_since(self, started: float) -> bool:
        """Whether the server was found down after a request that started at ``started``."""
        return self.down_at is not None and self.down_at >= started


class Transport:
    """Sends a client's requests: one connection pool and semaphore per event loop.

    When a request gives up because the server did not answer at all (refused connections,
    timeouts), the requests already waiting for a slot give up at once with the same error
    instead of each waiting out its own deadline; requests made later try again normally.

    Args:
        settings: The checked settings.
        usage: Where retries are counted.
        what: The kind of endpoint, for error messages (a scoring server's client names its own).
    """

    def __init__(self, settings: TransportSettings, usage: LLMUsage, what: str = WHAT) -> None:
        self.settings = settings
        self.usage = usage
        self.what = what
        self._states: dict[int, _LoopState] = {}

    def state(self) -> _LoopState:
        """The current event loop's state, made on first use."""
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is None:
            limit = self.settings.max_concurrency
            http = httpx.AsyncClient(
                timeout=self.settings.timeout,
                headers=self.settings.headers,
                limits=httpx.Limits(max_connections=limit),
            )
            state = self._states[id(loop)] = _LoopState(loop, http, limit)
        return state

    async def arequest(
        self, method: str, url: str, payload: dict[str, Any] | None, read: Callable[[Any], T]
    ) -> T:
        """One request with retries, a timeout per attempt and a deadline in all.

        Args:
            method: ``GET`` or ``POST``.
            url: The endpoint.
            payload: The JSON body, if any.
            read: Reads the answer's JSON; raises :class:`MalformedReply` for a body that is
                not the endpoint's shape (retried like a 503).

        Raises:
            ServiceUnavailableError: When every attempt failed or the deadline passed.
            ServerRefusedError: When the server refused the request (HTTP 4xx but 408, 429).
        """
        settings = self.settings
        state = self.state()
        started = time.monotonic()
        async with state.semaphore:
            if state.down_since(started):
                raise ServiceUnavailableError(state.down_reason)
            ends = time.monotonic() + settings.deadline
            attempts, last, no_answer, out_of_time = 0, "", False, False
            for attempt in range(settings.max_retries + 1):
                if attempt:
                    if state.down_since(started):
                        raise ServiceUnavailableError(state.down_reason)
                    delay = settings.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
                    if time.monotonic() + delay >= ends:
                        out_of_time = True
                        break
                    self.usage.retries += 1
                    await asyncio.sleep(delay)
                budget = ends - time.monotonic()
                if budget <= 0:
                    out_of_time = True
                    break
                budget = min(settings.timeout, budget)
                attempts += 1
                try:
                    async with asyncio.timeout(budget + _GUARD_SLACK):
                        response = await state.http.request(
                            method, url, json=payload, timeout=budget
                        )
                except TimeoutError:
                    last, no_answer = f"no complete answer within {budget:.3g} s", True
                    continue
                except (httpx.TimeoutException, httpx.ConnectError) as exc:
                    last, no_answer = describe(exc), True
                    continue
                except httpx.TransportError as exc:  # a reset or a body cut short
                    last, no_answer = describe(exc), False
                    continue
                no_answer = False
                state.down_at = None
                if is_unavailable_status(response.status_code):
                    last = f"HTTP {response.status_code}: {one_line(response.text)}"
                    continue
                error = reply_error(url, response.status_code, response.text, what=self.what)
                if error is not None:
                    raise error
                try:
                    return read(parse_json(response.text))
                except MalformedReply as exc:
                    last = f"malformed answer: {exc}"
            message = f"{self.what} {url} failed after {attempts} attempt(s) ({last})"
            if out_of_time:
                message += f" and reached its {settings.deadline:g} s deadline"
            message += "; check that the server is running and reachable"
            if no_answer:
                state.down_at, state.down_reason = time.monotonic(), message
            raise ServiceUnavailableError(message)

    async def astream_data(self, url: str, payload: dict[str, Any]) -> AsyncIterator[str]:
        """POSTs ``payload`` and yields the ``data:`` fields of the server-sent events.

        One attempt: a stream cannot be retried half way. It holds one slot while it lasts.

        Raises:
            ServiceUnavailableError: If the server cannot be reached, fails or the stream breaks.
            ServerRefusedError: If the server refuses the request.
        """
        state = self.state()
        async with state.semaphore:
            try:
                async with state.http.stream("POST", url, json=payload) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        error = reply_error(
                            url, response.status_code, response.text, what=self.what
                        )
                        if error is not None:
                            raise error
                    async for line in response.aiter_lines():
                        data = line.removeprefix("data:").strip()
                        if line.startswith("data:") and data:
                            yield data
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise ServiceUnavailableError(
                    f"{self.what} {url} failed while streaming ({describe(exc)}); check that "
                    "the server is running and reachable"
                ) from None

    async def aclose(self) -> None:
        """Closes the connection pool of the current event loop."""
        state = self._states.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            if state.info is not None and not state.info.done():
                state.info.cancel()
            await state.http.aclose()
