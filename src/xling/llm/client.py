"""The shared async client for OpenAI-compatible LLM servers (vLLM first).

One :class:`LLMClient` serves every module that talks to an LLM: completions and chat,
``logprobs``/``top_logprobs``, stop sequences, a bound on requests in flight, timeouts and
retries with exponential backoff on 5xx, 429 and connection errors, then a clear error naming
the endpoint. vLLM's ``/tokenize`` and ``/detokenize`` give exact model-token truncation.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from xling._async import run_sync
from xling.errors import InvalidInputError, ServiceUnavailableError

__all__ = ["LLMClient", "Completion", "TokenLogprob", "ChatMessage", "LLMUsage"]

ChatMessage = dict[str, str]
_RETRY_STATUS = {429, 500, 502, 503, 504}


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


class _LoopState:
    """An HTTP connection pool and a semaphore bound to one event loop."""

    def __init__(self, client: httpx.AsyncClient, limit: int) -> None:
        self.http = client
        self.semaphore = asyncio.Semaphore(limit)


class LLMClient:
    """Async client for an OpenAI-compatible server such as ``vllm serve``.

    Args:
        base_url: Server root with or without ``/v1`` (``http://127.0.0.1:8011``).
        model: Model name to send; default the first model the server lists.
        api_key: Bearer token, if the server needs one.
        max_concurrency: Most requests in flight at once from this client.
        timeout: Seconds per request attempt.
        max_retries: Further attempts after a retryable failure.
        backoff: Base delay in seconds, doubled per retry (with jitter).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        max_concurrency: int = 32,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"LLM base URL {base_url!r} is not allowed; use http(s)://host:port[/v1]"
            )
        root = base_url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.base_url = f"{self.root}/v1"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
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
            state = self._states[id(loop)] = _LoopState(http, self.max_concurrency)
        return state

    async def _request(self, method: str, url: str, payload: dict[str, Any] | None) -> Any:
        state = self._state()
        last: str = ""
        async with state.semaphore:
            for attempt in range(self.max_retries + 1):
                if attempt:
                    self.usage.retries += 1
                    delay = self.backoff * 2 ** (attempt - 1)
                    await asyncio.sleep(delay * (0.5 + random.random()))
                try:
                    response = await state.http.request(method, url, json=payload)
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    last = f"{type(exc).__name__}: {exc}".rstrip(": ")
                    continue
                if response.status_code in _RETRY_STATUS:
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                    continue
                if response.status_code >= 400:
                    raise InvalidInputError(
                        f"LLM endpoint {url} refused the request with HTTP "
                        f"{response.status_code}: {_error_message(response)}"
                    )
                return response.json()
        raise ServiceUnavailableError(
            f"LLM endpoint {url} failed after {self.max_retries + 1} attempt(s) ({last}); "
            "check that the server is running and reachable"
        )

    async def aclose(self) -> None:
        """Closes the connection pool of the current event loop."""
        state = self._states.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            await state.http.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- server information -----------------------------------------------------------------
    async def list_models(self) -> list[dict[str, Any]]:
        """The model cards the server lists under ``/v1/models``."""
        data = await self._request("GET", f"{self.base_url}/models", None)
        return list(data.get("data", []))

    async def model(self) -> str:
        """The model name requests use: the one given, else the server's first."""
        if self._model is None:
            info = await self._info()
            self._model = str(info["id"])
        return self._model

    async def _info(self) -> dict[str, Any]:
        if self._model_info is None:
            models = await self.list_models()
            if not models:
                raise ServiceUnavailableError(f"LLM endpoint {self.base_url} serves no model")
            chosen = [m for m in models if self._model in (None, m.get("id"))]
            self._model_info = chosen[0] if chosen else models[0]
        return self._model_info

    async def max_model_len(self) -> int | None:
        """The context length the server reports (vLLM's ``max_model_len``), if any."""
        value = (await self._info()).get("max_model_len")
        return int(value) if value else None

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` by the served model's tokenizer (vLLM ``/tokenize``)."""
        payload = {"model": await self.model(), "prompt": text, "add_special_tokens": False}
        data = await self._request("POST", f"{self.root}/tokenize", payload)
        return [int(t) for t in data["tokens"]]

    async def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of token ids by the served model's tokenizer (vLLM ``/detokenize``)."""
        payload = {"model": await self.model(), "tokens": list(tokens)}
        data = await self._request("POST", f"{self.root}/detokenize", payload)
        return str(data["prompt"])

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
            read=lambda choice: (
                choice.get("text") or "",
                _completion_logprobs(choice.get("logprobs")),
            ),
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
            read=lambda choice: (
                (choice.get("message") or {}).get("content") or "",
                _chat_logprobs(choice.get("logprobs")),
            ),
        )

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
            read: Reads the text and the logprobs from the first choice.
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
        data = await self._request("POST", f"{self.base_url}/{path}", payload)
        choice = data["choices"][0]
        text, logprobs = read(choice)
        completion = Completion(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(data.get("usage", {}).get("prompt_tokens", 0)),
            completion_tokens=int(data.get("usage", {}).get("completion_tokens", 0)),
            logprobs=logprobs,
        )
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


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return str(message)[:300]


def _completion_logprobs(raw: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not raw or raw.get("tokens") is None:
        return None
    tops = raw.get("top_logprobs") or [None] * len(raw["tokens"])
    return [
        TokenLogprob(tok, float(lp if lp is not None else float("-inf")), dict(top or {}))
        for tok, lp, top in zip(raw["tokens"], raw["token_logprobs"], tops, strict=False)
    ]


def _chat_logprobs(raw: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not raw or raw.get("content") is None:
        return None
    return [
        TokenLogprob(
            item["token"],
            float(item["logprob"]),
            {alt["token"]: float(alt["logprob"]) for alt in item.get("top_logprobs") or []},
        )
        for item in raw["content"]
    ]
