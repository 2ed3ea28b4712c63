"""``bm25``: BM25 (bm25s, xling's script-aware tokenizer) over every passage of a pool.

The index is derived from the pool and persisted beside it (see :mod:`.derived`); it is rebuilt
when the pool's state changed, since every added passage changes the IDF of its terms. Filters
are applied by masking the passages Chroma's ``where`` selects. Passages that share no term
with the query (score 0) are not returned.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TypedDict

import numpy as np

from xling.core.files import write_atomic
from xling.core.numerics import top_k
from xling.core.records import Hit
from xling.core.validation import check_choice
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.bm25_index import BM25_METHODS, DEFAULT_BM25, BM25Index, BM25Method, BM25Params
from xling.retrieval.derived import derived_dir, read_json, snapshot
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


_CELLS = 1 << 24  # scores of at most this many (query, passage) cells at once
_FORMAT = 2  # 2: chunks are indexed with their heading path


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
        self._index: BM25Index | None = None
        self._ids: list[str] = []
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()
        self.builds = 0  # how many times the index was built in this process (not loaded)

    def _name(self) -> str:
        p = self.params
        return f"bm25-{p.method}-k1={p.k1:g}-b={p.b:g}"

    def prepare(self) -> None:
        """Loads the persisted index, or builds it if the pool changed since it was saved."""
        state = self.pool.state()
        if state == self._state:
            return
        self._masks.clear()
        self._index = None
        if state[1] == 0:
            self._state, self._ids = state, []
            return
        folder = derived_dir(self.pool, state[0])
        header_path, data_path = folder / f"{self._name()}.json", folder / f"{self._name()}.npz"
        header = read_json(header_path)
        if header and header.get("format") == _FORMAT and header.get("state") == list(state):
            try:
                self._index, self._ids = BM25Index.load(data_path), list(header["ids"])
            except (OSError, ValueError, KeyError):
                self._index = None
        if self._index is None:
            snap = snapshot(self.pool, with_vectors=False)
            self._index = BM25Index(snap.texts, self.params)
            self._ids, state = snap.ids, snap.state
            self.builds += 1
            write_atomic(data_path, self._index.save)  # the temporary name keeps the .npz suffix
            header = {"format": _FORMAT, "state": list(state), "ids": self._ids}
            write_atomic(header_path, json.dumps(header))
        self._state = state

    def _mask(self, where: Filter) -> np.ndarray | None:
        """Which passages the filter lets through (``None``: all)."""
        clause = where.chroma_where()
        if clause is None:
            return None
        mask = self._masks.get(where.key)
        if mask is None:
            allowed = set(self.pool.listing(clause)[0])
            mask = np.fromiter((i in allowed for i in self._ids), dtype=bool, count=len(self._ids))
            self._masks[where.key] = mask
            while len(self._masks) > 32:
                self._masks.popitem(last=False)
        return mask

    def ranked(self, queries: list[str], k: int, where: Filter) -> list[list[tuple[str, float]]]:
        """(passage id, BM25 score) of the ``k`` best passages of each query."""
        self.prepare()
        if self._index is None:
            return [[] for _ in queries]
        mask = self._mask(where)
        n = len(self._ids)
        kk = min(k, n)
        step = max(1, _CELLS // n)
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(queries), step):
            scores = self._index.scores(queries[start : start + step])
            scores[scores <= 0] = -np.inf
            if mask is not None:
                scores[:, ~mask] = -np.inf
            idx, vals = top_k(scores, kk)
            for row_idx, row_vals in zip(idx, vals, strict=True):
                out.append(
                    [
                        (self._ids[i], float(v))
                        for i, v in zip(row_idx, row_vals, strict=True)
                        if i >= 0 and np.isfinite(v)
                    ]
                )
        return out

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
