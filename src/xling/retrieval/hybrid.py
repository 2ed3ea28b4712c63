"""``hybrid``: dense and BM25 fused, by reciprocal rank fusion or a weighted score sum.

RRF (Cormack et al., 2009) gives a passage ``1 / (c + rank)`` (1-based) from each list it is
in, ``c = 60``; ``weighted`` adds ``weight × dense + (1 - weight) × bm25`` after scaling each
list's scores to [0, 1] by its own min and max (a passage missing from a list gets 0 there).
Each list is the method's top ``depth`` under the same filter; ties go to the dense order.
"""

from __future__ import annotations

from xling.core.records import Hit
from xling.core.validation import check_choice, check_finite, check_positive_int
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.bm25 import BM25Retriever, hits_of
from xling.retrieval.bm25_index import BM25Method
from xling.retrieval.dense import DenseRetriever
from xling.store.pool import Pool

__all__ = ["HybridRetriever", "FUSIONS"]

FUSIONS = ("rrf", "weighted")


def _scaled(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {k: (v - low) / span if span > 0 else 1.0 for k, v in scores.items()}


class HybridRetriever(Retriever):
    """Dense and BM25 results fused into one list.

    Args:
        pool: The pool.
        fusion: ``rrf`` or ``weighted``.
        weight: The dense share of ``weighted`` fusion, in [0, 1].
        depth: Results taken from each method (at least ``k`` is used).
        rrf_k: RRF's rank constant.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        variant: BM25 variant.
        task: ``"asymmetric"`` (question → passage) or ``"symmetric"``, for the dense side.
    """

    method = "hybrid"

    def __init__(
        self,
        pool: Pool,
        *,
        fusion: str = "rrf",
        weight: float = 0.5,
        depth: int = 100,
        rrf_k: int = 60,
        k1: float = 1.5,
        b: float = 0.75,
        variant: BM25Method = "lucene",
        task: Task = "asymmetric",
    ) -> None:
        super().__init__(pool, task=task)
        self.fusion = check_choice(fusion, "fusion", FUSIONS)
        self.weight = check_finite(weight, "weight", minimum=0.0, maximum=1.0)
        self.depth = check_positive_int(depth, "depth")
        self.rrf_k = check_positive_int(rrf_k, "rrf_k")
        self.dense = DenseRetriever(pool, task=task)
        self.bm25 = BM25Retriever(pool, k1=k1, b=b, variant=variant)

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
            d_ids = [h.id for h in d_hits]
            l_ids = [i for i, _ in l_hits]
            # Every passage of either list, in first-seen order (dense first): the tie-break.
            first = {rid: i for i, rid in enumerate(dict.fromkeys(d_ids + l_ids))}
            if self.fusion == "rrf":
                fused: dict[str, float] = {}
                for ids in (d_ids, l_ids):
                    for rank, rid in enumerate(ids, 1):
                        fused[rid] = fused.get(rid, 0.0) + 1.0 / (self.rrf_k + rank)
            else:
                ds = _scaled({h.id: float(h.score or 0.0) for h in d_hits})
                ls = _scaled(dict(l_hits))
                fused = {
                    rid: self.weight * ds.get(rid, 0.0) + (1 - self.weight) * ls.get(rid, 0.0)
                    for rid in first
                }
            order = sorted(fused, key=lambda rid: (-fused[rid], first[rid]))[:k]
            ranked.append([(rid, fused[rid]) for rid in order])
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
