"""The weak-judge guard: the reranker's order fused with the first-stage order.

A weak LLM can make a good first-stage ranking worse (on this project's FLORES task the bundled
135M model's listwise order scores nDCG@10 0.82 against dense retrieval's 0.98). The guard
bounds the damage: candidates are ordered by a weighted reciprocal-rank fusion (Cormack et
al. 2009) of their two ranks,

    fused(c) = w / (k + rank_reranker(c)) + (1 - w) / (k + rank_first_stage(c))

with 1-based ranks, ``w`` the reranker's weight and ``k`` the rank offset (60). A candidate
both orders put high stays high; one only the reranker likes moves up, but less far. Ties go
to the reranker's order.

The default weight (:data:`DEFAULT_GUARD`, 0.05) was fitted by ``bench/fit_guard.py`` on FLORES
dev rows 100-119 (English queries, dense top-40 from a pool of their French, German, Swahili
and Wolof translations; disjoint from ``bench/llamaindex_rerank.py``'s 20 test queries) with
the rule: the largest weight of the grid 0.05, 0.1, ..., 0.9, 1.0 for which every LLM
reranker's fused nDCG@10 is at least dense's minus 0.01. With the bundled SmolLM2-135M
(dense 0.9907; PRP heapsort on the first 5 queries, dense 0.9664 there):

==============  ======  ======  ======  ======  ======  ======
reranker        0.05    0.1     0.3     0.5     0.6     1.0
==============  ======  ======  ======  ======  ======  ======
listwise        0.9907  0.9907  0.9907  0.9907  0.9907  0.8927
first           0.9907  0.9907  0.9899  0.9863  0.9841  0.8611
tdpart          0.9907  0.9907  0.9907  0.9899  0.9877  0.9049
prp-heapsort    0.9664  0.9664  0.9664  0.9664  0.9664  0.3904
pointwise       0.9859  0.9701  0.8556  0.5515  0.4159  0.1567
==============  ======  ======  ======  ======  ======  ======

The bundled model's pointwise order is no better than a random one (0.17), so it alone holds
the weight down to 0.05; without it the rule gives 0.6. No reranker beats dense there, so the
default only bounds the damage: with a stronger judge, ``xling rerank --evaluate QRELS``
(:mod:`xling.rerankers.guard_report`) recommends a weight on the user's own data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xling.core.errors import InvalidInputError

__all__ = ["DEFAULT_GUARD", "DEFAULT_GUARD_K", "check_guard", "fuse_orders", "parse_guard"]

DEFAULT_GUARD = 0.05
"""The reranker's weight where the answer pipeline and the service turn the guard on (fitted on
a dev set, see the module's docstring)."""

DEFAULT_GUARD_K = 60
"""The fusion's rank offset ``k``."""


def check_guard(weight: object, k: object) -> None:
    """Raises unless ``weight`` is ``None`` or a number in (0, 1] and ``k`` an int >= 0."""
    if weight is not None and (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)
        or not 0 < weight <= 1
    ):
        raise InvalidInputError(
            f"guard={weight!r} is not allowed; use the reranker's weight in (0, 1] (1: the "
            "reranker's order as it is) or None to turn the guard off"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InvalidInputError(f"guard_k={k!r} is not allowed; use an integer >= 0")


def parse_guard(value: object, name: str = "guard") -> float | None:
    """A guard weight from a flag or a config key: a number in (0, 1], or ``off`` (``None``).

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
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)
        or not 0 < weight <= 1
    ):
        raise InvalidInputError(
            f"{name} {value!r} is not allowed; use the reranker's weight in (0, 1] (1: the "
            "reranker's order as it is) or off"
        )
    return float(weight)


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
