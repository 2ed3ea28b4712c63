"""Random selection: k distinct pool pairs per query, reproducible from a seed."""

from __future__ import annotations

from typing import Unpack

import numpy as np

from xling.core.numerics import top_k
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.validation import check_non_negative_int
from xling.selectors._options import SelectorOptions
from xling.selectors.base import Blocked, Ranking, Selector, mask_blocked, row_chunks

__all__ = ["RandomSelector"]


class RandomSelector(Selector):
    """Uniformly random examples, without replacement within a query.

    The draw is vectorised: every (query, pool pair) cell gets a uniform key from one seeded
    generator, and each query keeps its ``k`` largest keys. The same seed, queries and pool
    give the same examples.

    Args:
        pool: The translation pairs.
        seed: Seed of the generator.
        **options: :class:`~xling.selectors.base.Selector`'s ``order`` and ``leakage_guard``.

    Example scores are 0; examples have no preferred order, so ``rank`` follows the draw.
    """

    name = "random"

    def __init__(
        self,
        pool: AlignedPool,
        *,
        seed: int = 0,
        **options: Unpack[SelectorOptions],
    ) -> None:
        super().__init__(pool, **options)
        self.seed = check_non_negative_int(seed, "seed")

    def _rank(
        self, queries: list[str], k: int, blocked: Blocked, on_progress: ProgressCallback | None
    ) -> Ranking:
        rng = np.random.default_rng(self.seed)
        n = len(self.pool)
        parts = []
        for rows in row_chunks(len(queries), n):
            keys = rng.random((rows.stop - rows.start, n), dtype=np.float32)
            parts.append(top_k(mask_blocked(keys, blocked, rows), k)[0])
        indices = np.concatenate(parts)
        return Ranking(indices, np.zeros(indices.shape, dtype=np.float32))
