"""The HTTP service: middleware (middleware.py), routes (routes.py) and the LLM admission
(admission.py) assembled over one :class:`~xling.server.service.Service`.

Every error body is ``{"detail": "..."}`` with one line naming the bad value; validation errors
are 422 naming the field; no stack trace reaches a client. Routes need a bearer key when keys
are configured, except ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from xling.server.access import Caller
from xling.server.admission import Admission
from xling.server.chat import add_chat_routes
from xling.server.config import ServiceConfig
from xling.server.dify import add_dify_routes
from xling.server.documents import add_document_routes, upload_allowance
from xling.server.jobs import JobRunner
from xling.server.middleware import BodyLimit, add_error_handlers, add_request_ids
from xling.server.routes import add_routes
from xling.server.service import Service
from xling.server.vector_stores import add_vector_store_routes

__all__ = ["create_app"]


def create_app(config: ServiceConfig, service: Service | None = None) -> FastAPI:
    """The service's ASGI app (uvicorn runs it; tests too).

    Args:
        config: The settings.
        service: The pools and clients (default: opened from ``config`` at start-up).
    """
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    registry = CollectorRegistry()
    requests_total = Counter(
        "xling_requests_total", "Requests by route and status", ["route", "status"],
        registry=registry,
    )  # fmt: skip
    latency = Histogram(
        "xling_request_seconds", "Request latency by route", ["route"], registry=registry
    )
    by_caller = Counter(
        "xling_caller_requests_total",
        "Requests by API key (its hash label, never the key) and status",
        ["caller", "status"], registry=registry,
    )  # fmt: skip
    llm_calls = Counter("xling_llm_requests_total", "LLM-bound requests", registry=registry)
    fallbacks = Counter(
        "xling_reranker_fallbacks_total", "Reranks that kept the first-stage order",
        registry=registry,
    )  # fmt: skip
    state: dict[str, Service] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["service"] = service or Service(config)
        try:
            yield
        finally:
            await state["service"].aclose()

    def svc() -> Service:
        return state["service"]

    def observe(route: str, status: int, seconds: float, caller: Caller | None) -> None:
        requests_total.labels(route, str(status)).inc()
        latency.labels(route).observe(seconds)
        if caller is not None:
            by_caller.labels(caller.label, str(status)).inc()

    app = FastAPI(title="xling", version="1", lifespan=lifespan)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["*"],
            allow_headers=["*"],
        )  # fmt: skip
    add_request_ids(app, observe)
    add_error_handlers(app)
    admission = Admission(svc, config.max_llm_waiting, llm_calls.inc)
    add_routes(
        app,
        config,
        svc,
        admission,
        metrics_text=lambda: generate_latest(registry).decode(),
        on_fallback=fallbacks.inc,
    )
    add_dify_routes(app, config, svc, admission)
    add_vector_store_routes(app, config, svc, admission)
    add_chat_routes(app, config, svc, admission)
    add_document_routes(app, config, svc, JobRunner(config.max_queued_jobs))
    return BodyLimit(app, config.max_body_bytes, [upload_allowance(config)])  # type: ignore[return-value]
