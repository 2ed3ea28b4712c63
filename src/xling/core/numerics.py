"""Shared numerics: exact top-k with a tie-break, k-nearest-neighbour means, margin scores.

One implementation for every caller: the selectors (dense, BM25, fusion, margin) and the
retrievers take their top-k here; the margin retriever (:mod:`xling.retrieval.margin`) and
bitext mining (:mod:`xling.eval.mining`) their k nearest neighbours; the margin selector,
the margin retriever and mining share the k-NN means and the margin of Artetxe & Schwenk (2019):

    margin(x, y) = cos(x, y) / ((mean_k(x) + mean_k(y)) / 2)        (ratio)
                 = cos(x, y) - (mean_k(x) + mean_k(y)) / 2          (distance)

where ``mean_k(v)`` is the mean similarity of ``v`` to its ``k`` nearest neighbours on the other
side.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from xling.core.errors import InvalidInputError

__all__ = ["MARGIN_KINDS", "MarginKind", "top_k", "knn", "knn_mean", "margin_scores"]

# The margin variants, by one name (``kind``) in retrieval, selection and mining alike.
MarginKind = Literal["ratio", "distance"]
MARGIN_KINDS: tuple[MarginKind, ...] = get_args(MarginKind)
_BLOCK = 2048  # rows of a similarity matrix held at once by knn()
_CELLS = 1 << 24  # and at most this many cells (64 MiB of float32), however long y is


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row, ties broken by the lower column index.

    ``-inf`` marks excluded cells; a row with fewer than ``k`` finite cells gets ``-1`` indices
    (and ``-inf`` scores) at its end.

    Args:
        scores: A ``(rows, columns)`` float array.
        k: How many columns to keep per row (at most the number of columns).

    Returns:
        ``(indices, values)``, each ``(rows, k)``, best first.
    """
    n_rows, n_cols = scores.shape
    if not 1 <= k <= n_cols:
        raise InvalidInputError(f"k={k} is not allowed; use an integer from 1 to {n_cols}")
    if n_rows == 0:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=scores.dtype)
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
        # argpartition picks arbitrarily among cells equal to the k-th value; redo those rows
        # where such ties cross the cut so that the earliest columns win.
        ties = (scores == kth[:, None]).sum(axis=1) > (
            np.take_along_axis(scores, part, axis=1) == kth[:, None]
        ).sum(axis=1)
        if ties.any():
            rows = np.flatnonzero(ties)
            order = np.argsort(-scores[rows], axis=1, kind="stable")[:, :k]
            part[rows] = order
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    values = np.take_along_axis(scores, part, axis=1)
    # Sort the k kept cells: by score descending, then by column ascending.
    order = np.lexsort((part, -values), axis=1)
    indices = np.take_along_axis(part, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    missing = ~np.isfinite(values) & (values < 0)
    if missing.any():
        indices = np.where(missing, -1, indices)
    return indices.astype(np.int64, copy=False), values


def knn(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    exclude_self: bool = False,
    offset: int = 0,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    block: int = _BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of each row of ``x`` among the rows of ``y`` by dot product.

    The one kNN of xling: margin retrieval, the margin selector and bitext mining all call it.
    The similarity matrix is built a block of rows at a time (at most ``block`` rows and about
    16M cells), so memory stays bounded.

    Args:
        x: ``(n, d)`` float32 query vectors (unit norm for cosine).
        y: ``(m, d)`` float32 candidate vectors.
        k: Neighbours per row, at least 1; capped at the candidates there are (``m``, or
            ``m - 1`` with ``exclude_self``).
        exclude_self: ``x`` is ``y[offset:offset + n]``: leave each row's own cell out.
        offset: With ``exclude_self``, where ``x``'s rows start in ``y``.
        exclude: Further cells left out, as parallel arrays of row numbers in ``x`` and
            column numbers in ``y`` (a selector's blocked pairs). A row with fewer than ``k``
            cells left gets ``-inf`` similarities and ``-1`` indices at its end.
        block: Rows of ``x`` scored at once, at most.

    Returns:
        ``(similarities, indices)``, both ``(n, k')`` with ``k'`` the capped ``k``, best first;
        ties keep the lower index first.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k={k!r} is not allowed; use a positive integer")
    kk = min(k, len(y) - (1 if exclude_self else 0))
    sims = np.empty((len(x), max(kk, 0)), dtype=np.float32)
    idx = np.empty((len(x), max(kk, 0)), dtype=np.int64)
    if kk <= 0:
        return sims, idx
    ex_rows, ex_cols = exclude if exclude is not None else (np.zeros(0, np.int64),) * 2
    step = max(1, min(block, _CELLS // max(1, len(y))))
    for start in range(0, len(x), step):
        scores = x[start : start + step] @ y.T
        if exclude_self:
            rows = np.arange(len(scores))
            scores[rows, offset + start + rows] = -np.inf
        if len(ex_rows):
            inside = (ex_rows >= start) & (ex_rows < start + len(scores))
            scores[ex_rows[inside] - start, ex_cols[inside]] = -np.inf
        part, part_sims = top_k(scores, kk)
        idx[start : start + step] = part
        sims[start : start + step] = part_sims
    return sims, idx


def knn_mean(scores: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Mean of the ``k`` largest finite values along an axis (``-inf`` cells are skipped).

    Args:
        scores: A float array (``-inf`` marks excluded cells).
        k: How many values to average (capped at the axis length).
        axis: The axis to reduce.

    Returns:
        The means (float64); 0 where a line holds no finite value.
    """
    n = scores.shape[axis]
    k = min(k, n)
    best = -np.partition(-scores, k - 1, axis=axis)
    best = np.take(best, np.arange(k), axis=axis)
    finite = np.isfinite(best)
    total = np.where(finite, best, 0.0).sum(axis=axis)
    return total / np.maximum(finite.sum(axis=axis), 1)


def margin_scores(
    similarities: np.ndarray,
    forward: np.ndarray | float,
    backward: np.ndarray | float,
    kind: MarginKind | Literal["absolute"],
    *,
    floor: float | None = None,
) -> np.ndarray:
    """Margin scores of pairs from their similarity and the two sides' k-NN means.

    Args:
        similarities: ``cos(x, y)`` of each pair.
        forward: ``mean_k(x)``, broadcastable against ``similarities``.
        backward: ``mean_k(y)``, broadcastable against ``similarities``.
        kind: ``ratio`` (divide by the mean of the two), ``distance`` (subtract it) or
            ``absolute`` (the similarity itself).
        floor: For ``ratio``: the least denominator (cosines of unrelated sentences can be
            ``<= 0``, where dividing would turn the order around); ``None`` divides as is.

    Returns:
        The scores, broadcast to the common shape.
    """
    if kind == "absolute":
        return similarities
    denominator = (forward + backward) / 2.0
    if kind == "distance":
        return similarities - denominator
    if kind == "ratio":
        if floor is not None:
            denominator = np.maximum(denominator, floor)
        return similarities / denominator
    raise InvalidInputError(
        f"margin kind {kind!r} is not allowed; use one of: {', '.join(MARGIN_KINDS)}, absolute"
    )
