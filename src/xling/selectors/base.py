"""The :class:`Selector` interface shared by every ICL example selection method."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.validation import check_choice, check_positive_int, check_texts
from xling.selectors.leakage import LeakageGuard
from xling.selectors.types import ORDERS, Example, Order

__all__ = ["Blocked", "Ranking", "Selector", "row_chunks", "mask_blocked"]

# Cells of a (queries x pool) score block held at once; bounds memory for big pools.
CELLS_PER_BLOCK = 1 << 24


@dataclass(frozen=True)
class Blocked:
    """Pool entries a query may not get: parallel arrays of query numbers and pool indices."""

    queries: np.ndarray
    pool: np.ndarray

    @classmethod
    def none(cls) -> Blocked:
        """Nothing blocked."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty)

    def count_per_query(self, n_queries: int) -> np.ndarray:
        """How many pool entries each query loses."""
        return np.bincount(self.queries, minlength=n_queries)


@dataclass(frozen=True)
class Ranking:
    """Per query, pool indices best first (``-1`` where fewer than k were allowed).

    Attributes:
        indices: ``(queries, k)`` int64 pool indices (positions in the aligned pool).
        scores: ``(queries, k)`` float scores.
    """

    indices: np.ndarray
    scores: np.ndarray


def row_chunks(n_rows: int, n_cols: int, cells: int = CELLS_PER_BLOCK) -> Iterator[slice]:
    """Consecutive row slices whose ``rows x n_cols`` block stays under ``cells``."""
    step = max(1, cells // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def mask_blocked(scores: np.ndarray, blocked: Blocked, rows: slice) -> np.ndarray:
    """Sets the blocked cells of a block of rows (query numbers ``rows``) to ``-inf``."""
    if len(blocked.queries):
        inside = (blocked.queries >= rows.start) & (blocked.queries < rows.stop)
        if inside.any():
            scores[blocked.queries[inside] - rows.start, blocked.pool[inside]] = -np.inf
    return scores


class Selector(ABC):
    """Chooses in-context examples for many queries at once from an aligned pool.

    Subclasses implement :meth:`_rank`, which scores all queries in vectorised form and
    returns pool indices best first. This class validates input, applies the leakage guard,
    puts the examples in prompt order and maps pool positions back to pool rows.

    Args:
        pool: The translation pairs to choose from.
        order: ``nearest-last`` (best example next to the query) or ``nearest-first``.
        leakage_guard: Exclude pool pairs identical to the query.

    Raises:
        InvalidInputError: If the pool is empty or ``order`` is unknown.
    """

    name: str = ""

    def __init__(
        self, pool: AlignedPool, *, order: Order = "nearest-last", leakage_guard: bool = True
    ) -> None:
        if not isinstance(pool, AlignedPool):
            raise InvalidInputError(
                "pool must be an xling AlignedPool (aligned_pool(pool, src, tgt)), got "
                f"{pool!r:.60}"
            )
        if len(pool) == 0:
            raise InvalidInputError("the pool is empty; give at least one translation pair")
        self.pool = pool
        self.order: Order = check_choice(order, "order", ORDERS)
        self._guard = LeakageGuard(pool) if leakage_guard else None

    def __len__(self) -> int:
        return len(self.pool)

    def prepare(self, on_progress: ProgressCallback | None = None) -> None:
        """Does the pool-side work (embedding, indexing) now rather than on first use."""
        return None

    def blocked(self, queries: Sequence[str]) -> Blocked:
        """The pool entries the leakage guard removes for each query."""
        if self._guard is None:
            return Blocked.none()
        qs, ps = self._guard.blocked(queries)
        return Blocked(qs, ps)

    def rank(
        self, queries: Sequence[str], k: int, *, on_progress: ProgressCallback | None = None
    ) -> Ranking:
        """Pool positions of each query's ``k`` best examples, best first, as arrays.

        Args:
            queries: Source-language sentences to translate.
            k: Examples per query (1 to the pool size).
            on_progress: Called with (steps done, steps to do) while working.

        Raises:
            InvalidInputError: On empty queries or a ``k`` outside 1..pool size.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k", maximum=len(self.pool))
        if not texts:
            empty = np.zeros((0, k))
            return Ranking(empty.astype(np.int64), empty)
        return self._rank(texts, k, self.blocked(texts), on_progress)

    def select(
        self, queries: Sequence[str], k: int, *, on_progress: ProgressCallback | None = None
    ) -> list[list[Example]]:
        """Chooses ``k`` examples for each query.

        Args:
            queries: Source-language sentences to translate.
            k: Examples per query (1 to the pool size).
            on_progress: Called with (steps done, steps to do) while working.

        Returns:
            For each query, its examples in prompt order (see ``order``). A query loses the
            pool pairs identical to it, so it gets fewer than ``k`` only if the pool has no
            other pairs left.

        Raises:
            InvalidInputError: On empty queries or a ``k`` outside 1..pool size.
        """
        return self.examples(self.rank(queries, k, on_progress=on_progress))

    def examples(self, ranking: Ranking) -> list[list[Example]]:
        """Turns a ranking into examples in prompt order."""
        pool = self.pool
        rows, sources, targets = pool.rows, pool.sources, pool.targets
        reverse = self.order == "nearest-last"
        out: list[list[Example]] = []
        for idx, scores in zip(ranking.indices.tolist(), ranking.scores.tolist(), strict=True):
            chosen = [
                Example(rows[i], sources[i], targets[i], s, rank)
                for rank, (i, s) in enumerate(zip(idx, scores, strict=True), 1)
                if i >= 0
            ]
            if reverse:
                chosen.reverse()
            out.append(chosen)
        return out

    @abstractmethod
    def _rank(
        self, queries: list[str], k: int, blocked: Blocked, on_progress: ProgressCallback | None
    ) -> Ranking:
        """Ranks the pool for every query; blocked entries must never be returned."""
