"""Rank fusion of a dense and a BM25 ranking: Borda count and reciprocal rank fusion.

Each ranker contributes its top ``depth`` list, fused by :func:`xling.core.fusion.fuse_rankings`
(Borda: ``depth - r`` points for 0-based rank ``r``; RRF: ``1 / (c + r + 1)``, c = 60); ties go
to the earlier pool pair.
"""

from __future__ import annotations

from typing import Literal, Unpack

from xling.core.fusion import fuse_rankings
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.validation import check_choice, check_positive_int
from xling.embedders import Embedder, SymmetricRoles
from xling.retrieval.bm25_index import DEFAULT_BM25, BM25Method
from xling.selectors._options import SelectorOptions
from xling.selectors.base import Blocked, Ranking, Selector
from xling.selectors.dense import DenseSelector
from xling.selectors.lexical import BM25Selector
from xling.selectors.types import DenseFormat

__all__ = ["FUSION_METHODS", "FusionMethod", "FusionSelector"]

FusionMethod = Literal["borda", "rrf"]
# The rank-only fusions of xling.core.fusion (a selector's scores are not on one scale).
FUSION_METHODS: tuple[FusionMethod, ...] = ("borda", "rrf")


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
        symmetric_roles: The roles of queries and pool sentences on the dense side.
        **options: :class:`~xling.selectors.base.Selector`'s ``order`` and ``leakage_guard``.

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
        k1: float = DEFAULT_BM25.k1,
        b: float = DEFAULT_BM25.b,
        bm25_method: BM25Method = DEFAULT_BM25.method,
        batch_size: int = 256,
        symmetric_roles: SymmetricRoles | None = None,
        **options: Unpack[SelectorOptions],
    ) -> None:
        super().__init__(pool, **options)
        self.method: FusionMethod = check_choice(method, "fusion method", FUSION_METHODS)
        self.name = method
        self.depth = check_positive_int(depth, "depth")
        self.rrf_k = check_positive_int(rrf_k, "rrf_k")
        # The parts rank only; this selector applies the leakage guard once for both.
        self.dense = DenseSelector(
            pool, embedder, format=format, alpha=alpha, batch_size=batch_size,
            symmetric_roles=symmetric_roles, leakage_guard=False,
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
        fused = fuse_rankings(
            [dense.indices, lexical.indices], len(self.pool), k, self.method, rrf_k=self.rrf_k
        )
        return Ranking(fused.indices, fused.scores)
