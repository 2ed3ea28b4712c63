"""R-BM25 (Agrawal et al., 2023): BM25 candidates re-ranked for n-gram coverage of the query.

BM25 returns the top candidates (100); a greedy loop then picks, again and again, the candidate
whose source sentence best recalls the query's word n-grams (orders 1-4, a BLEU-like geometric
mean of clipped n-gram matches with effective order and exponential smoothing), and multiplies
the weight of the query n-grams it covered by λ = 0.1, so the next pick favours n-grams not
covered yet. It stops when the best score falls below the threshold (0.01 on a 0-100 scale);
remaining slots are filled in BM25 order.

The greedy loop runs k steps vectorised over all queries and candidates. Picks are positions
in each query's candidate list and are mapped back to pool indices through that list. (The
ICL-MT implementation used the positions inside the top-100 list as pool indices, so it always
chose among pool rows 0-99.) Tokens come from :func:`xling.core.tokenize.tokenize`, which handles
scripts without spaces; ICL-MT used sacrebleu's 13a tokenizer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Unpack

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.tokenize import tokenize
from xling.selectors._options import BM25Options
from xling.selectors.base import CELLS_PER_BLOCK, Blocked, Ranking
from xling.selectors.lexical import BM25Selector

__all__ = ["MAX_NGRAM_ORDER", "RBM25Selector", "ngram_counts", "recall_scores"]

MAX_NGRAM_ORDER = 4


def ngram_counts(tokens: list[str], max_order: int = MAX_NGRAM_ORDER) -> Counter[tuple[str, ...]]:
    """Counts of all n-grams of orders 1..max_order."""
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, max_order + 1):
        counts.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return counts


def recall_scores(
    weights: np.ndarray, matches: np.ndarray, unmatched: np.ndarray | None = None
) -> np.ndarray:
    """The n-gram recall score (0-100) of every candidate, for a batch of queries.

    Args:
        weights: ``(queries, orders, g)`` current weight of each query n-gram (0 = padding).
        matches: ``(queries, candidates, orders, g)`` count of each query n-gram in each
            candidate (0 once the n-gram is absent).
        unmatched: ``(queries, orders)`` weight of query n-grams left out of ``weights``
            because no candidate has them (they only add to the totals).

    Returns:
        ``(queries, candidates)`` scores: the geometric mean over the query's effective orders
        of ``100 * clipped matches / total weight``, where an order with no match counts
        ``100 / (2^m * total)`` for its m-th such order; 0 when nothing matches.
    """
    correct = np.minimum(weights[:, None], matches).sum(axis=-1)  # (q, c, o)
    total = weights.sum(axis=-1)
    if unmatched is not None:
        total = total + unmatched
    total = total[:, None, :]  # (q, 1, o)
    valid = np.broadcast_to(total > 0, correct.shape)
    zero = (correct <= 0) & valid
    smooth = np.power(2.0, np.cumsum(zero, axis=-1))
    safe_total = np.where(total > 0, total, 1.0)
    precision = np.where(correct > 0, 100.0 * correct / safe_total, 100.0 / (smooth * safe_total))
    logs = np.where(valid, np.log(np.where(valid, precision, 1.0)), 0.0).sum(axis=-1)
    effective = valid.sum(axis=-1)
    scores = np.exp(logs / np.maximum(effective, 1))
    return np.where((correct > 0).any(axis=-1) & (effective > 0), scores, 0.0)


@dataclass(frozen=True)
class _QueryGrams:
    """One query's n-grams by order: vocabulary ids and counts."""

    ids: list[np.ndarray]
    counts: list[np.ndarray]

    @classmethod
    def of(cls, counts: Counter[tuple[str, ...]], vocab: dict[tuple[str, ...], int]) -> _QueryGrams:
        ids: list[list[int]] = [[] for _ in range(MAX_NGRAM_ORDER)]
        weights: list[list[int]] = [[] for _ in range(MAX_NGRAM_ORDER)]
        for gram, count in counts.items():
            ids[len(gram) - 1].append(vocab.setdefault(gram, len(vocab)))
            weights[len(gram) - 1].append(count)
        return cls(
            [np.asarray(x, dtype=np.int64) for x in ids],
            [np.asarray(x, dtype=np.float64) for x in weights],
        )

    def width(self, live: np.ndarray) -> int:
        """Most n-grams of one order that some candidate has."""
        return max(1, max(int(live[x].sum()) for x in self.ids))

    @staticmethod
    def stack(
        grams: list[_QueryGrams], live: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ids, weights, unmatched)``: arrays ``(queries, orders, width)`` of the n-grams some
        candidate has (padding: id -1, weight 0), and ``(queries, orders)`` weight of the rest."""
        width = max(g.width(live) for g in grams)
        ids = np.full((len(grams), MAX_NGRAM_ORDER, width), -1, dtype=np.int64)
        weights = np.zeros(ids.shape, dtype=np.float64)
        unmatched = np.zeros((len(grams), MAX_NGRAM_ORDER), dtype=np.float64)
        for q, g in enumerate(grams):
            for o in range(MAX_NGRAM_ORDER):
                keep = live[g.ids[o]]
                n = int(keep.sum())
                ids[q, o, :n] = g.ids[o][keep]
                weights[q, o, :n] = g.counts[o][keep]
                unmatched[q, o] = g.counts[o][~keep].sum()
        return ids, weights, unmatched


@dataclass(frozen=True)
class _MatchTable:
    """Sorted keys ``pool index * size + n-gram id`` with the n-gram's count in that sentence."""

    keys: np.ndarray
    counts: np.ndarray
    size: int

    def matches(self, candidates: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``(queries, candidates, orders, width)`` count of each query n-gram per candidate."""
        shape = (*candidates.shape, *ids.shape[1:])
        if not len(self.keys):
            return np.zeros(shape)
        lookup = candidates[:, :, None, None] * self.size + ids[:, None]
        pos = np.minimum(np.searchsorted(self.keys, lookup), len(self.keys) - 1)
        found = self.keys[pos] == lookup
        found &= (ids[:, None] >= 0) & (candidates[:, :, None, None] >= 0)
        return np.where(found, self.counts[pos], 0.0)

    def live(self) -> np.ndarray:
        """Which n-gram ids occur in at least one candidate."""
        out = np.zeros(self.size, dtype=bool)
        out[self.keys % self.size] = True
        return out


def _blocks(order: np.ndarray, widths: list[int], depth: int) -> list[np.ndarray]:
    """Consecutive runs of ``order`` (queries by increasing width) under the cell budget."""
    blocks: list[np.ndarray] = []
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (
            (stop + 1 - start) * depth * MAX_NGRAM_ORDER * widths[order[stop]] <= _CELLS
        ):
            stop += 1
        blocks.append(order[start:stop])
        start = stop
    return blocks


# Cells of the (queries, candidates, orders, n-grams) tensor per block.
_CELLS = CELLS_PER_BLOCK // 8


class RBM25Selector(BM25Selector):
    """BM25 top candidates re-ranked greedily for n-gram recall of the query (R-BM25).

    Args:
        pool: The translation pairs.
        candidates: BM25 candidates per query (100).
        weight: Factor applied to covered query n-grams after each pick (λ = 0.1).
        threshold: Stop picking when the best score is below this (0.01).
        **options: :class:`BM25Selector`'s ``k1``, ``b``, ``method``, ``order`` and
            ``leakage_guard``.

    Example scores are the recall score (0-100) at the time of the pick.
    """

    name = "r-bm25"

    def __init__(
        self,
        pool: AlignedPool,
        *,
        candidates: int = 100,
        weight: float = 0.1,
        threshold: float = 0.01,
        **options: Unpack[BM25Options],
    ) -> None:
        super().__init__(pool, **options)
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise InvalidInputError(
                f"candidates={candidates!r} is not allowed; use a positive integer"
            )
        if not 0.0 <= weight <= 1.0:
            raise InvalidInputError(f"weight={weight!r} is not allowed; use a number from 0 to 1")
        if not threshold >= 0.0:
            raise InvalidInputError(f"threshold={threshold!r} is not allowed; use a number >= 0")
        self.candidates = candidates
        self.weight = float(weight)
        self.threshold = float(threshold)
        self._pool_ngrams: dict[int, Counter[tuple[str, ...]]] = {}

    def _candidate_ngrams(self, index: int) -> Counter[tuple[str, ...]]:
        if index not in self._pool_ngrams:
            self._pool_ngrams[index] = ngram_counts(tokenize(self.pool.sources[index]))
        return self._pool_ngrams[index]

    def _rank(
        self, queries: list[str], k: int, blocked: Blocked, on_progress: ProgressCallback | None
    ) -> Ranking:
        depth = min(len(self.pool), max(k, self.candidates))
        first = self.rank_lexical(queries, depth, blocked)
        vocab: dict[tuple[str, ...], int] = {}
        grams = [_QueryGrams.of(ngram_counts(tokenize(q)), vocab) for q in queries]
        table = self._candidate_table(first.indices, vocab)
        live = table.live()
        widths = [g.width(live) for g in grams]
        picks = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf)
        # Queries of similar n-gram counts share a block, so little of it is padding.
        done = 0
        for block in _blocks(np.argsort(widths, kind="stable"), widths, depth):
            ids, weights, unmatched = _QueryGrams.stack([grams[i] for i in block], live)
            cand = first.indices[block]
            matches = table.matches(cand, ids)
            pick, value = self._greedy(weights, unmatched, matches, cand >= 0, k)
            picks[block] = np.where(pick >= 0, np.take_along_axis(cand, np.maximum(pick, 0), 1), -1)
            scores[block] = value
            done += len(block)
            if on_progress:
                on_progress(done, len(queries))
        return Ranking(picks, scores)

    def _candidate_table(
        self, candidates: np.ndarray, vocab: dict[tuple[str, ...], int]
    ) -> _MatchTable:
        """Counts of the queries' n-grams in every candidate sentence."""
        size = max(1, len(vocab))
        keys: list[int] = []
        values: list[int] = []
        for p in np.unique(candidates[candidates >= 0]).tolist():
            for gram, count in self._candidate_ngrams(p).items():
                gid = vocab.get(gram)
                if gid is not None:
                    keys.append(p * size + gid)
                    values.append(count)
        key_arr = np.asarray(keys, dtype=np.int64)
        order = np.argsort(key_arr, kind="stable")
        return _MatchTable(key_arr[order], np.asarray(values, dtype=np.float64)[order], size)

    def _greedy(
        self,
        weights: np.ndarray,
        unmatched: np.ndarray,
        matches: np.ndarray,
        available: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """k greedy picks per query: positions in the candidate lists, and their scores."""
        n, depth = available.shape
        rows = np.arange(n)
        open_ = available.copy()
        running = np.ones(n, dtype=bool)
        picks = np.full((n, k), -1, dtype=np.int64)
        values = np.full((n, k), -np.inf)
        for step in range(k):
            # Rounded so that scores equal up to summation order tie, and the better BM25
            # candidate wins the tie.
            score = np.where(open_, recall_scores(weights, matches, unmatched).round(9), -np.inf)
            best = score.argmax(axis=1)
            top = score[rows, best]
            running &= top >= self.threshold
            if not running.any():
                break
            take = np.flatnonzero(running)
            picks[take, step] = best[take]
            values[take, step] = top[take]
            open_[take, best[take]] = False
            covered = matches[take, best[take]] > 0  # (t, o, g)
            weights[take] = np.where(covered, weights[take] * self.weight, weights[take])
        # Fill what the threshold left empty (always a suffix of the picks) with the remaining
        # candidates in BM25 order.
        missing = (picks < 0).sum(axis=1)
        if missing.any():
            final = np.where(open_, recall_scores(weights, matches, unmatched), -np.inf)
            remaining = np.argsort(~open_, axis=1, kind="stable")  # open candidates first
            slot = np.arange(k)[None, :] - (k - missing)[:, None]
            cand = np.take_along_axis(remaining, np.clip(slot, 0, depth - 1), axis=1)
            fill = (slot >= 0) & np.take_along_axis(open_, cand, axis=1)
            picks = np.where(fill, cand, picks)
            values = np.where(fill, np.take_along_axis(final, cand, axis=1), values)
        return picks, values
