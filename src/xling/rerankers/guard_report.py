"""Whether a reranker helps on the user's own judged queries, and which guard weight to use.

:func:`guard_report` takes the results of a reranker run with the guard off and the user's
relevance judgements, and scores, per measure (nDCG@10, MRR@10 and Recall@depth, trec_eval's
definitions, :mod:`xling.eval.ir_metrics`): the first-stage order, the reranker's own order,
and the guarded order (:func:`~xling.rerankers.guard.fuse_orders`) at each weight of a grid.

Recommendation rule, on nDCG@10 (``d``: the first stage's, ``g(w)``: the order at weight
``w``, ``g(1.0)`` being the reranker's own):

1. the reranker helps when some weight scores above the first stage (``g(w) > d``): the
   weight with the best nDCG@10 is recommended (the largest such weight on ties);
2. otherwise the largest weight that costs at most ``tolerance`` (0.01) is recommended
   (``g(w) >= d - tolerance``): the reranker does not help here, but that much of it is harmless;
3. otherwise none: keep the first-stage order (do not rerank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InvalidInputError
from xling.eval.ir_metrics import Qrels, evaluate_run, read_qrels
from xling.rerankers.guard import DEFAULT_GUARD_K, check_guard, fuse_orders
from xling.rerankers.records import RerankResult

__all__ = ["GUARD_GRID", "GuardReport", "GuardRow", "guard_report"]

GUARD_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""The weights the report tries (1.0: the reranker's own order)."""

Verdict = Literal["helps", "harmless", "hurts"]


@dataclass(frozen=True)
class GuardRow:
    """One order's scores.

    Attributes:
        label: ``first stage``, ``reranker`` or ``guard w=0.5``.
        weight: The reranker's weight (``None``: the first stage; 1.0: the reranker's own).
        metrics: Measure name → mean over the judged queries.
    """

    label: str
    weight: float | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class GuardReport:
    """The report of :func:`guard_report`.

    Attributes:
        reranker: The reranker's name.
        measures: The measure names, in column order (``nDCG@10``, ``RR@10``, ``R@40``).
        rows: The first stage, the reranker's own order, then each guard weight.
        recommended: The recommended guard weight, or ``None`` (keep the first stage).
        verdict: ``helps`` (rule 1), ``harmless`` (rule 2) or ``hurts`` (rule 3).
        queries: The judged queries scored.
        unjudged: Query ids of results with no judgements (left out of every row).
        tolerance: The nDCG@10 loss rule 2 accepts.
        k: The fusion's rank offset.
    """

    reranker: str
    measures: list[str]
    rows: list[GuardRow]
    recommended: float | None
    verdict: Verdict
    queries: int
    unjudged: list[str] = field(default_factory=list)
    tolerance: float = 0.01
    k: int = DEFAULT_GUARD_K

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (what ``xling rerank --report`` writes)."""
        return {
            "reranker": self.reranker,
            "measures": list(self.measures),
            "rows": [{"label": r.label, "weight": r.weight, **r.metrics} for r in self.rows],
            "recommended_guard": self.recommended,
            "verdict": self.verdict,
            "queries": self.queries,
            "unjudged": list(self.unjudged),
            "tolerance": self.tolerance,
            "guard_k": self.k,
        }

    def reason(self) -> str:
        """One line on the recommendation and the rule behind it."""
        first = self.rows[0].metrics["nDCG@10"]
        if self.verdict == "helps":
            return (
                f"the reranker helps: guard {self.recommended:g} has the best nDCG@10 (first "
                f"stage {first:.4f}); use --guard {self.recommended:g}"
            )
        if self.verdict == "harmless":
            return (
                f"the reranker does not beat the first stage (nDCG@10 {first:.4f}); guard "
                f"{self.recommended:g} is the largest weight within {self.tolerance:g} of it"
            )
        return (
            f"every weight costs more than {self.tolerance:g} nDCG@10 against the first stage "
            f"({first:.4f}): keep the first-stage order"
        )


def _run(results: Sequence[RerankResult], orders: Sequence[Sequence[int]]) -> dict:
    """A run (qid → doc id → score) from orders given as first-stage positions."""
    run: dict[str, dict[str, float]] = {}
    for result, order in zip(results, orders, strict=True):
        by_position = {c.first_stage_rank: c.id for c in result.candidates}
        n = len(order)
        run[str(result.qid)] = {by_position[p]: float(n - place) for place, p in enumerate(order)}
    return run


def guard_report(
    results: Sequence[RerankResult],
    qrels: Qrels | str | Path,
    *,
    weights: Sequence[float] = GUARD_GRID,
    k: int = DEFAULT_GUARD_K,
    tolerance: float = 0.01,
) -> GuardReport:
    """Scores the first stage, the reranker and the guard at each weight on judged queries.

    Args:
        results: A reranker's results with the guard off (each with its ``qid``).
        qrels: Judgements (query → document → grade) or their file (TREC or JSONL).
        weights: The guard weights to try, each in (0, 1].
        k: The fusion's rank offset.
        tolerance: The nDCG@10 loss rule 2 of the module's rule accepts.

    Returns:
        The :class:`GuardReport`.

    Raises:
        InvalidInputError: When a result was guarded or has no qid, no result's query is
            judged, or a weight is not in (0, 1].
    """
    if isinstance(qrels, str | Path):
        qrels = read_qrels(qrels)
    results = list(results)
    if not results:
        raise InvalidInputError("no rerank results to evaluate; give at least one")
    for weight in weights:
        check_guard(weight, k)
    for result in results:
        if result.guard is not None:
            raise InvalidInputError(
                f"query {result.qid!r} was reranked with guard={result.guard:g}; evaluate a "
                "run with the guard off (the report fuses each weight itself)"
            )
        if result.qid is None:
            raise InvalidInputError(
                f"query {result.query[:60]!r} has no qid; give each request a qid to match qrels"
            )
    judged = [r for r in results if str(r.qid) in qrels]
    unjudged = [str(r.qid) for r in results if str(r.qid) not in qrels]
    if not judged:
        raise InvalidInputError(
            f"none of the {len(results)} queries has judgements in the qrels (qids "
            f"{', '.join(unjudged[:5])}{'...' if len(unjudged) > 5 else ''}); check the qids"
        )
    depth = max(len(r.candidates) for r in judged)
    measures = ["nDCG@10", "RR@10", f"R@{depth}"]
    mine = {str(r.qid): qrels[str(r.qid)] for r in judged}
    own = [[c.first_stage_rank for c in r.candidates] for r in judged]

    def scored(orders: Sequence[Sequence[int]]) -> dict[str, float]:
        return evaluate_run(_run(judged, orders), mine, measures).metrics

    rows = [GuardRow("first stage", None, scored([sorted(o) for o in own]))]
    rows.append(GuardRow("reranker", 1.0, scored(own)))
    for weight in sorted(set(weights) - {1.0}):
        fused = [fuse_orders(o, weight, k) for o in own]
        rows.append(GuardRow(f"guard w={weight:g}", weight, scored(fused)))
    first = rows[0].metrics["nDCG@10"]
    weighted = [r for r in rows if r.weight is not None]
    best = max(r.metrics["nDCG@10"] for r in weighted)
    recommended: float | None
    verdict: Verdict
    if best > first:
        recommended = max(r.weight for r in weighted if r.metrics["nDCG@10"] == best)  # type: ignore[type-var]
        verdict = "helps"
    else:
        within = [r.weight for r in weighted if r.metrics["nDCG@10"] >= first - tolerance]
        recommended = max(within) if within else None  # type: ignore[type-var]
        verdict = "harmless" if within else "hurts"
    return GuardReport(
        reranker=judged[0].reranker,
        measures=measures,
        rows=rows,
        recommended=recommended,
        verdict=verdict,
        queries=len(judged),
        unjudged=unjudged,
        tolerance=tolerance,
        k=k,
    )
