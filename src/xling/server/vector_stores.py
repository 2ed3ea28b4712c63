"""OpenAI's vector-store search: ``POST /v1/vector_stores/{pool}/search``.

The OpenAI SDK's ``client.vector_stores.search(vector_store_id=POOL, query=..., filters=...,
max_num_results=..., ranking_options={"score_threshold": ...})`` works against xling with
``base_url="http://host:8080/v1"`` and an xling key. The vector store is a pool.

- ``query``: a text, or several searched together (each passage once, with its best score).
- ``max_num_results``: 1–50 (OpenAI's range; default 10).
- ``filters``: OpenAI's comparison and compound filters over the chunks' metadata (see
  :mod:`xling.retrieval.metadata_filters`).
- ``ranking_options``: ``score_threshold`` drops results scored below it; every ``ranker``
  value ranks by the dense cosine (no reranker runs).
- ``rewrite_query``: only ``false`` (xling searches the query as given; cross-lingual
  embeddings need no rewrite), ``true`` is refused.

Each result: ``file_id`` (the document id, or the chunk's id for a chunk of no document),
``filename`` (title, else source, else the id), ``score`` (cosine similarity, negative ones as
0), ``attributes`` (the chunk's metadata and ``lang``) and ``content`` (``[{"type": "text",
"text": ...}]``). One page: ``has_more`` is false, ``next_page`` null.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from xling.core.errors import InvalidInputError
from xling.core.records import Hit
from xling.retrieval.merging import merge_hits
from xling.retrieval.metadata_filters import openai_where
from xling.server.admission import Admission
from xling.server.config import ServiceConfig
from xling.server.routes import Authorized, check_cap, check_request_texts
from xling.server.schemas import VectorStoreSearchBody
from xling.server.service import Service

__all__ = ["add_vector_store_routes", "search_result"]


def search_result(hit: Hit) -> dict[str, Any]:
    """A hit as one result of OpenAI's vector-store search."""
    meta = hit.metadata
    file_id = str(meta.get("doc_id") or hit.id)
    attributes = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}
    if hit.lang:
        attributes["lang"] = hit.lang
    return {
        "file_id": file_id,
        "filename": str(meta.get("title") or meta.get("source") or file_id),
        "score": min(1.0, max(0.0, hit.score)) if hit.score is not None else 0.0,
        "attributes": attributes,
        "content": [{"type": "text", "text": hit.text}],
    }


def add_vector_store_routes(
    app: FastAPI, config: ServiceConfig, svc: Callable[[], Service], admission: Admission
) -> None:
    """Adds ``POST /v1/vector_stores/{pool}/search`` to ``app``."""
    del admission  # retrieval takes no LLM slot

    @app.post("/v1/vector_stores/{pool}/search", tags=["openai"])
    async def vector_store_search(
        pool: str, body: VectorStoreSearchBody, caller: Authorized
    ) -> dict[str, Any]:
        queries = [body.query] if isinstance(body.query, str) else list(body.query)
        if not queries:
            raise InvalidInputError("query is empty; give a non-empty text or list of texts")
        check_cap(len(queries), config.max_batch, "the number of queries")
        check_request_texts(queries, config.max_text_chars, "query")
        if body.rewrite_query:
            raise InvalidInputError(
                "rewrite_query=true is not supported; xling searches the query as given"
            )
        where = openai_where(body.filters)
        threshold = body.ranking_options.score_threshold if body.ranking_options else None
        k = body.max_num_results
        _, found = await svc().aretrieve(pool, "dense", "asymmetric", queries, k, caller,
                                         where=where)  # fmt: skip
        return {
            "object": "vector_store.search_results.page",
            "search_query": queries,
            "data": [search_result(h) for h in merge_hits(found, k, threshold)],
            "has_more": False,
            "next_page": None,
        }
