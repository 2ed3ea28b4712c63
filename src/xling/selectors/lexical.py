"""BM25 selection: the pool pairs whose source sentence best matches the query's words."""

from __future__ import annotations

from typing import Unpack

from xling.core.numerics import top_k
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.retrieval.bm25_index import DEFAULT_BM25, BM25Index, BM25Method, BM25Params
from xling.selectors._options import SelectorOptions
from xling.selectors.base import Blocked, Ranking, Selector, mask_blocked, row_chunks

__all__ = ["BM25Selector"]


class BM25Selector(Selector):
    """The ``k`` pool pairs with the highest BM25 score of their source side.

    Args:
        pool: The translation pairs.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        method: BM25 variant (bm25s' names).
        **options: :class:`~xling.selectors.base.Selector`'s ``order`` and ``leakage_guard``.
    """

    name = "bm25"

    def __init__(
        self,
        pool: AlignedPool,
        *,
        k1: float = DEFAULT_BM25.k1,
        b: float = DEFAULT_BM25.b,
        method: BM25Method = DEFAULT_BM25.method,
        **options: Unpack[SelectorOptions],
    ) -> None:
        super().__init__(pool, **options)
        self._params = BM25Params(k1, b, method)
        self._index: BM25Index | None = None

    @property
    def index(self) -> BM25Index:
        """The BM25 index of the pool's source sentences, built on first use."""
        if self._index is None:
            self._index = BM25Index(self.pool.sources, self._params)
        return self._index

    def prepare(self, on_progress: ProgressCallback | None = None) -> None:
        self.index  # noqa: B018 - builds it

    def _rank(
        self, queries: list[str], k: int, blocked: Blocked, on_progress: ProgressCallback | None
    ) -> Ranking:
        return self.rank_lexical(queries, k, blocked, on_progress)

    def rank_lexical(
        self,
        queries: list[str],
        k: int,
        blocked: Blocked,
        on_progress: ProgressCallback | None = None,
    ) -> Ranking:
        """BM25 top-``k`` of every query, blocked pairs excluded."""
        import numpy as np

        parts = []
        for rows in row_chunks(len(queries), len(self.pool)):
            scores = mask_blocked(self.index.scores(queries[rows]), blocked, rows)
            parts.append(top_k(scores, k))
            if on_progress:
                on_progress(rows.stop, len(queries))
        return Ranking(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
