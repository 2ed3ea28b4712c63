"""The leakage guard: a query must never get its own pair (or itself) as an example.

When the pool and the test set overlap (a pool built from a corpus that contains the test
sentences, a sentence repeated across splits), the nearest example of a query is its own
translation, and few-shot scores measure copying. The guard finds pool pairs whose source or
target equals the query after Unicode (NFKC), case and whitespace normalisation, so that every
strategy excludes them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

from xling.core.records import AlignedPool

__all__ = ["LeakageGuard", "normalize_text"]


def normalize_text(text: str) -> str:
    """NFKC, case-folded, with runs of whitespace collapsed: the identity used for leakage."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class LeakageGuard:
    """Finds, for a batch of queries, the pool pairs identical to each query.

    Args:
        pool: The aligned pool.
    """

    def __init__(self, pool: AlignedPool) -> None:
        self._index: dict[str, list[int]] = {}
        for side in (pool.sources, pool.targets):
            for i, text in enumerate(side):
                entries = self._index.setdefault(normalize_text(text), [])
                if not entries or entries[-1] != i:
                    entries.append(i)

    def blocked(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The (query number, pool index) pairs to exclude.

        Returns:
            Two int64 arrays of equal length.
        """
        qs: list[int] = []
        ps: list[int] = []
        for q, text in enumerate(queries):
            for p in self._index.get(normalize_text(text), ()):
                qs.append(q)
                ps.append(p)
        return np.asarray(qs, dtype=np.int64), np.asarray(ps, dtype=np.int64)
