"""Margin scoring (Artetxe & Schwenk 2019): by hand, and against cosine on Tatoeba swh-eng."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xling.core.records import AlignedPool
from xling.embedders import Embedder
from xling.selectors import DenseSelector, MarginSelector


def _unit_pool(vectors: np.ndarray, embedder: Embedder) -> AlignedPool:
    n = len(vectors)
    texts = [f"pair {i}" for i in range(n)]
    padded = np.zeros((n, embedder.dim), dtype=np.float32)
    padded[:, : vectors.shape[1]] = vectors
    return AlignedPool(texts, texts, list(range(n)), "eng", "fra", padded, padded, embedder.id)


def test_ratio_margin_by_hand(use_m3: Embedder) -> None:
    # Queries q1 = (1, 0), q2 = (0, 1); pool p1 = (1, 0), p2 = (0.6, 0.8), p3 = (0, 1).
    # cos: q1 -> [1, .6, 0], q2 -> [0, .8, 1]. With k = 1 neighbour each way:
    # forward (best pool item per query) = 1 for both queries; backward (best query per pool
    # item) = [1, .8, 1]. margin(q1, p2) = .6 / ((1 + .8) / 2) = 0.6667, margin(q2, p2) =
    # .8 / .9 = 0.8889, margin(q1, p1) = 1 / 1 = 1.
    pool = _unit_pool(np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32), use_m3)
    queries = np.zeros((2, use_m3.dim), dtype=np.float32)
    queries[0, 0], queries[1, 1] = 1, 1
    ranking = MarginSelector(pool, use_m3, neighbors=1).rank_vectors(queries, 3)
    assert ranking.indices.tolist() == [[0, 1, 2], [2, 1, 0]]
    np.testing.assert_allclose(ranking.scores[0], [1.0, 0.6 / 0.9, 0.0], atol=1e-6)
    np.testing.assert_allclose(ranking.scores[1][1], 0.8 / 0.9, atol=1e-6)
    distance = MarginSelector(pool, use_m3, neighbors=1, kind="distance").rank_vectors(queries, 1)
    np.testing.assert_allclose(distance.scores[:, 0], [0.0, 0.0], atol=1e-6)  # 1 - (1 + 1) / 2


def test_margin_equals_the_formula_on_random_vectors(use_m3: Embedder) -> None:
    rng = np.random.default_rng(0)
    pool_vecs = rng.normal(size=(300, use_m3.dim)).astype(np.float32)
    pool_vecs /= np.linalg.norm(pool_vecs, axis=1, keepdims=True)
    queries = rng.normal(size=(40, use_m3.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    pool = AlignedPool(
        [f"s{i}" for i in range(300)], [f"t{i}" for i in range(300)], list(range(300)),
        "eng", "fra", pool_vecs, pool_vecs, use_m3.id,
    )  # fmt: skip
    got = MarginSelector(pool, use_m3, neighbors=4).rank_vectors(queries, 5)
    sims = queries @ pool_vecs.T
    fwd = np.sort(sims, axis=1)[:, -4:].mean(axis=1)
    bwd = np.sort(sims, axis=0)[-4:, :].mean(axis=0)
    margin = sims / ((fwd[:, None] + bwd[None, :]) / 2)
    assert got.indices.tolist() == np.argsort(-margin, axis=1)[:, :5].tolist()


@pytest.mark.slow
def test_margin_beats_cosine_on_tatoeba_swahili(shared_data: Path, e5: Embedder) -> None:
    folder = shared_data / "tatoeba"
    swh = folder.joinpath("tatoeba.swh-eng.swh").read_text(encoding="utf-8").splitlines()
    eng = folder.joinpath("tatoeba.swh-eng.eng").read_text(encoding="utf-8").splitlines()
    assert len(swh) == len(eng) == 390
    # Swahili queries look for their English translation among the pool's sources (s2s).
    pool = AlignedPool(eng, swh, list(range(len(eng))), "eng", "swh")
    gold = np.arange(len(swh))
    cosine = DenseSelector(pool, e5, leakage_guard=False).rank(swh, 1).indices[:, 0]
    margin = MarginSelector(pool, e5, leakage_guard=False).rank(swh, 1).indices[:, 0]
    cos_acc, margin_acc = (cosine == gold).mean(), (margin == gold).mean()
    # Measured with selection's default query/query roles: 0.728 with cosine, 0.821 with the
    # ratio margin (k = 4) (passage/passage gave 0.697 and 0.803, query/passage 0.749 and 0.813).
    assert cos_acc > 0.65 and margin_acc >= cos_acc + 0.04, (cos_acc, margin_acc)


def test_a_single_query_is_ranked_by_cosine(shared_data: Path, use_m3: Embedder) -> None:
    # With one query the backward neighbourhood of every pool item is that query itself, so
    # margin = 2c / (f + c), increasing in the cosine c: the cosine order is kept.
    lines = shared_data.joinpath("flores/eng/dev.txt").read_text(encoding="utf-8").split("\n")
    pool = AlignedPool(lines[:300], lines[:300], list(range(300)), "eng", "eng")
    query = ["The health ministry said the outbreak was under control."]
    cosine = DenseSelector(pool, use_m3).rank(query, 10).indices
    margin = MarginSelector(pool, use_m3).rank(query, 10).indices
    assert margin.tolist() == cosine.tolist()
