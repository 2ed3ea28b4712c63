"""Maximal marginal relevance (Carbonell & Goldstein, 1998) over dense candidates.

Plain similarity search fills the prompt with near-copies of one another when the pool holds
paraphrases or repeated sentences; MMR trades relevance against redundancy with the examples
already chosen:

    next = argmax_{c not chosen} lambda * sim(q, c) - (1 - lambda) * max_{s chosen} sim(c, s)

The greedy loop runs over the k picks, vectorised over all queries and their candidates.
"""

from __future__ import annotations

from typing import Unpack

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.records import AlignedPool
from xling.embedders import Embedder
from xling.selectors._options import DenseOptions
from xling.selectors.base import Blocked, Ranking, row_chunks
from xling.selectors.dense import DenseSelector

__all__ = ["MMRSelector", "mmr_greedy"]


def mmr_greedy(
    relevance: np.ndarray, candidates: np.ndarray, k: int, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy MMR for a batch of queries.

    Args:
        relevance: ``(queries, c)`` query similarity of each candidate, best first
            (``-inf`` for missing candidates).
        candidates: ``(queries, c, dim)`` unit vectors of the candidates.
        k: Picks per query (at most ``c``).
        lam: Relevance weight.

    Returns:
        ``(positions, relevance)`` of the picks in pick order, each ``(queries, k)``;
        positions index the candidate axis (``-1`` where candidates ran out).
    """
    n, c = relevance.shape
    redundancy = np.einsum("qid,qjd->qij", candidates, candidates, optimize=True)
    worst = np.full((n, c), -np.inf, dtype=np.float32)  # max similarity to the chosen ones
    chosen = np.zeros((n, c), dtype=bool)
    available = np.isfinite(relevance)
    picks = np.full((n, k), -1, dtype=np.int64)
    picked_rel = np.full((n, k), -np.inf, dtype=np.float32)
    rows = np.arange(n)
    for step in range(k):
        penalty = np.where(np.isfinite(worst), worst, 0.0)
        objective = np.where(available & ~chosen, lam * relevance - (1.0 - lam) * penalty, -np.inf)
        best = objective.argmax(axis=1)  # ties -> the earlier, more relevant candidate
        ok = np.isfinite(objective[rows, best])
        picks[ok, step] = best[ok]
        picked_rel[ok, step] = relevance[rows[ok], best[ok]]
        chosen[rows[ok], best[ok]] = True
        worst = np.where(ok[:, None], np.maximum(worst, redundancy[rows, best]), worst)
    return picks, picked_rel


class MMRSelector(DenseSelector):
    """Dense candidates re-ranked by maximal marginal relevance.

    Args:
        pool: The translation pairs.
        embedder: Spec or embedder; default e5-small-q4.
        lam: Relevance weight λ (1 = plain dense; 0.5 by default).
        candidates: Dense candidates considered per query.
        **options: :class:`DenseSelector`'s ``format``, ``alpha``, ``batch_size``, ``order``
            and ``leakage_guard``.

    Example scores are the cosine similarity to the query; ranks follow the MMR pick order.
    Redundancy is measured between the examples' source sentences (target sentences for
    ``s2t``).
    """

    name = "mmr"

    def __init__(
        self,
        pool: AlignedPool,
        embedder: str | Embedder | None = None,
        *,
        lam: float = 0.5,
        candidates: int = 100,
        **options: Unpack[DenseOptions],
    ) -> None:
        super().__init__(pool, embedder, **options)
        if not 0.0 <= lam <= 1.0:
            raise InvalidInputError(f"MMR lambda={lam!r} is not allowed; use a number from 0 to 1")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise InvalidInputError(
                f"candidates={candidates!r} is not allowed; use a positive integer"
            )
        self.lam = float(lam)
        self.candidates = candidates

    def rank_vectors(
        self, query_vectors: np.ndarray, k: int, blocked: Blocked | None = None
    ) -> Ranking:
        depth = min(len(self.pool), max(k, self.candidates))
        first = super().rank_vectors(query_vectors, depth, blocked)
        content = self._side("target" if self.format == "s2t" else "source")
        picks = np.full((len(query_vectors), k), -1, dtype=np.int64)
        scores = np.full((len(query_vectors), k), -np.inf, dtype=np.float32)
        # Bound the (queries x depth x dim) gather to about 16M floats per block.
        for rows in row_chunks(len(query_vectors), depth * content.shape[1]):
            idx = first.indices[rows]
            vecs = content[np.maximum(idx, 0)]
            pos, rel = mmr_greedy(first.scores[rows].astype(np.float32), vecs, k, self.lam)
            picks[rows] = np.where(pos >= 0, np.take_along_axis(idx, np.maximum(pos, 0), 1), -1)
            scores[rows] = rel
        return Ranking(picks, scores)
