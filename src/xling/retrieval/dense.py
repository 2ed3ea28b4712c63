"""``dense``: Chroma's HNSW index over the pool's vectors; scores are cosine similarities.

The one place a pool is queried by vector: the margin and hybrid methods take their dense
candidates from a :class:`DenseRetriever`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xling.core.records import Hit
from xling.retrieval.base import Filter, Retriever
from xling.store.collection import stored_hit

__all__ = ["DenseRetriever"]

_QUERY_CELLS = 30_000  # queries × results per Chroma query call (SQLite's limit is 32,766)
_FIELDS = ("ids", "documents", "metadatas", "distances")


def _space(collection: Any) -> str:
    """The collection's HNSW distance: ``cosine`` (xling's), ``l2`` (Chroma's default) or ``ip``."""
    try:
        config = collection.configuration or {}
        space = (config.get("hnsw") or {}).get("space")
    except Exception:  # an older server without configurations
        space = None
    return str(space or (collection.metadata or {}).get("hnsw:space") or "l2")


def cosine_of(collection: Any) -> Callable[[float], float]:
    """Chroma distance → cosine similarity, for unit vectors in any of Chroma's spaces.

    ``cosine``: d = 1 − cos; ``l2`` (squared): d = 2 − 2 cos, so cos = 1 − d / 2; ``ip``:
    d = 1 − u·v.
    """
    if _space(collection) == "l2":
        return lambda d: 1.0 - d / 2.0
    return lambda d: 1.0 - d


class DenseRetriever(Retriever):
    """Nearest passages by cosine similarity (the pool's HNSW index, cosine space).

    Args:
        pool: The pool.
        task: ``"asymmetric"`` (question → passage, e5's ``query:`` role) or ``"symmetric"``
            (texts like the pool's own, such as a sentence's translations: the document role);
            see :func:`~xling.embedders.query_role`.
    """

    method = "dense"

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing cosine similarity.

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        pool = self.pool
        vectors = pool.embedder.embed_queries(queries, task=self.task)
        clause = where.chroma_where()
        result: dict[str, list[Any]] = {key: [] for key in _FIELDS}
        # Embedded Chroma binds queries × k variables in one SQLite statement, which refuses
        # more than 32,766: query in slices under that.
        step = max(1, _QUERY_CELLS // k)
        for start in range(0, len(queries), step):
            with pool.damage_is_named(), pool.reading() as collection:
                if collection is None:
                    return [[] for _ in queries]
                part = collection.query(
                    query_embeddings=vectors[start : start + step],
                    n_results=k,
                    where=clause,
                    include=["documents", "metadatas", "distances"],
                )
            for key in _FIELDS:
                result[key].extend(part[key])
        similarity = cosine_of(collection)
        return [
            [
                stored_hit(i, d, m, similarity(float(dist)))
                for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
            ]
            for ids, docs, metas, dists in zip(*(result[key] for key in _FIELDS), strict=True)
        ]
