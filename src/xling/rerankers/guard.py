"""The weak-judge guard: the reranker's order fused with the first-stage order.

A weak LLM can make a good first-stage ranking worse (on this project's FLORES task the bundled
135M model's listwise order scores nDCG@10 0.82 against dense retrieval's 0.98). The guard
bounds the damage: candidates are ordered by a weighted reciprocal-rank fusion (Cormack et
al. 2009) of their two ranks,

    fused(c) = w / (k + rank_reranker(c)) + (1 - w) / (k + rank_first_stage(c))

with 1-based ranks, ``w`` the reranker's weight and ``k`` the rank offset (60). A candidate
both orders put high stays high; one only the reranker likes moves up, but less far. Ties go
to the reranker's order.

Each reranker has its own default weight (:data:`FITTED_GUARDS`, used where the guard is
``"fitted"``, the default of the answer pipeline and the service), fitted by
``bench/fit_guard.py`` on FLORES dev rows 100-119 (English queries, dense top-40 from a pool of
their French, German, Swahili and Wolof translations; disjoint from the 20 test queries of
``bench/llamaindex_rerank.py`` and ``bench/rerank.py --judges``) with the bundled SmolLM2-135M,
by the rule: **the largest weight of the grid 0.05, 0.1, ..., 0.9, 1.0 whose fused nDCG@10 is
at least dense's minus 0.01**. Dense scores 0.9907 there; fused nDCG@10 at some weights:

================  ======  ======  ======  ======  ======  ======  ======  ========
reranker          0.05    0.3     0.5     0.6     0.7     0.8     1.0     weight
================  ======  ======  ======  ======  ======  ======  ======  ========
listwise          0.9907  0.9907  0.9907  0.9907  0.9901  0.9859  0.8927  0.8
first             0.9907  0.9899  0.9863  0.9841  0.9777  0.9520  0.8611  0.6
tdpart            0.9907  0.9907  0.9899  0.9877  0.9798  0.9564  0.9049  0.6
setwise-heapsort  0.9876  0.9867  0.9831  0.9706  0.9216  0.8616  0.7665  0.5
pointwise         0.9859  0.8556  0.5515  0.4159  0.3334  0.2526  0.1567  0.05
================  ======  ======  ======  ======  ======  ======  ======  ========

(setwise-heapsort was rerun after its groups were shown in first-stage order; the index
returned near-ties in another order by then, so its dense is 0.9876.)

Every other reranker (PRP, whose 114 calls a query were fitted on 5 dev queries only; the
reasoning preset; cross-encoders and scoring servers, whose models are the user's) gets
:data:`DEFAULT_GUARD`, 0.05: the weight every fitted reranker passes with, so an unknown judge
is trusted least. A cascade takes its last stage's weight. No reranker beats dense on this
task with the bundled model, so these weights only bound the damage; with a stronger judge,
``xling rerank --evaluate QRELS`` (:mod:`xling.rerankers.guard_report`) recommends a weight on
the user's own data, and ``guard=W`` (``--guard``, ``--rerank-guard``) sets it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xling.core.errors import InvalidInputError

__all__ = [
    "FITTED",
    "FITTED_GUARDS",
    "GuardSetting",
    "default_guard",
    "resolve_guard",
    "DEFAULT_GUARD",
    "DEFAULT_GUARD_K",
    "check_guard",
    "fuse_orders",
    "parse_guard",
    "parse_guard_setting",
]

DEFAULT_GUARD = 0.05
"""The weight of a reranker without a fitted one (the weight every fitted reranker passes with;
see the module's docstring)."""

FITTED = "fitted"
"""The guard setting that picks each reranker's own fitted weight (:func:`default_guard`)."""

FITTED_GUARDS: dict[str, float] = {
    "listwise": 0.8,
    "first": 0.6,
    "tdpart": 0.6,
    "setwise-heapsort": 0.5,
    "pointwise": 0.05,
}
"""Each reranker's weight fitted on the dev set (the module's docstring gives the rule)."""

GuardSetting = float | str | None
"""A guard as a user sets it: a weight in (0, 1], ``"fitted"``, or ``None`` (off)."""

DEFAULT_GUARD_K = 60
"""The fusion's rank offset ``k``."""


def _is_weight(value: object) -> bool:
    """Whether ``value`` is a number in (0, 1] (a bool is not)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and 0 < value <= 1
    )


def check_guard(weight: object, k: object) -> None:
    """Raises unless ``weight`` is ``None`` or a number in (0, 1] and ``k`` an int >= 0."""
    if weight is not None and not _is_weight(weight):
        raise InvalidInputError(
            f"guard={weight!r} is not allowed; use the reranker's weight in (0, 1] (1: the "
            "reranker's order as it is) or None to turn the guard off"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InvalidInputError(f"guard_k={k!r} is not allowed; use an integer >= 0")


def parse_guard(value: object, name: str = "guard") -> float | None:
    """A guard weight from a flag or a config key: a number in (0, 1], or ``off`` (``None``).

    ``"fitted"`` is read by :func:`parse_guard_setting`, where the reranker is not known yet.

    Args:
        value: ``None``, ``"off"``, a number, or a number's text (``"0.3"``).
        name: The flag or key, for the message (``--guard``, ``rerank_guard``).

    Raises:
        InvalidInputError: Naming the value and what is allowed.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return None
    weight: object = value
    if isinstance(value, str):
        try:
            weight = float(value)
        except ValueError:
            weight = value
    if not _is_weight(weight):
        raise InvalidInputError(
            f"{name} {value!r} is not allowed; use the reranker's weight in (0, 1] (1: the "
            "reranker's order as it is), fitted (each reranker's own) or off"
        )
    return float(weight)  # type: ignore[arg-type]


def parse_guard_setting(value: object, name: str = "guard") -> GuardSetting:
    """A guard setting from a flag or a config key: ``fitted`` (kept as it is, resolved per
    reranker by :func:`resolve_guard`), a weight, or ``off`` (``None``).

    Raises:
        InvalidInputError: Naming the value and what is allowed.
    """
    if isinstance(value, str) and value.strip().lower() == FITTED:
        return FITTED
    return parse_guard(value, name)


def default_guard(spec: str) -> float:
    """The fitted weight of a reranker spec; a cascade's is its last stage's.

    Args:
        spec: A reranker spec (``listwise``, ``cascade:ce:/models/bge→listwise``).

    Returns:
        Its weight in :data:`FITTED_GUARDS`, else :data:`DEFAULT_GUARD`.
    """
    if spec.startswith("cascade:"):
        # The last stage orders the top: cut at each first arrow (of either spelling) in turn,
        # as the cascade nests a→b→c as a → cascade:b→c.
        while cuts := [(i, arrow) for arrow in ("→", "->") if (i := spec.find(arrow)) >= 0]:
            i, arrow = min(cuts)
            spec = spec[i + len(arrow) :].strip()
    return FITTED_GUARDS.get(spec, DEFAULT_GUARD)


def resolve_guard(setting: GuardSetting, spec: str) -> float | None:
    """The weight a guard setting gives the reranker ``spec``: its fitted weight for
    ``"fitted"``, else the setting itself (a weight, or ``None``: off)."""
    if setting == FITTED:
        return default_guard(spec)
    return parse_guard(setting)


def fuse_orders(order: Sequence[int], weight: float, k: int = DEFAULT_GUARD_K) -> list[int]:
    """The reranker's order fused with the first-stage order.

    Args:
        order: The reranker's order as first-stage positions, best first (a permutation of
            ``0..n-1``).
        weight: The reranker's weight ``w`` in (0, 1].
        k: The rank offset.

    Returns:
        The fused order, as first-stage positions, best first.
    """
    check_guard(weight, k)
    place = {position: rank for rank, position in enumerate(order)}

    def fused(position: int) -> float:
        return weight / (k + place[position] + 1) + (1 - weight) / (k + position + 1)

    return sorted(order, key=lambda position: (-fused(position), place[position]))
