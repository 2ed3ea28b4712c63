"""``dense``: Chroma's HNSW index over the pool's vectors; scores are cosine similarities."""

from __future__ import annotations

from xling.core.records import Hit
from xling.retrieval.base import Filter, Retriever

__all__ = ["DenseRetriever"]


class DenseRetriever(Retriever):
    """Nearest passages by cosine similarity (the pool's HNSW index, cosine space).

    Args:
        pool: The pool.
        task: ``"asymmetric"`` (question → passage) or ``"symmetric"``.
    """

    method = "dense"

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing cosine similarity."""
        return self.pool.search(queries, k, where=where.chroma_where(), task=self.task)
