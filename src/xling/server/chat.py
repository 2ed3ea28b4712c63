"""``POST /v1/chat/completions``: a pool served as an OpenAI chat model.

``model`` names the pool, ``xling:<pool>``, optionally with a reranker, ``xling:<pool>:<reranker>``
(``GET /v1/models`` lists the pools the key may read). The whole ``messages`` history is read
by :func:`xling.rag.conversation.aanswer_chat`: the follow-up rewritten into a standalone
question in the asker's language, retrieval, the optional rerank, the answer with ``[n]``
citations, the language check and one re-ask.

The reply is OpenAI's ``chat.completion`` (or, with ``stream: true``, ``chat.completion.chunk``
events ending in ``data: [DONE]``) with one extension, ``xling``: on the message, and on the
final chunk (the one with ``finish_reason``). It holds the standalone question, the detected
language, the language verdict of every attempt, and the passages the answer was given (``n``,
``id``, ``text``, ``title``, ``section``, ``score``, ``cited``). A stream shows each attempt as
it is generated; when the answer is re-asked, the re-ask follows the first attempt after a blank
line, and ``xling.answer`` is the text kept.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from fastapi import FastAPI, Header
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from xling.core.errors import InvalidInputError, NotFoundError
from xling.llm import LLMClient
from xling.rag.answers import AnswerConfig
from xling.rag.conversation import ChatAnswer, ChatTurn, aanswer_chat, astream_chat, chat_turns
from xling.rag.pipeline import AnswerPipeline, build_answer_pipeline
from xling.rerankers import Reranker, available_rerankers
from xling.server.access import Caller
from xling.server.admission import Admission
from xling.server.config import ServiceConfig
from xling.server.outages import client_detail
from xling.server.routes import Authorized
from xling.server.schemas import ChatBody
from xling.server.service import Service

__all__ = ["CHAT_MODEL_PREFIX", "add_chat_routes", "chat_target"]

CHAT_MODEL_PREFIX = "xling:"


def chat_target(model: str, service: Service, caller: Caller) -> tuple[str, str | None]:
    """The pool and the reranker a chat ``model`` names.

    Raises:
        NotFoundError: When it names no pool the caller may read, or an unknown reranker; the
            message lists the models the caller may use.
    """
    name, _, rerank = model.removeprefix(CHAT_MODEL_PREFIX).partition(":")
    rerankers = [*available_rerankers(), *service.rerankers.names()]
    # A pool already open is known without listing the database (a round trip per request).
    known = name in service.pools and caller.can_read(name)
    if (
        not model.startswith(CHAT_MODEL_PREFIX)
        or not (known or name in service.pool_names(caller))
        or (rerank and rerank not in rerankers)
    ):
        pools = service.pool_names(caller)
        models = ", ".join(CHAT_MODEL_PREFIX + p for p in pools) or "none"
        raise NotFoundError(
            f"unknown model {model!r}; use one of: {models} (optionally followed by "
            f":<reranker>, one of {', '.join(rerankers)})"
        )
    return name, rerank or None


def _turns(body: ChatBody, config: ServiceConfig) -> list[ChatTurn]:
    """The chat's turns, within the caps."""
    if body.n not in (None, 1):
        raise InvalidInputError(f"n={body.n} is not supported; xling returns one choice (n=1)")
    if len(body.messages) > config.max_messages:
        raise InvalidInputError(
            f"the chat has {len(body.messages)} messages, over this server's cap of "
            f"{config.max_messages}; send the newest ones"
        )
    turns = chat_turns([m.model_dump() for m in body.messages])
    chars = sum(len(t.content) for t in turns)
    if chars > config.max_chat_chars:
        raise InvalidInputError(
            f"the chat's messages hold {chars} characters, over this server's cap of "
            f"{config.max_chat_chars}; send the newest ones"
        )
    last = [t for t in turns if t.role == "user"][-1]
    if len(last.content) > config.max_text_chars:
        raise InvalidInputError(
            f"the last user message has {len(last.content)} characters, over the cap of "
            f"{config.max_text_chars}"
        )
    return turns


def _usage(result: ChatAnswer) -> dict[str, int]:
    usage = result.usage
    total = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"], "total_tokens": total}  # fmt: skip


def _completion(cid: str, created: int, model: str, result: ChatAnswer) -> dict[str, Any]:
    """OpenAI's ``chat.completion`` object, with ``message.xling``."""
    message = {"role": "assistant", "content": result.text, "xling": result.to_dict()}
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(result),
    }  # fmt: skip


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def add_chat_routes(
    app: FastAPI, config: ServiceConfig, svc: Callable[[], Service], admission: Admission
) -> None:
    """Adds ``POST /v1/chat/completions`` to ``app``."""

    @app.post("/v1/chat/completions")
    async def chat_completions(
        body: ChatBody, caller: Authorized, accept_language: str | None = Header(default=None)
    ) -> Any:
        turns = _turns(body, config)
        service = svc()
        pool, rerank = chat_target(body.model, service, caller)
        retriever = service.retriever(pool, "dense", "asymmetric", caller)
        settings: dict[str, Any] = {}
        if body.temperature is not None:
            settings["temperature"] = body.temperature
        if (max_tokens := body.max_completion_tokens or body.max_tokens) is not None:
            settings["max_tokens"] = max_tokens
        cfg = AnswerConfig(**settings)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def pipeline_on(client: LLMClient) -> AnswerPipeline:
            # A configured reranker (--reranker NAME=SPEC) is the one built for this replica
            # (with the service's guard); a built-in name is built here.
            chosen: str | Reranker | None = rerank
            if rerank is not None and rerank in service.rerankers:
                chosen = service.rerankers.on(rerank, client)
            return build_answer_pipeline(
                retriever, client, rerank=chosen, config=cfg,
                rerank_options={"guard": config.rerank_guard},
            )  # fmt: skip

        if not body.stream:

            async def on(client: LLMClient) -> ChatAnswer:
                return await aanswer_chat(pipeline_on(client), turns, hint=accept_language)

            with admission.admit():
                result = await service.llm.arun(on)
            return _completion(cid, created, body.model, result)

        ticket = admission.admit()  # counted from now, not from the stream's first read
        try:
            pipeline = pipeline_on(service.llm.pick())
        except BaseException:
            ticket.release()
            raise
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        head = {"id": cid, "object": "chat.completion.chunk", "created": created,
                "model": body.model}  # fmt: skip

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**head, "choices": [choice]}

        async def events() -> AsyncIterator[str]:
            # aclosing: a client gone away closes the chat's events at once, which cancels
            # the LLM request in flight (not whenever the generator is collected).
            chat = astream_chat(pipeline, turns, hint=accept_language, render_error=client_detail)
            with ticket:
                async with aclosing(chat):
                    yield _sse(chunk({"role": "assistant", "content": ""}))
                    async for event in chat:
                        kind = event["event"]
                        if kind == "attempt" and event["attempt"] > 0:
                            yield _sse(chunk({"content": "\n\n"}))
                        elif kind == "token":
                            yield _sse(chunk({"content": event["text"]}))
                        elif kind == "error":
                            error = {"message": event["detail"], "type": "server_error"}
                            yield _sse({"error": error})
                        elif kind == "done":
                            result: ChatAnswer = event["chat"]
                            yield _sse({**chunk({}, "stop"), "xling": result.to_dict()})
                            if include_usage:
                                yield _sse({**head, "choices": [], "usage": _usage(result)})
                    yield "data: [DONE]\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", background=BackgroundTask(ticket.release)
        )
