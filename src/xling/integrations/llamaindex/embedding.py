"""``XlingEmbedding``: any xling embedder as a LlamaIndex ``BaseEmbedding``."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from xling.embedders import DEFAULT_EMBEDDER, Embedder, Task, get_embedder

__all__ = ["XlingEmbedding"]


class XlingEmbedding(BaseEmbedding):
    """An xling embedder (``e5-small-q4``, ``use-m3``, ``st:...``, ``openai:...``) for LlamaIndex.

    Queries and texts keep their roles (e5's ``query:`` / ``passage:`` prefixes); batches go to
    the embedder whole (LlamaIndex's default loops per text), sync and async; vectors come
    from xling's persistent cache when it has them.
    """

    model_name: str = Field(
        default=DEFAULT_EMBEDDER,
        description="The xling embedder spec: e5-small-q4, use-m3, st:NAME, hf:PATH, "
        "openai:URL#MODEL.",
    )
    task: Task = Field(
        default="asymmetric",
        description="asymmetric: queries are questions against passages (query role); "
        "symmetric: queries are texts like the documents (the query side of "
        "xling.embedders.POOL_SYMMETRIC_ROLES).",
    )
    cache: bool = Field(default=True, description="Use xling's persistent embedding cache.")
    _embedder: Embedder = PrivateAttr()

    def __init__(self, model_name: str = DEFAULT_EMBEDDER, **kwargs: Any) -> None:
        embedder = kwargs.pop("embedder", None)
        super().__init__(model_name=model_name, **kwargs)
        self._embedder = (
            embedder if embedder is not None else get_embedder(model_name, cache=self.cache)
        )

    @classmethod
    def class_name(cls) -> str:
        """The LlamaIndex class name."""
        return "XlingEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The xling embedder underneath."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embeddings([query])[0]

    def _get_query_embeddings(self, queries: list[str]) -> list[list[float]]:
        vectors = self._embedder.embed_queries(queries, task=self.task)
        return [list(map(float, v)) for v in vectors]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await asyncio.to_thread(self._get_query_embeddings, [query]))[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        vectors = self._embedder.embed_documents(texts)
        return [list(map(float, v)) for v in vectors]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
