"""What every request passes through before a route: the body cap, request ids and metrics,
the API key and rate limit, and the mapping of errors to ``{"detail": ...}`` bodies."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xling.core.errors import (
    ForbiddenError,
    NotFoundError,
    ServerRefusedError,
    ServiceUnavailableError,
    UnknownSpecError,
    XlingError,
)
from xling.server.access import ANONYMOUS, Caller
from xling.server.config import ServiceConfig
from xling.server.outages import public_detail

__all__ = ["AuthFailures", "BodyLimit", "HTTPError", "RateLimit", "Authorizer", "Unauthenticated",
           "add_error_handlers", "add_request_ids"]  # fmt: skip

access_log = logging.getLogger("xling.server.access")


class HTTPError(Exception):
    """An error answered with a status, a ``detail`` and headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class BodyLimit:
    """Answers 413 to a body over ``limit`` bytes (declared or streamed), before any handler.

    ``allowances`` give paths (full-match patterns) a larger limit of their own: the document
    upload route takes files up to ``max_upload_bytes``. A body with a declared
    ``Content-Length`` within the limit is passed on as it streams (the HTTP server never
    delivers more than declared); only a body without one is read ahead up to the limit.
    """

    def __init__(
        self, app: ASGIApp, limit: int, allowances: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app, self.limit = app, limit
        self.allowances = [(re.compile(pattern), cap) for pattern, cap in allowances]

    def limit_for(self, path: str) -> int:
        """The body limit of a request path."""
        for pattern, cap in self.allowances:
            if pattern.fullmatch(path):
                return max(cap, self.limit)
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _plain_error(send, 413, f"request body over {limit} bytes")
                return
            await self.app(scope, receive, send)
            return
        # A streamed body (no Content-Length) is read here up to the limit, before the app sees
        # it: raising from inside the app's receive would surface as a 400 body-parse error.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app sees it
            seen += len(message.get("body", b""))
            if seen > limit:
                await _plain_error(send, 413, f"request body over {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        buffered = iter(messages)

        async def replay() -> Message:
            return next(buffered, None) or await receive()

        await self.app(scope, replay, send)


async def _plain_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    """Requests per minute and key: a token bucket refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.buckets: dict[str, tuple[float, float]] = defaultdict(lambda: (per_minute, 0.0))

    def take(self, key: str) -> float:
        """0 when allowed, else seconds until the next request would be."""
        tokens, last = self.buckets[key]
        now = time.monotonic()
        tokens = (
            min(self.per_minute, tokens + (now - last) * self.per_minute / 60.0) if last else tokens
        )
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) * 60.0 / self.per_minute
        self.buckets[key] = (tokens - 1, now)
        return 0.0


class Unauthenticated(HTTPError):
    """401: no usable ``Authorization: Bearer KEY`` header (``malformed``), or an unknown key."""

    def __init__(self, malformed: bool) -> None:
        super().__init__(
            401, "missing or wrong API key; send Authorization: Bearer KEY",
            {"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
        self.malformed = malformed


class AuthFailures:
    """Throttles key guessing: past ``per_minute`` failed authentications from one client
    address (a token bucket, refilled continuously), that address is answered 429 before any
    key is compared, so a guesser learns nothing more until ``Retry-After``.

    Per address only: a limit on everyone's failures would let a guesser spread over many
    addresses lock every client out. Callers at other addresses are never affected, and
    successful authentications are not counted.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.buckets = RateLimit(per_minute) if per_minute else None

    def check(self, address: str) -> None:
        """Raises 429 (with ``Retry-After``) while ``address`` is throttled."""
        if self.buckets is None or address not in self.buckets.buckets:
            return
        tokens, last = self.buckets.buckets[address]
        tokens = min(self.per_minute, tokens + (time.monotonic() - last) * self.per_minute / 60)
        if tokens < 1:
            wait = (1 - tokens) * 60.0 / self.per_minute
            raise HTTPError(
                429, f"too many failed authentications from this address (over "
                f"{self.per_minute} a minute); try again later",
                {"Retry-After": str(max(1, round(wait)))},
            )  # fmt: skip

    def failed(self, address: str) -> None:
        """Counts a failed authentication from ``address``."""
        if self.buckets is not None:
            self.buckets.take(address)
            if len(self.buckets.buckets) > 100_000:  # a flood of addresses: forget the oldest
                for old in list(self.buckets.buckets)[:50_000]:
                    del self.buckets.buckets[old]


class Authorizer:
    """The route dependency that checks the bearer key (when keys are set) and its rate.

    The caller it returns is also left on ``request.state.caller`` (for the per-key metrics).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.callers = [(k.encode(), Caller.of_key(k)) for k in config.api_keys]
        self.callers += [(g.key.encode(), g.caller()) for g in config.api_grants]
        self.keys = [key for key, _ in self.callers]
        self.per_minute = config.rate_limit
        self.limiter = RateLimit(config.rate_limit) if config.rate_limit else None
        self.failures = AuthFailures(config.auth_failures)

    async def __call__(self, request: Request) -> Caller:
        """The caller (:data:`~xling.server.access.ANONYMOUS` without keys).

        Raises:
            HTTPError: 401 on a missing or wrong key, 429 over the rate limit or while the
                client's address has failed too often (:class:`AuthFailures`).
        """
        if not self.keys:
            request.state.caller = ANONYMOUS
            return ANONYMOUS
        address = request.client.host if request.client else "unknown"
        self.failures.check(address)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        if scheme.lower() != "bearer" or not given:
            self.failures.failed(address)
            raise Unauthenticated(malformed=True)
        # Every key is compared (constant time each), so timing does not tell which matched.
        found = [caller for key, caller in self.callers if hmac.compare_digest(given, key)]
        if not found:
            self.failures.failed(address)
            raise Unauthenticated(malformed=False)
        if self.limiter is not None:
            wait = self.limiter.take(token.strip())
            if wait:
                raise HTTPError(
                    429, f"rate limit of {self.per_minute} requests a minute reached",
                    {"Retry-After": str(max(1, round(wait)))},
                )  # fmt: skip
        request.state.caller = found[0]
        return found[0]


def add_request_ids(
    app: FastAPI, observe: Callable[[str, int, float, Caller | None], None]
) -> None:
    """Gives every response an ``X-Request-ID`` (the caller's or a new one), logs one JSON
    access line, and reports ``(route, status, seconds, caller)`` to ``observe`` (the metrics;
    the caller is ``None`` when no key was accepted)."""

    @app.middleware("http")
    async def request_ids(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            # Answered and logged here, once: an exception left to Starlette's outermost
            # middleware is logged by it and raised again for uvicorn to log a second time.
            logging.getLogger("xling.server").exception("internal error")
            response = JSONResponse({"detail": "internal error (logged on the server)"}, 500)
        elapsed = time.perf_counter() - started
        path = getattr(request.scope.get("route"), "path", "unmatched")
        observe(path, response.status_code, elapsed, getattr(request.state, "caller", None))
        response.headers["X-Request-ID"] = rid
        access_log.info(json.dumps({
            "request_id": rid, "method": request.method, "path": request.url.path,
            "status": response.status_code, "ms": round(elapsed * 1000, 2),
        }))  # fmt: skip
        return response


def _detail(detail: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    # A detail may quote a client's value holding a lone surrogate, which UTF-8 cannot carry.
    safe = detail.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"detail": safe}, status, headers)


def add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": "one line"}``: 422 naming the field, 400 for an unknown
    name, 502 when an upstream server (the LLM, an embeddings server) refused xling's request,
    404 for something that does not exist (or that the caller may not see), 503 with
    ``Retry-After`` when a backend is down, 500 without a stack trace."""

    @app.exception_handler(HTTPError)
    async def http_error(_: Request, exc: HTTPError) -> JSONResponse:
        return _detail(exc.detail, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        return _detail(f"{where}: {first.get('msg', 'invalid')}", 422)

    @app.exception_handler(XlingError)
    async def xling_error(_: Request, exc: XlingError) -> JSONResponse:
        if isinstance(exc, ServiceUnavailableError):
            return _detail(public_detail(exc), 503, {"Retry-After": "5"})
        if isinstance(exc, ServerRefusedError):
            # The caller's request was fine; the server behind xling said no (a 4xx).
            return _detail(public_detail(exc), 502)
        if isinstance(exc, NotFoundError):
            return _detail(str(exc), 404)
        if isinstance(exc, ForbiddenError):
            return _detail(str(exc), 403)
        status = 400 if isinstance(exc, UnknownSpecError) else 422
        return _detail(str(exc), status)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("xling.server").exception("internal error")
        return JSONResponse({"detail": "internal error (logged on the server)"}, 500)
