"""The pool's passages' nearest neighbours among themselves: exact, or through the HNSW index.

Margin statistics over the pool (:mod:`.margin`, ``reference="pool"``) need each passage's
``k`` most similar other passages. The exact search (:func:`xling.core.numerics.knn`) compares
every passage with every other, ``N²`` products: about 4 minutes at 100k passages on two
cores, and weeks at 10M. The approximate search asks the pool's own HNSW index (the one dense
queries use, so nothing new is built or installed) for each passage's ``candidates`` nearest
stored vectors, in batches, and rescores those candidates exactly on the vectors given,
keeping the best ``k`` other than the passage itself: ``N · candidates`` products, plus the
index's queries.

With centering the vectors given are language-centred and the index holds the stored ones.
The index is queried with the centred vector: it ranks a stored passage ``q`` of language
``L`` by ``c(p)·q``, which is the centred similarity ``c(p)·c(q)`` up to an offset per
language (``c(p)·μ_L``) and ``q``'s norm after centring. Measured on the bundled FLORES
sample (500 passages, five languages, k=10, 40 candidates), the neighbourhood means are
then off by 2·10⁻⁴ on average (0.014 at most), where querying with the stored vector was off
by 0.02 (0.21 at most).

What is approximate: a true neighbour is missed when the index does not return it among the
over-fetched candidates (HNSW's recall, and with centering the order above). Over-fetching
(``candidates``, 4·k by default, at least k + 1) keeps that rare: Chroma's HNSW (hnswlib)
searches with ``max(ef_search, n_results)``, so asking for more candidates also widens the
search, without changing the collection's configuration (``ef_search`` 100 by default) or
what users' own dense queries return. The similarities kept are exact. A row for which the
index returns fewer than ``k`` usable candidates is searched exactly.

``auto`` searches exactly up to :data:`EXACT_UP_TO` passages (where it takes seconds and is
what tests compare against) and approximately above.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from xling.core.numerics import knn, top_k
from xling.core.progress import ProgressCallback
from xling.core.validation import check_choice
from xling.store.pool import Pool

__all__ = [
    "EXACT_UP_TO",
    "NEIGHBOUR_SEARCHES",
    "NeighbourSearch",
    "approximate_neighbours",
    "candidate_count",
    "exact_neighbours",
    "resolve_search",
]

NeighbourSearch = Literal["exact", "approximate", "auto"]
NEIGHBOUR_SEARCHES: tuple[NeighbourSearch, ...] = get_args(NeighbourSearch)
EXACT_UP_TO = 20_000
"""``auto``: the largest pool searched exactly (20k passages: 10-20 s on two cores, where the
approximate search is no faster by much: its index queries run ~1,700 passages/s)."""
_OVERFETCH = 4
_QUERY_CELLS = 30_000  # queries × results per Chroma query call (as in :mod:`.dense`)
_EXACT_ROWS = 4096  # rows of an exact search between two progress reports


def resolve_search(search: NeighbourSearch, size: int) -> Literal["exact", "approximate"]:
    """``exact`` or ``approximate`` for a pool of ``size`` passages (``auto`` decides by size).

    Raises:
        InvalidInputError: On a search that is not one of :data:`NEIGHBOUR_SEARCHES`.
    """
    search = check_choice(search, "neighbour_search", NEIGHBOUR_SEARCHES)
    if search == "auto":
        return "exact" if size <= EXACT_UP_TO else "approximate"
    return search


def candidate_count(k: int, size: int, candidates: int | None = None) -> int:
    """Candidates fetched per passage: ``candidates`` or ``4·k``, at least ``k + 1``, at most
    the pool's ``size``."""
    return min(size, max(min(k, size - 1) + 1, candidates or _OVERFETCH * k))


def exact_neighbours(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    offset: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~xling.core.numerics.knn` of ``x`` among ``y``, reporting progress by rows.

    Args:
        x: ``(n, d)`` vectors.
        y: ``(m, d)`` vectors.
        k: Neighbours per row.
        offset: ``x`` is ``y[offset:]``: each row's own cell is left out.
        on_progress: Called with ``(rows done, rows)``.

    Returns:
        ``(similarities, indices into y)``, best first.
    """
    parts = []
    for start in range(0, len(x), _EXACT_ROWS):
        stop = min(len(x), start + _EXACT_ROWS)
        parts.append(
            knn(
                x[start:stop],
                y,
                k,
                exclude_self=offset is not None,
                offset=(offset or 0) + start,
            )
        )
        if on_progress is not None:
            on_progress(stop, len(x))
    if not parts:
        return knn(x, y, k, exclude_self=offset is not None, offset=offset or 0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def approximate_neighbours(
    pool: Pool,
    ids: list[str],
    vectors: np.ndarray,
    rows: np.ndarray,
    k: int,
    *,
    candidates: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other passages of some of the pool's passages, through its HNSW index.

    Args:
        pool: The pool whose index is queried.
        ids: Every passage's id, in the order of ``vectors``.
        vectors: ``(N, d)`` the vectors the index is queried with and similarities are
            computed on: the stored ones, or language-centred ones.
        rows: Positions of the passages whose neighbours are wanted.
        k: Neighbours per passage (capped at ``N - 1``).
        candidates: Nearest stored vectors fetched per passage before rescoring (default
            ``4·k``; at least ``k + 1``, at most ``N``).
        on_progress: Called with ``(passages done, passages)``.

    Returns:
        ``(similarities, positions)``, both ``(len(rows), min(k, N - 1))``, best first.

    Raises:
        ServiceUnavailableError: If the server does not answer or the pool is damaged.
    """
    n = len(ids)
    kk = min(k, n - 1)
    sims = np.empty((len(rows), max(kk, 0)), dtype=np.float32)
    found = np.empty((len(rows), max(kk, 0)), dtype=np.int64)
    if kk <= 0 or not len(rows):
        return sims, found
    fetch = candidate_count(k, n, candidates)
    position = {rid: i for i, rid in enumerate(ids)}
    step = max(1, _QUERY_CELLS // fetch)
    short: list[int] = []  # rows the index gave too few candidates for: searched exactly
    for start in range(0, len(rows), step):
        batch = rows[start : start + step]
        with pool.damage_is_named(), pool.reading() as collection:
            got = collection.query(query_embeddings=vectors[batch], n_results=fetch, include=[])
        cols = np.full((len(batch), fetch), -1, dtype=np.int64)
        for j, names in enumerate(got["ids"]):
            cols[j, : len(names)] = [position.get(name, -1) for name in names]
        scores = np.einsum("bd,bcd->bc", vectors[batch], vectors[np.maximum(cols, 0)])
        scores[(cols < 0) | (cols == batch[:, None])] = -np.inf  # unknown ids, and itself
        order, best = top_k(scores, kk)
        sims[start : start + len(batch)] = best
        found[start : start + len(batch)] = np.take_along_axis(cols, order, axis=1)
        short.extend((start + np.flatnonzero(~np.isfinite(best[:, -1]))).tolist())
        if on_progress is not None:
            on_progress(min(len(rows), start + step), len(rows))
    for i in short:
        row = int(rows[i])
        best, cols = knn(vectors[row : row + 1], vectors, kk, exclude_self=True, offset=row)
        sims[i], found[i] = best[0], cols[0]
    return sims, found
