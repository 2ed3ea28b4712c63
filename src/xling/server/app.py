"""The HTTP service: FastAPI routes over the library, each thin (validate, call, shape).

Every error body is ``{"detail": "..."}`` with one line naming the bad value; validation errors
are 422 naming the field; no stack trace reaches a client. Routes need a bearer key when keys
are configured, except ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xling.core.errors import (
    InvalidInputError,
    ServiceUnavailableError,
    UnknownSpecError,
    XlingError,
)
from xling.core.records import Question
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.rerankers import available_rerankers, get_reranker
from xling.server.config import ServiceConfig
from xling.server.schemas import (
    AnswerBody,
    EmbeddingsBody,
    RerankBody,
    RetrieveBody,
    SelectBody,
    TextDocument,
)
from xling.server.service import Service, relevance_scores

__all__ = ["create_app"]

access_log = logging.getLogger("xling.server.access")


class HTTPError(Exception):
    """An error answered with a status, a ``detail`` and headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class _BodyLimit:
    """Answers 413 to a body over ``limit`` bytes (declared or streamed), before any handler."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _plain_error(send, 413, f"request body over {self.limit} bytes")
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
            if seen > self.limit:
                await _plain_error(send, 413, f"request body over {self.limit} bytes")
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


class _RateLimit:
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


def _check_cap(value: int, cap: int, what: str) -> None:
    if value > cap:
        raise InvalidInputError(f"{what} is {value}, over this server's cap of {cap}")


def _check_texts(texts: list[str], cap: int, what: str) -> None:
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInputError(f"{what}[{i}] is empty; give non-empty texts")
        if len(text) > cap:
            raise InvalidInputError(
                f"{what}[{i}] has {len(text)} characters, over the cap of {cap}"
            )


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
    llm_calls = Counter("xling_llm_requests_total", "LLM-bound requests", registry=registry)
    fallbacks = Counter(
        "xling_reranker_fallbacks_total", "Reranks that kept the first-stage order",
        registry=registry,
    )  # fmt: skip
    state: dict[str, Service] = {}
    keys = [k.encode() for k in config.api_keys]
    limiter = _RateLimit(config.rate_limit) if config.rate_limit else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["service"] = service or Service(config)
        try:
            yield
        finally:
            await state["service"].aclose()

    app = FastAPI(title="xling", version="1", lifespan=lifespan)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["*"],
            allow_headers=["*"],
        )  # fmt: skip

    def svc() -> Service:
        return state["service"]

    async def authorized(request: Request) -> str:
        if not keys:
            return "anonymous"
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode()
        ok = scheme.lower() == "bearer" and any(hmac.compare_digest(given, k) for k in keys)
        if not ok:
            raise HTTPError(
                401, "missing or wrong API key; send Authorization: Bearer KEY",
                {"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        if limiter is not None:
            wait = limiter.take(token.strip())
            if wait:
                raise HTTPError(
                    429, f"rate limit of {config.rate_limit} requests a minute reached",
                    {"Retry-After": str(max(1, round(wait)))},
                )  # fmt: skip
        return token.strip()

    auth = [Depends(authorized)]

    @app.middleware("http")
    async def request_ids(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        requests_total.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(elapsed)
        response.headers["X-Request-ID"] = rid
        access_log.info(json.dumps({
            "request_id": rid, "method": request.method, "path": request.url.path,
            "status": response.status_code, "ms": round(elapsed * 1000, 2),
        }))  # fmt: skip
        return response

    @app.exception_handler(HTTPError)
    async def http_error(_: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, 422)

    @app.exception_handler(XlingError)
    async def xling_error(_: Request, exc: XlingError) -> JSONResponse:
        if isinstance(exc, ServiceUnavailableError):
            return JSONResponse({"detail": str(exc)}, 503, {"Retry-After": "5"})
        status = 400 if isinstance(exc, UnknownSpecError) else 422
        return JSONResponse({"detail": str(exc)}, status)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("xling.server").exception("internal error")
        return JSONResponse({"detail": "internal error (logged on the server)"}, 500)

    def admit_llm() -> None:
        service = svc()
        if not service.llm:
            raise ServiceUnavailableError("this service has no LLM server; start it with --llm-url")
        if service.waiting >= config.max_llm_waiting:
            raise HTTPError(
                503, f"{service.waiting} LLM requests are waiting; try again shortly",
                {"Retry-After": "1"},
            )  # fmt: skip
        llm_calls.inc()

    # -- routes -----------------------------------------------------------------------------
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        service = svc()
        checks = {"chroma": True, "llm": bool(service.llm) and await service.llm.reachable()}
        try:
            for pool in service.pools.values():
                pool.count()
        except ServiceUnavailableError:
            checks["chroma"] = False
        ready = checks["chroma"] and (checks["llm"] or not service.llm)
        return JSONResponse({"ready": ready, **checks}, 200 if ready else 503)

    @app.get("/metrics", dependencies=auth)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain")

    @app.get("/v1/models", dependencies=auth)
    async def models() -> dict[str, Any]:
        service = svc()
        data = [{"id": e, "object": "model", "type": "embedding"} for e in service.embedders]
        data += [
            {"id": f"xling-{r}", "object": "model", "type": "rerank"} for r in available_rerankers()
        ]
        return {"object": "list", "data": data}

    @app.get("/v1/pools", dependencies=auth)
    async def pools() -> dict[str, Any]:
        return {"data": [
            {"name": p.name, "embedder": p.embedder.id, "count": p.count()}
            for p in svc().pools.values()
        ]}  # fmt: skip

    async def rerank(body: RerankBody) -> Any:
        tei = body.texts is not None
        raw = body.texts if tei else body.documents
        if raw is None:
            raise InvalidInputError("give 'documents' (or 'texts'): the texts to rerank")
        documents = [d.text if isinstance(d, TextDocument) else d for d in raw]
        if not documents:
            raise InvalidInputError("documents is empty; give at least one document")
        _check_cap(len(documents), config.max_documents, "the number of documents")
        _check_texts([body.query], config.max_text_chars, "query")
        _check_texts(documents, config.max_text_chars, "documents")
        admit_llm()
        service = svc()
        service.waiting += 1
        try:
            result, name = await service.rerank(
                body.query, documents, body.model, body.max_tokens_per_doc
            )
        finally:
            service.waiting -= 1
        if result.fallback:
            fallbacks.inc()
        scores = relevance_scores(result)
        order = [int(c.id) for c in result.candidates]
        top = len(order) if not body.top_n else min(body.top_n, len(order))
        if tei:
            return [
                {
                    "index": i,
                    "score": scores[i],
                    **({"text": documents[i]} if body.return_text else {}),
                }
                for i in order[:top]
            ]
        results = []
        for i in order[:top]:
            item: dict[str, Any] = {"index": i, "relevance_score": scores[i]}
            if body.return_documents:
                item["document"] = {"text": documents[i]}
            results.append(item)
        return {
            "id": uuid.uuid4().hex,
            "model": body.model or f"xling-{name}",
            "results": results,
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "total_tokens": result.usage.prompt_tokens + result.usage.completion_tokens,
            },
            "meta": {"billed_units": {"search_units": 1}, "api_version": {"version": "2"}},
        }

    for path in ("/rerank", "/v1/rerank", "/v2/rerank"):
        app.post(path, dependencies=auth)(rerank)

    @app.post("/v1/embeddings", dependencies=auth)
    async def embeddings(body: EmbeddingsBody) -> dict[str, Any]:
        texts = [body.input] if isinstance(body.input, str) else list(body.input)
        if not texts:
            raise InvalidInputError("input is empty; give a text or a list of texts")
        _check_cap(len(texts), config.max_batch, "the number of inputs")
        _check_texts(texts, config.max_text_chars, "input")
        role = "document" if body.input_type in ("document", "passage") else "query"
        vectors, embedder, tokens = await svc().embed(
            texts, body.model, role, body.encoding_format, body.dimensions
        )
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
            ],
            "model": embedder.id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.post("/v1/retrieve", dependencies=auth)
    async def retrieve(body: RetrieveBody) -> dict[str, Any]:
        _check_cap(len(body.queries), config.max_batch, "the number of queries")
        _check_cap(body.k, config.max_k, "k")
        _check_texts(body.queries, config.max_text_chars, "queries")
        retriever, results = await svc().retrieve(
            body.pool, body.method, body.task, body.queries, body.k, langs=body.langs,
            exclude_langs=body.exclude_langs, where=body.where, query_lang=body.query_lang,
        )  # fmt: skip
        return {"pool": retriever.pool.name, "method": body.method,
                "results": [r.to_dict() for r in results]}  # fmt: skip

    @app.post("/v1/answer", dependencies=auth)
    async def answer(body: AnswerBody) -> Any:
        _check_cap(body.retrieve_k, config.max_k, "retrieve_k")
        _check_texts([body.question], config.max_text_chars, "question")
        admit_llm()
        service = svc()
        retriever = service.retriever(body.pool, body.method, "asymmetric")
        cfg = AnswerConfig(
            k=body.k, retrieve_k=max(body.retrieve_k, body.k),
            langs=tuple(body.langs) if body.langs else None,
        )  # fmt: skip

        question = Question(body.question, "0", body.lang)

        def pipeline_on(client: Any) -> AnswerPipeline:
            reranker = get_reranker(body.rerank, client) if body.rerank else None
            return AnswerPipeline(retriever, client, reranker=reranker, config=cfg)

        if body.stream:
            pipeline = pipeline_on(service.llm.pick())

            async def events() -> AsyncIterator[str]:
                service.waiting += 1
                try:
                    async for event in pipeline.astream(question):
                        data = json.dumps(event, ensure_ascii=False)
                        yield f"event: {event['event']}\ndata: {data}\n\n"
                finally:
                    service.waiting -= 1

            return StreamingResponse(events(), media_type="text/event-stream")

        async def on(client: Any) -> Any:
            (result,) = await pipeline_on(client).aanswer_many([question])
            return result

        service.waiting += 1
        try:
            result = await service.llm.run(on)
        finally:
            service.waiting -= 1
        return result.to_dict()

    @app.post("/v1/select-examples", dependencies=auth)
    async def select_examples(body: SelectBody) -> dict[str, Any]:
        from xling.prompts.mt import build_mt_prompt
        from xling.selectors import get_selector

        _check_cap(len(body.queries), config.max_batch, "the number of queries")
        _check_texts(body.queries, config.max_text_chars, "queries")
        pool = svc().pool(body.pool)

        def work() -> list[dict[str, Any]]:
            selector = get_selector(pool.aligned(body.src, body.tgt), body.strategy)
            chosen = selector.select(body.queries, body.k)
            return [
                {
                    "query": q,
                    "examples": [
                        {"row": e.row, "source": e.source, "target": e.target, "score": e.score}
                        for e in examples
                    ],  # fmt: skip
                    "prompt": build_mt_prompt(
                        q, [(e.source, e.target) for e in examples], body.src, body.tgt
                    ),  # fmt: skip
                }
                for q, examples in zip(body.queries, chosen, strict=True)
            ]

        import asyncio

        return {"results": await asyncio.to_thread(work)}

    return _BodyLimit(app, config.max_body_bytes)  # type: ignore[return-value]
