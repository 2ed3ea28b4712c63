"""``hybrid``: dense and BM25 fused, by reciprocal rank fusion, Borda or a weighted score sum.

The fusion is :func:`xling.core.fusion.fuse_rankings`: RRF (Cormack et al., 2009) gives a
passage ``1 / (c + rank)`` (1-based) from each list it is in, ``c = 60``; ``weighted`` adds
``weight × dense + (1 - weight) × bm25`` after scaling each list's scores to [0, 1] by its own
min and max (a passage missing from a list gets 0 there). Each list is the method's top
``depth`` under the same filter; ties go to the dense order.

The default is ``weighted`` with a dense share of 0.7: across languages BM25 matches little
(a German question has few words in common with an English manual), and RRF gives its list as
much say as the dense one. Measured by ``bench/documents.py`` (Debian Reference, questions in 7
languages, R@5): weighted 0.7 87.5, weighted 0.85 83.4 (on 256-token chunks), RRF 79.6, dense
alone 84.7.
"""

from __future__ import annotations

from typing import Unpack

import numpy as np

from xling.core.fusion import FUSIONS, FusionMethod, fuse_rankings
from xling.core.records import Hit
from xling.core.validation import check_choice, check_finite, check_positive_int
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.bm25 import BM25Options, BM25Retriever, hits_of
from xling.retrieval.dense import DenseRetriever
from xling.store.pool import Pool

__all__ = ["HybridRetriever", "FUSIONS"]


class HybridRetriever(Retriever):
    """Dense and BM25 results fused into one list.

    Args:
        pool: The pool.
        fusion: ``rrf``, ``borda`` or ``weighted``.
        weight: The dense share of ``weighted`` fusion, in [0, 1].
        depth: Results taken from each method (at least ``k`` is used).
        rrf_k: RRF's rank constant.
        task: ``"asymmetric"`` (question → passage) or ``"symmetric"``, for the dense side.
        **bm25: :class:`~xling.retrieval.bm25.BM25Retriever`'s ``k1``, ``b`` and ``variant``.
    """

    method = "hybrid"

    def __init__(
        self,
        pool: Pool,
        *,
        fusion: FusionMethod = "weighted",
        weight: float = 0.7,
        depth: int = 100,
        rrf_k: int = 60,
        task: Task = "asymmetric",
        **bm25: Unpack[BM25Options],
    ) -> None:
        super().__init__(pool, task=task)
        self.fusion = check_choice(fusion, "fusion", FUSIONS)
        self.weight = check_finite(weight, "weight", minimum=0.0, maximum=1.0)
        self.depth = check_positive_int(depth, "depth")
        self.rrf_k = check_positive_int(rrf_k, "rrf_k")
        self.dense = DenseRetriever(pool, task=task)
        self.bm25 = BM25Retriever(pool, **bm25)

    def prepare(self) -> None:
        """Builds or loads the BM25 side."""
        self.bm25.prepare()

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing fused score."""
        depth = max(k, self.depth)
        dense = self.dense.search(queries, depth, where)
        lexical = self.bm25.ranked(queries, depth, where)
        ranked: list[list[tuple[str, float]]] = []
        for d_hits, l_hits in zip(dense, lexical, strict=True):
            lists = [[(h.id, float(h.score or 0.0)) for h in d_hits], l_hits]
            # Every passage of either list numbered in first-seen order (dense first), so the
            # fusion's tie-break (lower number) is the dense order.
            ids = list(dict.fromkeys(rid for pairs in lists for rid, _ in pairs))
            if not ids:
                ranked.append([])
                continue
            number = {rid: i for i, rid in enumerate(ids)}
            fused = fuse_rankings(
                [np.array([[number[rid] for rid, _ in pairs]], dtype=np.int64) for pairs in lists],
                len(ids),
                k,
                self.fusion,
                rrf_k=self.rrf_k,
                scores=[np.array([[s for _, s in pairs]], dtype=np.float64) for pairs in lists],
                weights=(self.weight, 1 - self.weight),
            )
            ranked.append(
                [
                    (ids[i], float(score))
                    for i, score in zip(fused.indices[0], fused.scores[0], strict=True)
                    if i >= 0
                ]
            )
        known = {h.id: h for hits in dense for h in hits}
        missing = [[(i, s) for i, s in row if i not in known] for row in ranked]
        fetched = {h.id: h for row in hits_of(self.pool, missing) for h in row}
        return [
            [
                Hit(h.id, h.text, score, h.lang, h.metadata)
                for rid, score in row
                for h in [known.get(rid) or fetched.get(rid)]
                if h is not None
            ]
            for row in ranked
        ]
