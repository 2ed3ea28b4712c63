"""Relevance probabilities of reranked candidates: ``p`` of "this passage is relevant".

A reranker's order says which candidate is better, not whether any is good; a score threshold
(Dify's ``score_threshold``, ``p >= 0.5``) needs a probability. Each kind of reranker gets one:

* ``pointwise`` has its own score, ``P(yes) / (P(yes) + P(no))`` of the first answer token;
  it is Platt-scaled: ``p = sigmoid(a + b·logit(P(yes)))`` (``b >= 0``).
* ``probability`` is for rerankers whose score already is a probability (cross-encoders: the
  sigmoid of the model's logit, or a scoring server's probability): ``p`` is the score itself
  (clipped to ``[0, 1]``), with no fitted constants.
* ``listwise``, ``first`` and ``pairwise`` give only an order. ``p = sigmoid(a + b·s + c·r/n)``
  of the candidate's first-stage score ``s`` (read as a cosine similarity: the ``Hit.score`` of
  ``dense`` retrieval; ``first_stage="rank"`` on the reranker ignores scores of other kinds)
  and its new 0-based rank ``r`` among ``n`` (``b >= 0``, ``c <= 0``: a
  better first-stage score or a better new rank never lowers ``p``). When any candidate has no
  first-stage score (the service's ``/rerank`` gets bare documents), the rank-only form
  ``p = sigmoid(a' + c'·r/n)`` with its own constants is used for the whole list.

Down a reranked list ``p`` is made non-increasing (each value at most the one above it), so
the probabilities never contradict the reranker's order.

The constants come from ``bench/calibrate_rerank.py``: logistic regression on the project's
cross-lingual FLORES relevance data (English FLORES dev queries, rows 0-19; each with its dense
top 20 from the French, German, Swahili and Wolof translations of rows 0-399; relevant = the
query's own translations), reranked by SmolLM2-135M-Instruct on vLLM (greedy), checked on rows
20-39 (see that script's docstring for the figures). They belong to that model and to cosine
scores of e5-sized embedders; another model or first-stage score needs its own fit. Every
fitted list had 20 candidates, so ``r/n`` is measured there only: on short lists the rank-only
form is harsh (the second of two documents gets 0.001 under the listwise constants).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from xling.core.errors import InvalidInputError

__all__ = [
    "CALIBRATIONS",
    "Calibration",
    "CalibrationKind",
    "relevance_probability",
    "relevance_probabilities",
]

CalibrationKind = Literal["listwise", "first", "pairwise", "pointwise", "probability"]


@dataclass(frozen=True)
class Calibration:
    """Constants of one reranker kind's mapping to a probability.

    Attributes:
        form: ``platt`` (of the reranker's own probability), ``order`` (of first-stage
            score and new rank) or ``identity`` (the reranker's score is the probability).
        intercept: ``a``.
        score_weight: ``b``: on ``logit(P(yes))`` (``platt``) or on the first-stage cosine.
        rank_weight: ``c``: on the rank fraction ``r/n`` (``order`` only).
        rank_only_intercept: ``a'`` of the rank-only form (``order`` only).
        rank_only_weight: ``c'`` of the rank-only form (``order`` only).
        source: Where the constants come from.
    """

    form: Literal["platt", "order", "identity"]
    intercept: float
    score_weight: float
    rank_weight: float = 0.0
    rank_only_intercept: float = 0.0
    rank_only_weight: float = 0.0
    source: str = ""


_BENCH = "bench/calibrate_rerank.py, FLORES dev rows 0-19 (dense top 20), SmolLM2-135M-Instruct"

# Fitted by bench/calibrate_rerank.py (see the module docstring); rerun it to refit.
CALIBRATIONS: dict[str, Calibration] = {
    "listwise": Calibration("order", -115.2347, 137.585, -18.483, 3.3702, -19.9418, _BENCH),
    "first": Calibration("order", -137.4883, 163.033, -10.2865, 1.0848, -7.8092, _BENCH),
    "pointwise": Calibration("platt", 1.1439, 1.2, source=_BENCH),
}
CALIBRATIONS["probability"] = Calibration(
    "identity", 0.0, 1.0, source="the reranker's own probability (a cross-encoder's sigmoid)"
)
# No pairwise run fits in the bench's time budget: PRP orders borrow the listwise constants.
CALIBRATIONS["pairwise"] = CALIBRATIONS["listwise"]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _calibration(kind: str | Calibration) -> Calibration:
    if isinstance(kind, Calibration):
        return kind
    try:
        return CALIBRATIONS[kind]
    except KeyError:
        raise InvalidInputError(
            f"unknown calibration kind {kind!r}; use one of: {', '.join(sorted(CALIBRATIONS))}"
        ) from None


def relevance_probability(
    kind: str | Calibration,
    *,
    rank: int,
    n: int,
    score: float | None = None,
    first_stage_score: float | None = None,
) -> float:
    """The probability that one reranked candidate is relevant (before the monotone pass).

    Args:
        kind: ``listwise``, ``first``, ``pairwise``, ``pointwise`` or ``probability``
            (:data:`CALIBRATIONS`), or constants of one's own.
        rank: The candidate's 0-based place in the reranked list.
        n: The list's length.
        score: The reranker's own score (``pointwise``: ``P(yes)``; clipped to
            ``[1e-6, 1 - 1e-6]`` so a generated yes/no of 1 or 0 stays finite;
            ``probability``: the probability itself, clipped to ``[0, 1]``).
        first_stage_score: The first-stage cosine (``order`` kinds); ``None``: rank-only form.

    Raises:
        InvalidInputError: For an unknown kind, a rank outside ``0..n-1``, or a ``pointwise``
            or ``probability`` candidate without its score.
    """
    cal = _calibration(kind)
    if not 0 <= rank < n:
        raise InvalidInputError(f"rank {rank} is not allowed for a list of {n}; use 0..{n - 1}")
    if cal.form == "identity":
        if score is None:
            raise InvalidInputError(f"a {kind} candidate needs its score, a probability")
        return min(max(float(score), 0.0), 1.0)
    if cal.form == "platt":
        if score is None:
            raise InvalidInputError(f"a {kind} candidate needs its score, P(yes), to be mapped")
        p = min(max(float(score), 1e-6), 1 - 1e-6)
        return _sigmoid(cal.intercept + cal.score_weight * math.log(p / (1 - p)))
    fraction = rank / n
    if first_stage_score is None:
        return _sigmoid(cal.rank_only_intercept + cal.rank_only_weight * fraction)
    return _sigmoid(
        cal.intercept + cal.score_weight * float(first_stage_score) + cal.rank_weight * fraction
    )


def relevance_probabilities(
    kind: str | Calibration,
    scores: Sequence[float | None],
    first_stage_scores: Sequence[float | None],
) -> list[float]:
    """The probabilities of a reranked list, best first, made non-increasing down the list.

    Args:
        kind: The reranker kind (see :func:`relevance_probability`).
        scores: The reranker's scores, best first (used by ``pointwise`` and ``probability``).
        first_stage_scores: The candidates' first-stage scores in the same order; if any is
            ``None``, the whole list takes the rank-only form.

    Returns:
        One probability per candidate, each at most the one before it.
    """
    n = len(scores)
    if len(first_stage_scores) != n:
        raise InvalidInputError(
            f"first_stage_scores has {len(first_stage_scores)} items but scores has {n}"
        )
    rank_only = any(s is None for s in first_stage_scores)
    out: list[float] = []
    for rank, (score, first) in enumerate(zip(scores, first_stage_scores, strict=True)):
        p = relevance_probability(
            kind, rank=rank, n=n, score=score, first_stage_score=None if rank_only else first
        )
        out.append(min(p, out[-1]) if out else p)
    return out
