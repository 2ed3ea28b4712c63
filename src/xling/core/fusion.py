"""Rank fusion: several ranked lists of the same items into one (RRF, Borda, weighted scores).

One implementation for the hybrid retriever (dense + BM25 passages) and the fusion selector
(dense + BM25 pool pairs). Each list gives an item points by its 0-based rank ``r``:

* ``rrf`` (Cormack et al., 2009): ``1 / (c + r + 1)``, ``c = 60`` by default;
* ``borda``: ``depth - r``, ``depth`` the list's length;
* ``weighted``: ``weight × scaled score``, each list's scores scaled to [0, 1] by its own min
  and max (a list whose scores are all equal gives 1).

Points add up across lists, so items several lists like rise; an item missing from a list gets
nothing there, and an item in no list is never returned. Ties go to the lower item index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, get_args

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.numerics import top_k
from xling.core.validation import check_choice, check_positive_int

__all__ = ["FUSIONS", "RRF_K", "Fused", "FusionMethod", "fuse_rankings"]

FusionMethod = Literal["rrf", "borda", "weighted"]
FUSIONS: tuple[FusionMethod, ...] = get_args(FusionMethod)
RRF_K = 60
_CELLS = 1 << 24  # (row, item) cells of points held at once


class Fused(NamedTuple):
    """The fused ranking.

    Attributes:
        indices: ``(rows, k)`` int64 item indices, best first (``-1`` past the items found).
        scores: ``(rows, k)`` float64 fused points (``-inf`` past the items found).
    """

    indices: np.ndarray
    scores: np.ndarray


def fuse_rankings(
    rankings: Sequence[np.ndarray],
    n_items: int,
    k: int,
    method: FusionMethod,
    *,
    rrf_k: int = RRF_K,
    scores: Sequence[np.ndarray] | None = None,
    weights: Sequence[float] | None = None,
) -> Fused:
    """Fuses ranked lists of item indices into one top-``k`` ranking per row.

    Args:
        rankings: One ``(rows, depth)`` int array per list, item indices best first (``-1``
            marks an empty slot); lists may differ in depth but not in rows.
        n_items: Items there are (indices run from 0 to ``n_items - 1``).
        k: Items to return per row.
        method: ``rrf``, ``borda`` or ``weighted``.
        rrf_k: RRF's rank constant.
        scores: For ``weighted``: each list's scores, shaped like its ranking.
        weights: For ``weighted``: each list's share; default equal shares.

    Returns:
        The :class:`Fused` ranking.

    Raises:
        InvalidInputError: If the lists are empty or misshapen, a count is not a positive
            integer, the method is unknown, or ``weighted`` lacks matching scores or weights.
    """
    if isinstance(rankings, np.ndarray) or not isinstance(rankings, Sequence) or not rankings:
        raise InvalidInputError("rankings must be a non-empty list of (rows, depth) index arrays")
    check_positive_int(n_items, "n_items")
    check_positive_int(k, "k")
    check_choice(method, "fusion method", FUSIONS)
    check_positive_int(rrf_k, "rrf_k")
    lists = [np.asarray(r) for r in rankings]
    n_rows = lists[0].shape[0] if lists[0].ndim == 2 else -1
    if any(r.ndim != 2 or r.shape[0] != n_rows for r in lists):
        raise InvalidInputError(
            "rankings must be 2-d index arrays with the same number of rows, got shapes "
            + ", ".join(str(r.shape) for r in lists)
        )
    gains = _gains(lists, method, rrf_k, scores, weights)
    keep = min(k, n_items)
    indices = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.full((n_rows, k), -np.inf, dtype=np.float64)
    step = max(1, _CELLS // n_items)
    for start in range(0, n_rows, step):
        rows = slice(start, min(n_rows, start + step))
        points = np.zeros((rows.stop - rows.start, n_items))
        seen = np.zeros(points.shape, dtype=bool)
        for ranking, gain in zip(lists, gains, strict=True):
            block = ranking[rows]
            ok = block >= 0
            local = np.broadcast_to(np.arange(len(block))[:, None], block.shape)[ok]
            np.add.at(points, (local, block[ok]), gain[rows][ok])
            seen[local, block[ok]] = True
        points[~seen] = -np.inf
        idx, val = top_k(points, keep)
        indices[rows, :keep] = idx
        values[rows, :keep] = val
    return Fused(indices, values)


def _gains(
    lists: list[np.ndarray],
    method: FusionMethod,
    rrf_k: int,
    scores: Sequence[np.ndarray] | None,
    weights: Sequence[float] | None,
) -> list[np.ndarray]:
    """The points each list's cells give, shaped like the list."""
    if method != "weighted":
        ranks = [np.arange(r.shape[1], dtype=np.float64) for r in lists]
        per_rank = (
            [1.0 / (rrf_k + rank + 1) for rank in ranks]
            if method == "rrf"
            else [len(rank) - rank for rank in ranks]
        )
        return [np.broadcast_to(g, r.shape) for g, r in zip(per_rank, lists, strict=True)]
    if scores is None or len(scores) != len(lists):
        raise InvalidInputError("weighted fusion needs one score array per ranking")
    shares = [1.0 / len(lists)] * len(lists) if weights is None else list(weights)
    if len(shares) != len(lists):
        raise InvalidInputError(
            f"weighted fusion got {len(shares)} weights for {len(lists)} rankings"
        )
    out = []
    for ranking, raw, share in zip(lists, scores, shares, strict=True):
        values = np.asarray(raw, dtype=np.float64)
        if values.shape != ranking.shape:
            raise InvalidInputError(
                f"scores of shape {values.shape} do not match their ranking's {ranking.shape}"
            )
        ok = ranking >= 0
        if not ok.any():
            out.append(np.zeros(ranking.shape))
            continue
        low = np.where(ok, values, np.inf).min(axis=1, keepdims=True)
        high = np.where(ok, values, -np.inf).max(axis=1, keepdims=True)
        span = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(span > 0, (values - low) / np.where(span > 0, span, 1.0), 1.0)
        out.append(share * np.where(ok, scaled, 0.0))
    return out
