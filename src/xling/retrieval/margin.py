"""``margin``: dense retrieval corrected for hubness (ratio margin or CSLS).

Some passages are close to everything (short, generic ones, or those in the query's language
when the embedder has a same-language bias), and plain cosine ranks them high for every query.
The margin of Artetxe & Schwenk (2019) divides (``ratio``) or offsets (``distance``, which
ranks as CSLS does) a query–passage cosine by the mean similarity of both neighbourhoods:

    ratio(q, p)    = cos(q, p) / ((m_k(q) + m_k(p)) / 2)
    distance(q, p) = cos(q, p) - (m_k(q) + m_k(p)) / 2

``m_k(p)``, a passage's mean cosine to its ``k`` nearest neighbours, comes from one of three
references (``reference``):

- ``pool``: the pool itself (itself excluded), precomputed and stored (:mod:`.derived`);
- ``sample``: query-role texts, precomputed and stored: the bundled reference sample (100
  sentences in each of twelve languages, :func:`xling.data.reference_path`) or the
  ``reference_queries`` given;
- ``batch``: the batch's own queries, computed per batch for the shortlisted passages; a batch
  of fewer than ``min_batch`` queries (a single question) is scored without passage
  statistics, by its centred cosines: on ``bench/retrieval.py`` the sample's statistics
  lowered single questions' R@1 (68.5 against 73.1).

The query-side references measure what matters for a question: how close a passage is to
questions in general, which is where a passage in the questions' language gains from
language bias; the pool reference measures passages against passages. ``m_k(q)`` comes from
the query's shortlist (a constant per query, so ``distance`` ranks by ``cos - m_k(p) / 2``). With
``center=True`` every vector is first centred on its language's mean (:mod:`.centering`) and
the statistics are taken over centred vectors. So a query costs one kNN search (a ``shortlist``
of dense candidates, with the filter) plus a rescoring of that shortlist.

The defaults, ``center=True, kind="distance", reference="batch"``, are the best measured
without a second embedder on ``bench/retrieval.py``'s cross-lingual question set (see its
note); ``MarginRetriever(pool, center=False, kind="ratio", reference="pool")`` is the margin
as first shipped.

The pool's neighbourhoods are searched exactly (``pool × pool`` products) or through the
pool's HNSW index (``pool × candidates``, see :mod:`.neighbour_search`), by
``neighbour_search``: ``auto`` (the default) is exact up to 20,000 passages and approximate
above. The stored statistics record which search made them; statistics made approximately are
not reused when ``exact`` is asked for.

Stored statistics follow the pool: without centering, when passages were added only the new
ones are searched (an ``added × pool`` product, or ``added`` index queries), where a rebuild
costs the whole pool's search. Exactly, the old passages' top-k lists take in the new
neighbours exactly. Approximately, an old passage takes in the new passages among whose
candidates it is (reverse neighbours): a new passage that is among an old one's ``k`` nearest
but does not have it among its own candidates is missed, as the search itself would miss it.
With centering the language means move with every change, so the statistics are recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.files import write_atomic
from xling.core.numerics import MARGIN_KINDS, MarginKind, knn, margin_scores, top_k
from xling.core.progress import ProgressCallback
from xling.core.records import Hit
from xling.core.validation import check_choice, check_positive_int, check_texts
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.centering import QUERY_MEAN_SOURCES, LanguageMeans, QueryMeans, QueryMeanSource
from xling.retrieval.dense import DenseRetriever, check_flag, rescored
from xling.retrieval.derived import derived_dir, read_json, snapshot
from xling.retrieval.neighbour_search import (
    NEIGHBOUR_SEARCHES,
    NeighbourSearch,
    approximate_neighbours,
    candidate_count,
    exact_neighbours,
    resolve_search,
)
from xling.store.pool import Pool

__all__ = ["MARGIN_REFERENCES", "MarginReference", "MarginRetriever"]

MarginReference = Literal["pool", "batch", "sample"]
MARGIN_REFERENCES: tuple[MarginReference, ...] = get_args(MarginReference)
_FORMAT = 2
_BLOCK = 1024


def _neighbour_sims(x: np.ndarray, y: np.ndarray, k: int, offset: int | None = None) -> np.ndarray:
    """:func:`~xling.core.numerics.knn`'s similarities (``offset``: ``x`` is ``y[offset:]``)."""
    return knn(x, y, k, exclude_self=offset is not None, offset=offset or 0, block=_BLOCK)[0]


def _take_in(old_top: np.ndarray, sims: np.ndarray, cols: np.ndarray, n_old: int) -> np.ndarray:
    """Old passages' top-k similarities with the new passages that found them merged in.

    ``sims``/``cols``: each new passage's candidates (positions, old passages below
    ``n_old``); an old passage takes in every new one it is a candidate of.
    """
    hit = (cols >= 0) & (cols < n_old)
    rows, values = cols[hit], sims[hit]
    if not len(rows):
        return old_top
    order = np.argsort(rows, kind="stable")
    rows, values = rows[order], values[order]
    touched, first, counts = np.unique(rows, return_index=True, return_counts=True)
    extra = np.full((len(touched), int(counts.max())), -np.inf, dtype=np.float32)
    extra[
        np.repeat(np.arange(len(touched)), counts), np.arange(len(rows)) - np.repeat(first, counts)
    ] = values
    merged = old_top.copy()
    width = old_top.shape[1]
    merged[touched] = top_k(np.concatenate([old_top[touched], extra], axis=1), width)[1]
    return merged


class MarginRetriever(Retriever):
    """Dense retrieval reranked by a margin over neighbourhood means (see the module).

    Args:
        pool: The pool.
        neighbors: ``k`` of the neighbourhood means.
        kind: ``ratio`` (Artetxe & Schwenk) or ``distance`` (CSLS order).
        shortlist: Dense candidates rescored per query (at least ``k`` is used).
        reference: Where passages' neighbourhoods come from: ``pool``, ``sample`` or
            ``batch``.
        reference_queries: The sample's texts (texts like the expected queries); ``None``:
            the bundled reference sample. Given with ``reference="pool"``, it means
            ``reference="sample"`` (as in earlier versions).
        center: Centre every vector on its language's mean first.
        query_means: With ``center``: where the queries' means come from first, ``batch``,
            ``pool`` or ``sample`` (see :class:`~.centering.QueryMeans`).
        min_batch: With ``reference="batch"``: the fewest queries in a batch whose own
            neighbourhoods are used; a smaller batch is scored without passage statistics
            (its centred cosines, in the order of the ``distance`` margin).
        task: ``"asymmetric"`` (question → passage) or ``"symmetric"``.
        neighbour_search: With ``reference="pool"``: how passages' neighbours are found,
            ``exact``, ``approximate`` (the pool's HNSW index, candidates rescored exactly) or
            ``auto`` (exact up to 20,000 passages); see :mod:`.neighbour_search`.
        candidates: With the approximate search: candidates fetched per passage (default
            ``4 × neighbors``).
        on_progress: Called with ``(passages done, passages)`` while the pool's statistics
            are computed.
    """

    method = "margin"

    def __init__(
        self,
        pool: Pool,
        *,
        neighbors: int = 10,
        kind: MarginKind = "distance",
        shortlist: int = 100,
        reference: MarginReference = "batch",
        reference_queries: Sequence[str] | None = None,
        center: bool = True,
        query_means: QueryMeanSource = "batch",
        min_batch: int = 50,
        task: Task = "asymmetric",
        neighbour_search: NeighbourSearch = "auto",
        candidates: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        super().__init__(pool, task=task)
        self.neighbour_search: NeighbourSearch = check_choice(
            neighbour_search, "neighbour_search", NEIGHBOUR_SEARCHES
        )
        self.candidates = (
            None if candidates is None else check_positive_int(candidates, "candidates")
        )
        self.on_progress = on_progress
        self.neighbors = check_positive_int(neighbors, "neighbors")
        self.kind: MarginKind = check_choice(kind, "kind", MARGIN_KINDS)
        self.shortlist = check_positive_int(shortlist, "shortlist")
        self.reference: MarginReference = check_choice(reference, "reference", MARGIN_REFERENCES)
        self.reference_queries = (
            None if reference_queries is None else check_texts(reference_queries)
        )
        if self.reference_queries is not None and not self.reference_queries:
            raise InvalidInputError("reference_queries is empty; give texts or None")
        if self.reference_queries is not None and self.reference == "pool":
            self.reference = "sample"
        self.center = check_flag(center, "center")
        source = check_choice(query_means, "query_means", QUERY_MEAN_SOURCES)
        self.min_batch = check_positive_int(min_batch, "min_batch")
        self.dense = DenseRetriever(pool, task=task)
        self.language_means = LanguageMeans(pool)
        self.query_means = QueryMeans(
            pool.embedder, self.task, source, pool_means=self.language_means
        )
        self._state: tuple[str, int] | None = None
        self._means: dict[str, float] = {}
        self._sample: np.ndarray | None = None
        self.work = 0  # passage × reference products computed in this process (for benchmarks)
        self.search_used: str | None = None  # the stored statistics' search (reference="pool")

    def __repr__(self) -> str:
        return (
            f"MarginRetriever(pool={self.pool.name!r}, kind={self.kind!r}, "
            f"reference={self.reference!r}, center={self.center}, task={self.task!r})"
        )

    def _name(self) -> str:
        tail = f"k={self.neighbors}" + ("-centered" if self.center else "")
        if self.reference == "pool":
            return f"margin-pool-{tail}"
        texts = self.reference_queries or ["<bundled reference sample>"]
        digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:12]
        return f"margin-queries-{digest}-{self.task}-{tail}"

    def sample_vectors(self) -> np.ndarray:
        """The reference sample in the query role (centred with ``center``)."""
        if self._sample is None:
            langs: list[str | None]
            if self.reference_queries is None:
                vectors, known = self.query_means.sample()
                langs = list(known)
            else:
                texts = self.reference_queries
                vectors = self.pool.embedder.embed_queries(texts, task=self.task)
                langs = self.query_means.languages(texts, [None] * len(texts))
            vectors = np.asarray(vectors, dtype=np.float32)
            if self.center:  # on the sample's own means
                own = QueryMeans(self.pool.embedder, self.task, "batch", min_batch=1)
                vectors = own.center(vectors, langs)
            self._sample = vectors
        return self._sample

    def prepare(self) -> None:
        """Loads, updates or computes the language means and stored neighbourhood means."""
        state = self.pool.state()
        if state == self._state:
            return
        if state[1] == 0:
            self._state, self._means = state, {}
            return
        if self.reference == "batch":
            if self.center:
                self.language_means.prepare()
            self._state = state
            return
        folder = derived_dir(self.pool, state[0])
        header_path, data_path = folder / f"{self._name()}.json", folder / f"{self._name()}.npz"
        header = read_json(header_path)
        search = "exact"
        if self.reference == "pool":
            search = resolve_search(self.neighbour_search, state[1])
        old_ids: list[str] = []
        old_top = np.zeros((0, 0), dtype=np.float32)
        stored_search = str((header or {}).get("search", "exact"))
        # Exact statistics serve either search; approximate ones only the approximate search.
        usable = stored_search == "exact" or search == "approximate"
        if header and header.get("format") == _FORMAT and usable:
            try:
                with np.load(data_path, allow_pickle=False) as arrays:
                    old_ids, old_top = [str(x) for x in arrays["ids"]], arrays["top"]
            except (OSError, ValueError, KeyError):
                old_ids = []
            if header.get("state") == list(state) and len(old_ids) == state[1]:
                if self.center:
                    self.language_means.prepare()
                self.search_used = stored_search
                self._set(state, old_ids, old_top)
                return
        snap = snapshot(self.pool, with_vectors=True)
        assert snap.vectors is not None
        vectors = snap.vectors
        if self.center:  # the means moved with the pool: nothing stored is reusable
            self.language_means.prepare(snap)
            vectors = self.language_means.center(vectors, snap.langs)
            old_ids, old_top = [], np.zeros((0, 0), dtype=np.float32)
        ids, top = self._update(snap.ids, vectors, old_ids, old_top, search)
        write_atomic(data_path, lambda p: np.savez(p, ids=np.asarray(ids, dtype=str), top=top))
        header = {
            "format": _FORMAT,
            "state": list(snap.state),
            "neighbors": self.neighbors,
            "search": search,
        }
        write_atomic(header_path, json.dumps(header))
        self.search_used = search
        self._set(snap.state, ids, top)

    def _set(self, state: tuple[str, int], ids: list[str], top: np.ndarray) -> None:
        means = top.mean(axis=1) if top.size else np.zeros(len(ids), dtype=np.float32)
        self._state, self._means = state, dict(zip(ids, means.tolist(), strict=True))

    def _update(
        self,
        ids: list[str],
        vectors: np.ndarray,
        old_ids: list[str],
        old_top: np.ndarray,
        search: str,
    ) -> tuple[list[str], np.ndarray]:
        """Every passage's top-k similarities, reusing the stored ones where still valid
        (``vectors``: centred with ``center``)."""
        position = {rid: i for i, rid in enumerate(ids)}
        reusable = bool(old_ids) and all(rid in position for rid in old_ids)
        if self.reference == "sample":
            ref = self.sample_vectors()
            known = dict(zip(old_ids, old_top, strict=True)) if reusable else {}
            new = [i for i, rid in enumerate(ids) if rid not in known]
            fresh = _neighbour_sims(vectors[new], ref, self.neighbors) if new else None
            self.work += len(new) * len(ref)
            width = min(self.neighbors, len(ref))
            top = np.empty((len(ids), width), dtype=np.float32)
            for rid, row in known.items():
                top[position[rid]] = row
            if fresh is not None:
                top[new] = fresh
            return ids, top
        n, kk = len(ids), min(self.neighbors, len(ids) - 1)
        if reusable and old_top.shape[1] < kk:  # the old pool was smaller than k: start over
            reusable = False
        if not reusable:
            if search == "exact":
                self.work += n * n
                found = exact_neighbours(
                    vectors, vectors, self.neighbors, offset=0, on_progress=self.on_progress
                )
                return ids, found[0]
            self.work += n * candidate_count(self.neighbors, n, self.candidates)
            found = approximate_neighbours(
                self.pool,
                ids,
                vectors,
                np.arange(n),
                self.neighbors,
                candidates=self.candidates,
                on_progress=self.on_progress,
            )
            return ids, found[0]
        # Old passages first, new ones after: new rows see everything, old rows merge in the
        # similarities to the new passages.
        old_set = set(old_ids)
        new_ids = [rid for rid in ids if rid not in old_set]
        order = [position[rid] for rid in old_ids] + [position[rid] for rid in new_ids]
        all_vecs = vectors[order]
        n_old = len(old_ids)
        merged_old = old_top
        if search == "exact":
            new_top = exact_neighbours(
                all_vecs[n_old:], all_vecs, kk, offset=n_old, on_progress=self.on_progress
            )[0]
            if new_ids:
                to_new = all_vecs[:n_old] @ all_vecs[n_old:].T
                merged_old = top_k(np.concatenate([old_top, to_new], axis=1), kk)[1]
            self.work += len(new_ids) * n
        elif new_ids:
            fetch = candidate_count(kk, n, self.candidates)
            sims, cols = approximate_neighbours(
                self.pool,
                old_ids + new_ids,
                all_vecs,
                np.arange(n_old, n),
                fetch - 1,  # all the candidates but the passage itself: its reverse neighbours
                candidates=fetch,
                on_progress=self.on_progress,
            )
            self.work += len(new_ids) * fetch
            new_top = sims[:, :kk]
            merged_old = _take_in(old_top, sims, cols, n_old)
        else:
            new_top = np.zeros((0, kk), dtype=np.float32)
        return old_ids + new_ids, np.concatenate([merged_old, new_top]).astype(np.float32)

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing margin score (languages detected)."""
        return self.search_languages(queries, k, where, [None] * len(queries))

    def search_languages(
        self, queries: list[str], k: int, where: Filter, langs: list[str | None]
    ) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing margin score."""
        self.prepare()
        depth = max(k, self.shortlist)
        vectors = self.pool.embedder.embed_queries(queries, task=self.task)
        on_the_fly = self.reference == "batch"
        hits, found = self.dense.nearest(
            vectors, depth, where, with_vectors=self.center or on_the_fly
        )
        if self.center:
            vectors = self.query_means.center(vectors, self.query_means.languages(queries, langs))
        reference = None
        if on_the_fly and len(vectors) >= self.min_batch:
            reference = vectors
        out: list[list[Hit]] = []
        known: dict[str, float] = {}  # m_k(p) over the batch, once per passage of the batch
        for i, these in enumerate(hits):
            if not these:
                out.append([])
                continue
            rows = found[i] if found else None
            if self.center:
                assert rows is not None
                rows = self.language_means.center(rows, [h.lang for h in these])
                sims = (rows @ vectors[i]).astype(np.float64)
            else:
                sims = np.asarray([h.score for h in these], dtype=np.float64)
            own = float(np.sort(sims)[::-1][: self.neighbors].mean())
            if reference is not None:
                assert rows is not None
                todo = [j for j, h in enumerate(these) if h.id not in known]
                if todo:
                    fresh = _neighbour_sims(rows[todo], reference, self.neighbors).mean(axis=1)
                    known.update(zip([these[j].id for j in todo], fresh.tolist(), strict=True))
                theirs = np.asarray([known[h.id] for h in these])
            elif on_the_fly:  # too few queries for statistics (measured: the sample's hurt)
                theirs = np.zeros(len(these))
            else:
                theirs = np.asarray([self._means.get(h.id, own) for h in these])
            scores = margin_scores(sims, own, theirs.astype(np.float64), self.kind, floor=1e-3)
            out.append(rescored(these, scores, k))
        return out
