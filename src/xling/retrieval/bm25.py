"""``bm25``: BM25 (xling's script-aware tokenizer) over every passage of a pool.

The index is derived from the pool and persisted beside it (see :mod:`.derived`) as segments
of raw postings (see :mod:`.bm25_segments`): when the pool changed, the passages added since
are indexed as a new segment and the deleted ones get tombstones, and scores use the
statistics of the live passages, so results equal those of an index built from scratch
(ties go to the lower passage id). Filters are applied by masking the passages Chroma's
``where`` selects. Passages that share no term with the query (score 0) are not returned.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypedDict

import numpy as np

from xling.core.records import Hit
from xling.core.validation import check_choice
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.bm25_index import BM25_METHODS, DEFAULT_BM25, BM25Method, BM25Params
from xling.retrieval.bm25_segments import MANIFEST, GrowingBM25, Segment, load_index, save_index
from xling.retrieval.derived import derived_dir, passage_texts, pool_ids, read_json, snapshot
from xling.store.pool import Pool

__all__ = ["BM25Options", "BM25Retriever"]


class BM25Options(TypedDict, total=False):
    """BM25 keywords of :class:`BM25Retriever`, passed on by the methods that use it.

    Attributes:
        k1: Term-frequency saturation.
        b: Length normalisation.
        variant: BM25 variant (``lucene``, ``robertson``, ``atire``, ``bm25l``, ``bm25+``).
    """

    k1: float
    b: float
    variant: BM25Method


_FOLDER = "bm25"  # raw postings serve every k1, b and variant


class BM25Retriever(Retriever):
    """Lexical retrieval by BM25 over the pool's texts, in any script.

    Args:
        pool: The pool.
        k1: Term-frequency saturation.
        b: Length normalisation.
        variant: BM25 variant (``lucene``, ``robertson``, ``atire``, ``bm25l``, ``bm25+``).
        task: Unused by BM25 (kept so every method takes the same arguments).
    """

    method = "bm25"

    def __init__(
        self,
        pool: Pool,
        *,
        k1: float = DEFAULT_BM25.k1,
        b: float = DEFAULT_BM25.b,
        variant: BM25Method = DEFAULT_BM25.method,
        task: Task = "asymmetric",
    ) -> None:
        super().__init__(pool, task=task)
        self.params = BM25Params(k1, b, check_choice(variant, "variant", BM25_METHODS))
        self._state: tuple[str, int] | None = None
        self._index: GrowingBM25 | None = None
        self._masks: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self.builds = 0  # times the index was built from scratch in this process
        self.updates = 0  # times it was brought up to date (added, deleted) in this process

    def prepare(self) -> None:
        """Loads the persisted index and brings it up to date with the pool.

        An index of the same collection (on disk, or this retriever's) is updated: what was
        added becomes a new segment, what was deleted gets tombstones. It is built from scratch
        when there is none, it cannot be read, or the collection was replaced.
        """
        state = self.pool.state()
        if state == self._state:
            return
        self._masks.clear()
        if state[1] == 0:
            self._state, self._index = state, None
            return
        collection = state[0].split("/", 1)[0]
        folder = derived_dir(self.pool, collection) / _FOLDER
        if self._state is None or self._state[0].split("/", 1)[0] != collection:
            self._index = None
        header = read_json(folder / MANIFEST)
        current = header is not None and header.get("state") == list(state)
        if self._index is None or current:  # read the segments only when they are of use
            stored = load_index(folder)
            if stored is not None:
                self._index = stored[0]
                if stored[1].get("state") == list(state):
                    self._state = state
                    return
        if self._index is None:
            snap = snapshot(self.pool, with_vectors=False)
            self._index = GrowingBM25([Segment.build(snap.ids, snap.texts)])
            self.builds += 1
        else:
            # Ids come from content: the diff of ids is exactly what was added and deleted.
            now = pool_ids(self.pool)
            had = set(self._index.live_ids())
            self._index.delete(had.difference(now))
            added, texts = passage_texts(self.pool, [i for i in now if i not in had])
            self._index.add(added, texts)
            self._index.compact()
            self.updates += 1
        # The deletions counted before reading, and the passages the index holds: a write
        # that raced with the reading changes one of them, so the next batch looks again.
        state = (state[0], len(self._index))
        save_index(self._index, folder, {"state": list(state)})
        self._state = state

    def _mask(self, where: Filter) -> list[np.ndarray] | None:
        """Which passages of each segment the filter lets through (``None``: all)."""
        clause = where.chroma_where()
        if clause is None or self._index is None:
            return None
        masks = self._masks.get(where.key)
        if masks is None:
            masks = self._index.masks(self.pool.listing(clause)[0])
            self._masks[where.key] = masks
            while len(self._masks) > 32:
                self._masks.popitem(last=False)
        return masks

    def ranked(self, queries: list[str], k: int, where: Filter) -> list[list[tuple[str, float]]]:
        """(passage id, BM25 score) of the ``k`` best passages of each query."""
        self.prepare()
        if self._index is None:
            return [[] for _ in queries]
        return self._index.search(queries, k, self.params, allowed=self._mask(where))

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing BM25 score."""
        ranked = self.ranked(queries, k, where)
        return hits_of(self.pool, ranked)


def hits_of(pool: Pool, ranked: list[list[tuple[str, float]]]) -> list[list[Hit]]:
    """The pool's hits for ranked (id, score) lists, fetched in one call."""
    ids = list(dict.fromkeys(i for row in ranked for i, _ in row))
    found = {h.id: h for h in pool.get(ids) if h is not None} if ids else {}
    return [
        [
            Hit(found[i].id, found[i].text, score, found[i].lang, found[i].metadata)
            for i, score in row
            if i in found
        ]
        for row in ranked
    ]
