"""Borda and reciprocal rank fusion, by hand and on FLORES."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.selectors.conftest import PoolMaker
from xling.core.fusion import fuse_rankings
from xling.embedders import Embedder
from xling.selectors import BM25Selector, DenseSelector, FusionSelector


def test_borda_and_rrf_by_hand() -> None:
    a, b = np.array([[0, 1, 2]]), np.array([[2, 0, 3]])
    # Borda, depth 3: list a gives 0:3, 1:2, 2:1; list b gives 2:3, 0:2, 3:1 ->
    # totals 0:5, 2:4, 1:2, 3:1.
    borda = fuse_rankings([a, b], 5, 3, "borda")
    assert borda.indices.tolist() == [[0, 2, 1]] and borda.scores.tolist() == [[5, 4, 2]]
    # RRF (c = 60): 0: 1/61 + 1/62, 2: 1/63 + 1/61, 1: 1/62, 3: 1/63.
    rrf = fuse_rankings([a, b], 5, 3, "rrf")
    assert rrf.indices.tolist() == [[0, 2, 1]]
    assert rrf.scores[0, 0] == pytest.approx(1 / 61 + 1 / 62)
    # A tie (0: 2 + 1, 1: 1 + 2) goes to the earlier pool pair.
    tie = fuse_rankings([np.array([[0, 1]]), np.array([[1, 0]])], 2, 2, "borda")
    assert tie.indices.tolist() == [[0, 1]]


@pytest.mark.parametrize("method", ["borda", "rrf"])
def test_fusion_on_flores_draws_from_both_rankings(
    method: str, flores_pool: PoolMaker, flores: Callable[[str, str], list[str]], use_m3: Embedder
) -> None:
    pool = flores_pool("eng", "fra", n=500)
    queries = flores("eng", "devtest")[:30]
    fused = FusionSelector(pool, use_m3, method=method).rank(queries, 5).indices  # type: ignore[arg-type]
    dense = DenseSelector(pool, use_m3).rank(queries, 100).indices
    lexical = BM25Selector(pool).rank(queries, 100).indices
    for f, d, x in zip(fused, dense, lexical, strict=True):
        assert set(f) <= set(d) | set(x)
    # Items both rankers put first come out first.
    agree = [i for i in range(30) if dense[i, 0] == lexical[i, 0]]
    assert agree and all(fused[i, 0] == dense[i, 0] for i in agree)
