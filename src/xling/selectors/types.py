"""Typed records of ICL example selection: examples, the selection config and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.numerics import MARGIN_KINDS, MarginKind
from xling.core.records import Example
from xling.core.validation import (
    check_choice,
    check_finite,
    check_non_negative_int,
    check_positive_int,
)
from xling.embedders import DEFAULT_EMBEDDER, SYMMETRIC_ROLES, SymmetricRoles
from xling.retrieval.bm25_index import DEFAULT_BM25
from xling.selectors.filters import POOL_FILTERS

__all__ = [
    "ORDERS",
    "DENSE_FORMATS",
    "DEFAULT_FILTERS",
    "SELECTION_SYMMETRIC_ROLES",
    "DenseFormat",
    "Example",
    "Order",
    "Selection",
    "SelectionConfig",
]

Order = Literal["nearest-last", "nearest-first"]
ORDERS: tuple[Order, ...] = get_args(Order)
DenseFormat = Literal["s2s", "s2t", "mix"]
DENSE_FORMATS: tuple[DenseFormat, ...] = get_args(DenseFormat)
DEFAULT_FILTERS: tuple[str, ...] = ("empty", "length-ratio", "language", "duplicates")
SELECTION_SYMMETRIC_ROLES: SymmetricRoles = "query"
"""The default pairing of queries and pool sentences in dense selection when the selector embeds
the pool itself (see :func:`xling.embedders.symmetric_role_pair`). A pool carrying stored vectors
of the selector's embedder (a Chroma pool's, passages) keeps ``document`` unless told otherwise,
so that nothing is embedded again. Measured with the bundled e5 (``bench/symmetric_roles.py``,
kNN-translation chrF++, FLORES eng→fra/deu/swh/wol, s2s): passage/passage 17.79, query/query
18.10, query/passage 16.62 (margin selector: 18.00, 18.20, 16.98)."""


@dataclass(frozen=True)
class SelectionConfig:
    """Everything that decides which examples a method picks; each method reads its fields.

    Attributes:
        method: The selection method, a registry name (see
            :func:`xling.selectors.available_selectors`).
        k: Examples per query.
        order: ``nearest-last`` puts the best example next to the query (ICL-MT's default);
            ``nearest-first`` reverses that (ICL-MT's ``--reverse``).
        embedder: Embedder spec for the dense strategies (``s2s``, ``s2t``, ``mix``, ``mmr``,
            ``margin``, ``borda``, ``rrf``).
        dense_format: What ``mmr``, ``margin`` and the fusions compare the query with: pool
            sources (``s2s``), pool targets (``s2t``) or both (``mix``).
        alpha: ``mix`` weight: ``alpha * sim(x, x_i) + (1 - alpha) * sim(x, y_i)``.
        symmetric_roles: The roles queries and pool sentences are embedded in for the dense
            strategies (:func:`xling.embedders.symmetric_role_pair`): ``document``, ``query``
            or ``query-document``; ``None`` for :data:`SELECTION_SYMMETRIC_ROLES`, or
            ``document`` over a pool's stored vectors.
        candidates: Depth of the first stage: BM25 candidates of ``r-bm25`` (100 in Agrawal et
            al. 2023), dense candidates of ``mmr``, list depth of ``borda``/``rrf``.
        recall_weight: ``r-bm25``: factor applied to query n-grams already covered (λ = 0.1).
        recall_threshold: ``r-bm25``: stop when the best n-gram recall score (0-100) is below
            this (0.01); the rest is filled in BM25 order.
        mmr_lambda: ``mmr``: weight of query similarity against redundancy (1 = plain dense).
        margin_neighbors: ``margin``: neighbours averaged in each direction (k of Artetxe &
            Schwenk 2019).
        margin_kind: ``ratio`` (cos / mean neighbourhood) or ``distance`` (cos - mean).
        rrf_k: ``rrf``: the rank constant (60 in Cormack et al. 2009).
        bm25_k1: BM25 term-frequency saturation.
        bm25_b: BM25 length normalisation.
        seed: Seed of ``random``.
        leakage_guard: Never pick a pool pair whose source or target is the query itself
            (after Unicode, case and space normalisation).
        filters: Pool quality filters applied before selection (see
            :data:`xling.selectors.POOL_FILTERS`); ``()`` for none.
        max_length_ratio: ``length-ratio`` filter: largest allowed ratio of token counts.
        batch_size: Queries embedded per step (progress is reported per step).
    """

    method: str = "s2s"
    k: int = 5
    order: Order = "nearest-last"
    embedder: str = DEFAULT_EMBEDDER
    dense_format: DenseFormat = "s2s"
    alpha: float = 0.5
    symmetric_roles: SymmetricRoles | None = None
    candidates: int = 100
    recall_weight: float = 0.1
    recall_threshold: float = 0.01
    mmr_lambda: float = 0.5
    margin_neighbors: int = 4
    margin_kind: MarginKind = "ratio"
    rrf_k: int = 60
    bm25_k1: float = DEFAULT_BM25.k1
    bm25_b: float = DEFAULT_BM25.b
    seed: int = 0
    leakage_guard: bool = True
    filters: tuple[str, ...] = ()
    max_length_ratio: float = 3.0
    batch_size: int = 256

    def __post_init__(self) -> None:
        from xling.selectors.registry import SELECTORS  # the registry imports this module

        if self.method not in SELECTORS:
            raise UnknownSpecError(
                f"unknown selection method {self.method!r}; allowed: {', '.join(SELECTORS)}"
            )
        if not isinstance(self.embedder, str) or not self.embedder.strip():
            raise InvalidInputError(
                f"embedder={self.embedder!r:.40} is not allowed; use an embedder spec string "
                "such as 'e5-small-q4' (pass an Embedder object to get_selector instead)"
            )
        check_positive_int(self.k, "k")
        check_choice(self.order, "order", ORDERS)
        check_choice(self.dense_format, "dense_format", DENSE_FORMATS)
        if self.symmetric_roles is not None:
            check_choice(self.symmetric_roles, "symmetric_roles", SYMMETRIC_ROLES)
        check_choice(self.margin_kind, "margin_kind", MARGIN_KINDS)
        for unit in ("alpha", "recall_weight", "mmr_lambda"):
            check_finite(getattr(self, unit), unit, minimum=0.0, maximum=1.0)
        for count in ("candidates", "margin_neighbors", "rrf_k", "batch_size"):
            check_positive_int(getattr(self, count), count)
        if not self.recall_threshold >= 0:
            raise InvalidInputError(
                f"recall_threshold={self.recall_threshold!r} is not allowed; use a number >= 0"
            )
        if not self.max_length_ratio >= 1:
            raise InvalidInputError(
                f"max_length_ratio={self.max_length_ratio!r} is not allowed; use a number >= 1"
            )
        check_non_negative_int(self.seed, "seed")
        check_finite(self.bm25_k1, "bm25_k1", minimum=0.0)
        check_finite(self.bm25_b, "bm25_b", minimum=0.0, maximum=1.0)
        if isinstance(self.filters, str) or not isinstance(self.filters, tuple | list):
            raise InvalidInputError(
                f"filters={self.filters!r:.40} must be a tuple of filter names, not a "
                f"{type(self.filters).__name__}"
            )
        for name in self.filters:
            if name not in POOL_FILTERS:
                raise UnknownSpecError(
                    f"unknown pool filter {name!r}; allowed: {', '.join(POOL_FILTERS)}"
                )
        object.__setattr__(self, "filters", tuple(self.filters))


@dataclass(frozen=True)
class Selection:
    """What :func:`xling.selectors.select_examples` returns.

    Attributes:
        queries: The queries, in input order.
        examples: For each query, its examples in prompt order.
        config: The configuration used.
        pool_size: Pairs in the pool after filtering.
        filtered: Pairs each pool filter dropped, by filter name.
        prompts: For each query, its few-shot translation prompt (empty when built without
            one).
    """

    queries: list[str]
    examples: list[list[Example]]
    config: SelectionConfig
    pool_size: int
    filtered: dict[str, int] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready record per query: the query, its examples in prompt order (scores
        rounded to 6 digits) and its prompt; the ``xling select`` and server output."""
        prompts = self.prompts or [""] * len(self.queries)
        return [
            {
                "query": query,
                "examples": [
                    {
                        "row": e.row,
                        "source": e.source,
                        "target": e.target,
                        "score": round(e.score, 6),
                    }
                    for e in examples
                ],  # fmt: skip
                "prompt": prompt,
            }
            for query, examples, prompt in zip(self.queries, self.examples, prompts, strict=True)
        ]
