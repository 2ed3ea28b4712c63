"""Dense selection (s2s, s2t, mix) against brute-force numpy on real FLORES embeddings."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tests.selectors.conftest import PoolMaker
from xling.embedders import Embedder
from xling.selectors import DenseSelector


def _brute_force(queries: np.ndarray, keys: np.ndarray, k: int) -> list[list[int]]:
    sims = queries @ keys.T
    # Sort by (-similarity, pool index): ties go to the earlier pool pair.
    return [sorted(range(len(keys)), key=lambda j: (-row[j], j))[:k] for row in sims]


def test_s2s_equals_brute_force(
    flores_pool: PoolMaker, flores: Callable[[str, str], list[str]], use_m3: Embedder
) -> None:
    pool = flores_pool("eng", "fra")
    queries = flores("eng", "devtest")[:100]
    ranking = DenseSelector(pool, use_m3).rank(queries, 10)
    q = use_m3.embed_queries(queries, task="symmetric")
    expected = _brute_force(q, use_m3.embed_documents(pool.sources), 10)
    assert ranking.indices.tolist() == expected


def test_s2t_retrieves_translations_across_languages(
    flores_pool: PoolMaker, flores: Callable[[str, str], list[str]], use_m3: Embedder
) -> None:
    pool = flores_pool("eng", "fra")
    # English dev sentences against the French side: each should find its own translation.
    queries = flores("eng", "dev")[:100]
    selector = DenseSelector(pool, use_m3, format="s2t", leakage_guard=False)
    top1 = selector.rank(queries, 1).indices[:, 0]
    assert (top1 == np.arange(100)).mean() >= 0.9


def test_mix_interpolates_the_two_formats(
    flores_pool: PoolMaker, flores: Callable[[str, str], list[str]], use_m3: Embedder
) -> None:
    pool = flores_pool("eng", "fra", n=400)
    queries = flores("eng", "devtest")[:50]

    def rank(fmt: str, alpha: float = 0.5) -> list[list[int]]:
        selector = DenseSelector(pool, use_m3, format=fmt, alpha=alpha)  # type: ignore[arg-type]
        return selector.rank(queries, 5).indices.tolist()

    assert rank("mix", 1.0) == rank("s2s") and rank("mix", 0.0) == rank("s2t")
    half = DenseSelector(pool, use_m3, format="mix", alpha=0.5).rank(queries, 1)
    q = use_m3.embed_queries(queries, task="symmetric")
    src, tgt = use_m3.embed_documents(pool.sources), use_m3.embed_documents(pool.targets)
    expected = 0.5 * (q @ src.T) + 0.5 * (q @ tgt.T)
    np.testing.assert_allclose(half.scores[:, 0], expected.max(axis=1), atol=1e-5)
