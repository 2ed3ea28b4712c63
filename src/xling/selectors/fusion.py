"""Rank fusion of a dense and a BM25 ranking: Borda count and reciprocal rank fusion.

Each ranker contributes its top ``depth`` list. Borda gives an item ``depth - r`` points for
rank ``r`` (0-based) in a list; RRF gives ``1 / (c + r + 1)`` (c = 60, Cormack et al. 2009).
Points add up across lists, so items both rankers like rise; ties go to the earlier pool pair.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.numerics import top_k
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.validation import check_positive_int
from xling.embedders import Embedder
from xling.retrieval.bm25_index import BM25Method
from xling.selectors.base import Blocked, Ranking, Selector, row_chunks
from xling.selectors.dense import DenseSelector
from xling.selectors.lexical import BM25Selector
from xling.selectors.types import DenseFormat, Order

__all__ = ["FUSION_METHODS", "FusionMethod", "FusionSelector", "fuse_rankings"]

FusionMethod = Literal["borda", "rrf"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("borda", "rrf")


def fuse_rankings(
    rankings: list[np.ndarray], n_pool: int, k: int, method: FusionMethod, rrf_k: int = 60
) -> Ranking:
    """Fuses ranked lists of pool indices into one top-``k`` ranking.

    Args:
        rankings: ``(queries, depth)`` index arrays, best first (``-1`` = empty slot).
        n_pool: Pool size.
        k: Items to return per query.
        method: ``borda`` or ``rrf``.
        rrf_k: RRF's rank constant.

    Returns:
        The fused ranking; items no list holds are never returned.
    """
    if isinstance(rankings, np.ndarray) or not rankings:
        raise InvalidInputError(
            "rankings must be a non-empty list of (queries, depth) index arrays"
        )
    check_positive_int(n_pool, "n_pool")
    check_positive_int(k, "k")
    if method not in FUSION_METHODS:
        raise InvalidInputError(
            f"fusion method {method!r} is not allowed; use one of: {', '.join(FUSION_METHODS)}"
        )
    n = rankings[0].shape[0]
    indices = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float64)
    for rows in row_chunks(n, n_pool):
        points = np.zeros((rows.stop - rows.start, n_pool))
        seen = np.zeros(points.shape, dtype=bool)
        local = np.arange(rows.stop - rows.start)[:, None]
        for ranking in rankings:
            block = ranking[rows]
            depth = block.shape[1]
            rank = np.arange(depth)[None, :]
            gain = (depth - rank) if method == "borda" else 1.0 / (rrf_k + rank + 1)
            gain = np.broadcast_to(gain, block.shape).astype(np.float64)
            ok = block >= 0
            np.add.at(points, (np.broadcast_to(local, block.shape)[ok], block[ok]), gain[ok])
            seen[np.broadcast_to(local, block.shape)[ok], block[ok]] = True
        points[~seen] = -np.inf
        idx, val = top_k(points, min(k, n_pool))
        indices[rows, : idx.shape[1]] = idx
        scores[rows, : val.shape[1]] = val
    return Ranking(indices, scores)


class FusionSelector(Selector):
    """Borda or RRF fusion of a dense ranking and a BM25 ranking.

    Args:
        pool: The translation pairs.
        embedder: Spec or embedder for the dense side; default e5-small-q4.
        method: ``borda`` or ``rrf``.
        depth: Length of each ranked list.
        rrf_k: RRF's rank constant.
        format: Dense format (``s2s``, ``s2t``, ``mix``).
        alpha: Weight of the source side in ``mix``.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        bm25_method: BM25 variant.
        batch_size: Queries embedded per progress step.
        order: Prompt order of the examples.
        leakage_guard: Exclude pool pairs identical to the query.

    Example scores are the fused points.
    """

    def __init__(
        self,
        pool: AlignedPool,
        embedder: str | Embedder | None = None,
        *,
        method: FusionMethod = "borda",
        depth: int = 100,
        rrf_k: int = 60,
        format: DenseFormat = "s2s",
        alpha: float = 0.5,
        k1: float = 1.5,
        b: float = 0.75,
        bm25_method: BM25Method = "lucene",
        batch_size: int = 256,
        order: Order = "nearest-last",
        leakage_guard: bool = True,
    ) -> None:
        super().__init__(pool, order=order, leakage_guard=leakage_guard)
        if method not in FUSION_METHODS:
            raise InvalidInputError(
                f"fusion method {method!r} is not allowed; use one of: {', '.join(FUSION_METHODS)}"
            )
        for value, name in ((depth, "depth"), (rrf_k, "rrf_k")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name}={value!r} is not allowed; use a positive integer")
        self.name = method
        self.method: FusionMethod = method
        self.depth = depth
        self.rrf_k = rrf_k
        # The parts rank only; this selector applies the leakage guard once for both.
        self.dense = DenseSelector(
            pool, embedder, format=format, alpha=alpha, batch_size=batch_size,
            leakage_guard=False,
        )  # fmt: skip
        self.lexical = BM25Selector(pool, k1=k1, b=b, method=bm25_method, leakage_guard=False)

    def prepare(self, on_progress: ProgressCallback | None = None) -> None:
        self.dense.prepare(on_progress)
        self.lexical.prepare()

    def _rank(
        self, queries: list[str], k: int, blocked: Blocked, on_progress: ProgressCallback | None
    ) -> Ranking:
        depth = min(len(self.pool), max(k, self.depth))
        dense = self.dense._rank(queries, depth, blocked, on_progress)
        lexical = self.lexical.rank_lexical(queries, depth, blocked)
        return fuse_rankings(
            [dense.indices, lexical.indices], len(self.pool), k, self.method, self.rrf_k
        )
