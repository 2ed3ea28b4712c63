"""The routes: each parses its body, checks the caps, calls one library (or service) function
and renders the result."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.background import BackgroundTask

from xling.core.errors import InvalidInputError
from xling.core.records import Question
from xling.core.validation import check_unicode
from xling.llm import LLMClient
from xling.rag.answers import Answer, AnswerConfig
from xling.rag.pipeline import build_answer_pipeline
from xling.rerankers import RerankResult, available_rerankers
from xling.server.access import Caller
from xling.server.admission import Admission
from xling.server.config import ServiceConfig
from xling.server.middleware import Authorizer
from xling.server.outages import client_detail
from xling.server.readiness import aprobe
from xling.server.schemas import (
    AnswerBody,
    EmbeddingsBody,
    RerankBody,
    RetrieveBody,
    SelectBody,
    TextDocument,
)
from xling.server.service import Service, relevance_scores

__all__ = ["Authorized", "add_routes"]


async def _caller(request: Request) -> Caller:
    authorizer: Authorizer = request.app.state.authorizer
    return await authorizer(request)


Authorized = Annotated[Caller, Depends(_caller)]
"""A route parameter of this type is the authenticated caller (401/429 before the route)."""


def check_cap(value: int, cap: int, what: str) -> None:
    """Raises when ``value`` (a count, ``k``) is over the server's ``cap``."""
    if value > cap:
        raise InvalidInputError(f"{what} is {value}, over this server's cap of {cap}")


def check_request_texts(texts: list[str], cap: int, what: str) -> None:
    """Raises on an empty text, one over ``cap`` characters, or one that is not valid Unicode."""
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInputError(f"{what}[{i}] is empty; give non-empty texts")
        if len(text) > cap:
            raise InvalidInputError(
                f"{what}[{i}] has {len(text)} characters, over the cap of {cap}"
            )
        check_unicode(text, f"{what}[{i}]")


def _rerank_response(
    body: RerankBody, documents: list[str], result: RerankResult, name: str
) -> Any:
    """The TEI list (a ``texts`` body) or the Cohere/Jina object (a ``documents`` body)."""
    scores = relevance_scores(result)
    order = [int(c.id) for c in result.candidates]
    top = len(order) if not body.top_n else min(body.top_n, len(order))
    if body.texts is not None:
        return [
            {"index": i, "score": scores[i], **({"text": documents[i]} if body.return_text else {})}
            for i in order[:top]
        ]
    results = []
    for i in order[:top]:
        item: dict[str, Any] = {"index": i, "relevance_score": scores[i]}
        if body.return_documents:
            item["document"] = {"text": documents[i]}
        results.append(item)
    usage = result.usage
    return {
        "id": uuid.uuid4().hex,
        "model": body.model or f"xling-{name}",
        "results": results,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
        "meta": {"billed_units": {"search_units": 1}, "api_version": {"version": "2"}},
    }


def add_routes(
    app: FastAPI,
    config: ServiceConfig,
    svc: Callable[[], Service],
    admission: Admission,
    *,
    metrics_text: Callable[[], str],
    on_fallback: Callable[[], None],
) -> None:
    """Adds every route to ``app``; all but ``/healthz`` and ``/readyz`` need the API key."""
    app.state.authorizer = Authorizer(config)
    auth = [Depends(app.state.authorizer)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        readiness = await aprobe(svc())
        return JSONResponse(readiness.to_dict(), 200 if readiness.ready else 503)

    @app.get("/metrics", dependencies=auth)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics_text(), media_type="text/plain")

    @app.get("/v1/models")
    async def models(caller: Authorized) -> dict[str, Any]:
        service = svc()
        data = [{"id": e, "object": "model", "type": "embedding"} for e in service.embedders]
        data += [
            {"id": f"xling-{r}", "object": "model", "type": "rerank"} for r in available_rerankers()
        ]
        # The operator's xling serve --reranker NAME=SPEC, by name.
        data += [{"id": r, "object": "model", "type": "rerank"} for r in service.rerankers.names()]
        # The chat models of chat.py (POST /v1/chat/completions): one per pool the key may read.
        data += [
            {"id": f"xling:{p}", "object": "model", "type": "chat", "owned_by": "xling"}
            for p in service.pool_names(caller)
        ]
        return {"object": "list", "data": data}

    @app.get("/v1/pools")
    async def pools(caller: Authorized) -> dict[str, Any]:
        service = svc()
        served = [service.pool(name, caller) for name in service.pool_names(caller)]
        return {"data": [
            {"name": p.name, "embedder": p.embedder.id, "count": p.count()} for p in served
        ]}  # fmt: skip

    async def rerank(body: RerankBody) -> Any:
        raw = body.texts if body.texts is not None else body.documents
        if raw is None:
            raise InvalidInputError("give 'documents' (or 'texts'): the texts to rerank")
        documents = [d.text if isinstance(d, TextDocument) else d for d in raw]
        if not documents:
            raise InvalidInputError("documents is empty; give at least one document")
        check_cap(len(documents), config.max_documents, "the number of documents")
        check_request_texts([body.query], config.max_text_chars, "query")
        check_request_texts(documents, config.max_text_chars, "documents")
        with admission.admit():
            result, name = await svc().arerank(
                body.query, documents, body.model, body.max_tokens_per_doc
            )
        if result.fallback:
            on_fallback()
        return _rerank_response(body, documents, result, name)

    for path in ("/rerank", "/v1/rerank", "/v2/rerank"):
        app.post(path, dependencies=auth)(rerank)

    @app.post("/v1/embeddings", dependencies=auth)
    async def embeddings(body: EmbeddingsBody) -> dict[str, Any]:
        texts = [body.input] if isinstance(body.input, str) else list(body.input)
        if not texts:
            raise InvalidInputError("input is empty; give a text or a list of texts")
        check_cap(len(texts), config.max_batch, "the number of inputs")
        check_request_texts(texts, config.max_text_chars, "input")
        role = "document" if body.input_type in ("document", "passage") else "query"
        vectors, embedder, tokens = await svc().aembed(
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

    @app.post("/v1/retrieve")
    async def retrieve(body: RetrieveBody, caller: Authorized) -> dict[str, Any]:
        check_cap(len(body.queries), config.max_batch, "the number of queries")
        check_cap(body.k, config.max_k, "k")
        hits = f"the number of hits asked ({len(body.queries)} queries x k={body.k})"
        check_cap(len(body.queries) * body.k, config.max_hits, hits)
        check_request_texts(body.queries, config.max_text_chars, "queries")
        retriever, results = await svc().aretrieve(
            body.pool, body.method, body.task, body.queries, body.k, caller, langs=body.langs,
            exclude_langs=body.exclude_langs, where=body.where, query_lang=body.query_lang,
        )  # fmt: skip
        return {"pool": retriever.pool.name, "method": body.method,
                "results": [r.to_dict() for r in results]}  # fmt: skip

    @app.post("/v1/answer")
    async def answer(
        body: AnswerBody, caller: Authorized, accept_language: str | None = Header(default=None)
    ) -> Any:
        check_cap(body.k, config.max_k, "k")
        check_cap(body.retrieve_k, config.max_k, "retrieve_k")
        check_request_texts([body.question], config.max_text_chars, "question")
        service = svc()
        retriever = service.retriever(body.pool, body.method, "asymmetric", caller)
        cfg = AnswerConfig(
            k=body.k, retrieve_k=max(body.retrieve_k, body.k),
            langs=tuple(body.langs) if body.langs else None, recipe=body.recipe,
            translate_query=body.translate_query, instruction_lang=body.instruction_lang,
        )  # fmt: skip
        # The client's Accept-Language nudges detection when the body gives no language.
        question = Question(body.question, "0", body.lang, hint=accept_language)

        def pipeline_on(client: LLMClient) -> Any:
            return build_answer_pipeline(
                retriever, client, rerank=body.rerank, config=cfg,
                rerank_options={"guard": config.rerank_guard},
            )  # fmt: skip

        ticket = admission.admit()
        if body.stream:
            try:
                pipeline = pipeline_on(service.llm.pick())
            except BaseException:
                ticket.release()
                raise

            async def events() -> AsyncIterator[str]:
                try:
                    async for event in pipeline.astream(question, render_error=client_detail):
                        data = json.dumps(event, ensure_ascii=False)
                        yield f"event: {event['event']}\ndata: {data}\n\n"
                finally:
                    ticket.release()

            return StreamingResponse(
                events(), media_type="text/event-stream", background=BackgroundTask(ticket.release)
            )

        async def on(client: LLMClient) -> Answer:
            (result,) = await pipeline_on(client).aanswer_many([question])
            return result

        with ticket:
            result = await service.llm.arun(on)
        return result.to_dict()

    @app.post("/v1/select-examples")
    async def select_examples(body: SelectBody, caller: Authorized) -> dict[str, Any]:
        check_cap(len(body.queries), config.max_batch, "the number of queries")
        check_request_texts(body.queries, config.max_text_chars, "queries")
        selection = await svc().aselect(
            body.pool, body.src, body.tgt, body.queries, body.method, body.k, caller
        )
        return {"results": selection.records()}
