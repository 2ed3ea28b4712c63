"""``margin``: dense retrieval corrected for hubness (ratio margin or CSLS).

Some passages are close to everything (short, generic ones, or those in the query's language
when the embedder has a same-language bias), and plain cosine ranks them high for every query.
The margin of Artetxe & Schwenk (2019) divides (``ratio``) or offsets (``distance``, which
ranks as CSLS does) a query–passage cosine by the mean similarity of both neighbourhoods:

    ratio(q, p)    = cos(q, p) / ((m_k(q) + m_k(p)) / 2)
    distance(q, p) = cos(q, p) - (m_k(q) + m_k(p)) / 2

``m_k(p)``, a passage's mean cosine to its ``k`` nearest neighbours, is precomputed and stored
(:mod:`.derived`): within the pool (``reference="pool"``, itself excluded), or over a sample
of queries (``reference_queries``: texts like the expected queries, embedded in the query
role). ``m_k(q)`` comes from the query's shortlist. So a query costs one kNN search (a
``shortlist`` of dense candidates, with the filter) plus a rescoring of that shortlist.

The statistics follow the pool: when passages were added, only the new ones are compared with
the pool (an ``added × pool`` product; the old passages' top-k lists take in the new
neighbours exactly), where a rebuild costs ``pool × pool``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.numerics import margin_scores, top_k
from xling.core.records import Hit
from xling.core.validation import check_choice, check_positive_int, check_texts
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.dense import DenseRetriever
from xling.retrieval.derived import derived_dir, read_json, snapshot, write_atomic
from xling.store.pool import Pool

__all__ = ["MarginRetriever", "neighbour_sims"]

_FORMAT = 1
_BLOCK = 1024
_KINDS = ("ratio", "distance")


def neighbour_sims(
    x: np.ndarray, y: np.ndarray, k: int, *, self_offset: int | None = None
) -> np.ndarray:
    """The ``k`` largest similarities of each row of ``x`` to the rows of ``y``, best first.

    Args:
        x: ``(n, d)`` unit vectors.
        y: ``(m, d)`` unit vectors.
        k: Neighbours kept (capped at the candidates available).
        self_offset: When ``x`` is ``y[self_offset:self_offset + n]``, each row's own cell is
            left out.

    Returns:
        ``(n, k')`` float32 similarities, ``k' = min(k, m - (1 if self_offset given else 0))``.
    """
    kk = min(k, len(y) - (1 if self_offset is not None else 0))
    out = np.empty((len(x), max(kk, 0)), dtype=np.float32)
    if kk <= 0:
        return out
    for start in range(0, len(x), _BLOCK):
        sims = x[start : start + _BLOCK] @ y.T
        if self_offset is not None:
            rows = np.arange(len(sims))
            sims[rows, self_offset + start + rows] = -np.inf
        out[start : start + _BLOCK] = top_k(sims, kk)[1]
    return out


class MarginRetriever(Retriever):
    """Dense retrieval reranked by a margin over stored neighbourhood means.

    Args:
        pool: The pool.
        neighbors: ``k`` of the neighbourhood means.
        kind: ``ratio`` (Artetxe & Schwenk) or ``distance`` (CSLS order).
        shortlist: Dense candidates rescored per query (at least ``k`` is used).
        reference_queries: A sample of queries for the passages' neighbourhoods; ``None``:
            the pool itself.
        task: ``"asymmetric"`` (question → passage) or ``"symmetric"``.
    """

    method = "margin"

    def __init__(
        self,
        pool: Pool,
        *,
        neighbors: int = 10,
        kind: str = "ratio",
        shortlist: int = 100,
        reference_queries: Sequence[str] | None = None,
        task: Task = "asymmetric",
    ) -> None:
        super().__init__(pool, task=task)
        self.neighbors = check_positive_int(neighbors, "neighbors")
        self.kind = check_choice(kind, "kind", _KINDS)
        self.shortlist = check_positive_int(shortlist, "shortlist")
        self.reference = None if reference_queries is None else check_texts(reference_queries)
        if self.reference is not None and not self.reference:
            raise InvalidInputError("reference_queries is empty; give texts or None")
        self.dense = DenseRetriever(pool, task=task)
        self._state: tuple[str, int] | None = None
        self._means: dict[str, float] = {}
        self.work = 0  # passage × reference products computed in this process (for benchmarks)

    def _name(self) -> str:
        if self.reference is None:
            return f"margin-pool-k={self.neighbors}"
        digest = hashlib.sha256("\n".join(self.reference).encode("utf-8")).hexdigest()[:12]
        return f"margin-queries-{digest}-{self.task}-k={self.neighbors}"

    def prepare(self) -> None:
        """Loads, updates or computes the passages' neighbourhood means."""
        state = self.pool.state()
        if state == self._state:
            return
        if state[1] == 0:
            self._state, self._means = state, {}
            return
        folder = derived_dir(self.pool, state[0])
        header_path, data_path = folder / f"{self._name()}.json", folder / f"{self._name()}.npz"
        header = read_json(header_path)
        old_ids: list[str] = []
        old_top = np.zeros((0, 0), dtype=np.float32)
        if header and header.get("format") == _FORMAT:
            try:
                with np.load(data_path, allow_pickle=False) as arrays:
                    old_ids, old_top = [str(x) for x in arrays["ids"]], arrays["top"]
            except (OSError, ValueError, KeyError):
                old_ids = []
            if header.get("state") == list(state) and len(old_ids) == state[1]:
                self._set(state, old_ids, old_top)
                return
        snap = snapshot(self.pool, with_vectors=True)
        assert snap.vectors is not None
        ids, top = self._update(snap.ids, snap.vectors, old_ids, old_top)
        write_atomic(data_path, lambda p: np.savez(p, ids=np.asarray(ids, dtype=str), top=top))
        header = {"format": _FORMAT, "state": list(snap.state), "neighbors": self.neighbors}
        write_atomic(header_path, lambda p: _write_text(p, json.dumps(header)))
        self._set(snap.state, ids, top)

    def _set(self, state: tuple[str, int], ids: list[str], top: np.ndarray) -> None:
        means = top.mean(axis=1) if top.size else np.zeros(len(ids), dtype=np.float32)
        self._state, self._means = state, dict(zip(ids, means.tolist(), strict=True))

    def _update(
        self, ids: list[str], vectors: np.ndarray, old_ids: list[str], old_top: np.ndarray
    ) -> tuple[list[str], np.ndarray]:
        """Every passage's top-k similarities, reusing the stored ones where still valid."""
        position = {rid: i for i, rid in enumerate(ids)}
        reusable = bool(old_ids) and all(rid in position for rid in old_ids)
        if self.reference is not None:
            ref = self.pool.embedder.embed_queries(self.reference, task=self.task)
            ref = np.asarray(ref, dtype=np.float32)
            known = dict(zip(old_ids, old_top, strict=True)) if reusable else {}
            new = [i for i, rid in enumerate(ids) if rid not in known]
            fresh = neighbour_sims(vectors[new], ref, self.neighbors) if new else None
            self.work += len(new) * len(ref)
            width = min(self.neighbors, len(ref))
            top = np.empty((len(ids), width), dtype=np.float32)
            for rid, row in known.items():
                top[position[rid]] = row
            if fresh is not None:
                top[new] = fresh
            return ids, top
        if not reusable:
            self.work += len(ids) * len(ids)
            return ids, neighbour_sims(vectors, vectors, self.neighbors, self_offset=0)
        # Old passages first, new ones after: new rows see everything, old rows merge in the
        # similarities to the new passages.
        old_set = set(old_ids)
        new_ids = [rid for rid in ids if rid not in old_set]
        order = [position[rid] for rid in old_ids] + [position[rid] for rid in new_ids]
        all_vecs = vectors[order]
        n_old = len(old_ids)
        new_top = neighbour_sims(all_vecs[n_old:], all_vecs, self.neighbors, self_offset=n_old)
        merged_old = old_top
        if new_ids:
            to_new = all_vecs[:n_old] @ all_vecs[n_old:].T
            kk = min(self.neighbors, len(ids) - 1)
            merged_old = top_k(np.concatenate([old_top, to_new], axis=1), kk)[1]
            if new_top.shape[1] != kk:
                new_top = neighbour_sims(all_vecs[n_old:], all_vecs, kk, self_offset=n_old)
        self.work += len(new_ids) * len(ids)
        return old_ids + new_ids, np.concatenate([merged_old, new_top]).astype(np.float32)

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing margin score."""
        self.prepare()
        depth = max(k, self.shortlist)
        dense = self.dense.search(queries, depth, where)
        out: list[list[Hit]] = []
        for hits in dense:
            if not hits:
                out.append([])
                continue
            sims = np.asarray([h.score for h in hits], dtype=np.float64)
            own = float(np.sort(sims)[::-1][: self.neighbors].mean())
            theirs = np.asarray([self._means.get(h.id, own) for h in hits], dtype=np.float64)
            scores = margin_scores(sims, own, theirs, self.kind, floor=1e-3)  # type: ignore[arg-type]
            order = np.lexsort((np.arange(len(hits)), -scores))[:k]
            out.append(
                [
                    Hit(hits[i].id, hits[i].text, float(scores[i]), hits[i].lang, hits[i].metadata)
                    for i in order
                ]
            )
        return out


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
