"""Margin-based selection (Artetxe & Schwenk, 2019): cosine corrected for hubness.

Some sentences are close to everything (short, generic, formulaic ones); plain cosine ranks
them high for every query. The ratio margin divides the cosine of a (query x, pool item y) pair
by the mean cosine of both neighbourhoods:

    margin(x, y) = cos(x, y) / (sum_{z in NN_k(x)} cos(x, z) / 2k
                                + sum_{z in NN_k(y)} cos(y, z) / 2k)

where ``NN_k(x)`` are the k nearest pool items of the query and ``NN_k(y)`` the k nearest
queries of the pool item (the two sets being compared, as in bitext mining). The ``distance``
variant subtracts the same denominator instead of dividing.

The backward neighbourhoods come from the batch of queries, so margin is a batch method: with
fewer queries than ``k`` it averages over all of them, and a single query is ranked by cosine.
Measured on Tatoeba swh→eng (390 pairs, e5-small-q4, query vs document roles): top-1
accuracy 74.9 with cosine, 81.3 with the ratio margin and k = 4; taking the backward
neighbourhood from the pool itself instead of the queries gives 74.6 (no gain), hence the
textbook choice.
"""

from __future__ import annotations

from typing import Unpack

import numpy as np

from xling.core.numerics import MARGIN_KINDS, MarginKind, knn, knn_mean, margin_scores, top_k
from xling.core.records import AlignedPool
from xling.core.validation import check_choice, check_positive_int
from xling.embedders import Embedder
from xling.selectors._options import DenseOptions
from xling.selectors.base import Blocked, Ranking, mask_blocked, row_chunks
from xling.selectors.dense import DenseSelector, check_query_dims

__all__ = ["MarginSelector"]


class MarginSelector(DenseSelector):
    """The ``k`` pool pairs with the highest margin score to the query.

    Args:
        pool: The translation pairs.
        embedder: Spec or embedder; default e5-small-q4.
        neighbors: Neighbours averaged in each direction.
        kind: ``ratio`` or ``distance``.
        **options: :class:`DenseSelector`'s ``format``, ``alpha``, ``batch_size``, ``order``
            and ``leakage_guard``.
    """

    name = "margin"

    def __init__(
        self,
        pool: AlignedPool,
        embedder: str | Embedder | None = None,
        *,
        neighbors: int = 4,
        kind: MarginKind = "ratio",
        **options: Unpack[DenseOptions],
    ) -> None:
        super().__init__(pool, embedder, **options)
        self.neighbors = check_positive_int(neighbors, "margin neighbors")
        self.kind: MarginKind = check_choice(kind, "margin kind", MARGIN_KINDS)

    def neighbourhoods(
        self, query_vectors: np.ndarray, blocked: Blocked
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean similarity of each query to its k nearest pool items, and of each pool item
        to its k nearest queries (blocked pairs left out of both)."""
        keys = self.keys()
        check_query_dims(query_vectors, keys)
        k = self.neighbors
        forward, _ = knn(query_vectors, keys, k, exclude=(blocked.queries, blocked.pool))
        backward, _ = knn(keys, query_vectors, k, exclude=(blocked.pool, blocked.queries))
        return (
            knn_mean(forward, k, axis=1).astype(np.float32),
            knn_mean(backward, k, axis=1).astype(np.float32),
        )

    def rank_vectors(
        self, query_vectors: np.ndarray, k: int, blocked: Blocked | None = None
    ) -> Ranking:
        blocked = blocked if blocked is not None else Blocked.none()
        keys = self.keys()
        forward, backward = self.neighbourhoods(query_vectors, blocked)
        parts = []
        for rows in row_chunks(len(query_vectors), len(keys)):
            sims = mask_blocked(query_vectors[rows] @ keys.T, blocked, rows)
            # Cosines of unrelated sentences can be <= 0; the floor keeps the ratio's order sane.
            scores = margin_scores(
                sims, forward[rows, None], backward[None, :], self.kind, floor=1e-6
            )
            parts.append(top_k(scores, k))
        return Ranking(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
