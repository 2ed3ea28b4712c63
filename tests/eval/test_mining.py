"""Bitext mining: hand-computed margins, brute-force checks and a Tatoeba subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.embedders import Embedder
from xling.eval import best_threshold, bucc_f1, mine_pairs, xsim
from xling.eval.mining import knn, margin_candidates


def unit(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


# y0 is a hub: closest target of both sources by cosine.
X = unit([[1, 0], [0.8, 0.6]])
Y = unit([[0.9, 0.436], [0.6, 0.8]])


def test_margin_fixes_a_hub_hand_computed() -> None:
    # cos = [[0.900, 0.600], [0.982, 0.960]]. With k=2 the neighbourhood means are the row means
    # A_x = [0.750, 0.971] and column means A_y = [0.941, 0.780]. ratio(x1, y1) =
    # 0.960 / ((0.971 + 0.780) / 2) = 1.097 beats ratio(x1, y0) = 0.982 / ((0.971 + 0.941) / 2)
    # = 1.027, so margin finds both pairs while cosine sends x1 to the hub.
    assert xsim(X, Y, kind="cosine").accuracy == 50.0
    ratio = xsim(X, Y, kind="ratio", k=2)
    assert ratio.accuracy == 100.0 and ratio.errors == 0
    assert list(ratio.predictions) == [0, 1]
    assert xsim(X, Y, kind="distance", k=2).accuracy == 100.0
    scores, idx = margin_candidates(X, Y, kind="ratio", k=2)
    assert scores[1, list(idx[1]).index(1)] == pytest.approx(1.0967, abs=1e-3)
    assert scores[1, list(idx[1]).index(0)] == pytest.approx(1.0270, abs=1e-3)


def test_knn_and_xsim_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    x = unit(rng.normal(size=(300, 16)).tolist())
    y = unit((x + 0.9 * rng.normal(size=x.shape)).tolist())
    sims, idx = knn(x, y, 5)
    full = x @ y.T
    assert np.array_equal(idx[:, 0], full.argmax(axis=1))
    assert np.allclose(sims, -np.sort(-full, axis=1)[:, :5], atol=1e-6)
    ax = np.sort(full, axis=1)[:, -4:].mean(axis=1)
    ay = np.sort(full, axis=0)[-4:, :].mean(axis=0)
    ratio = full / ((ax[:, None] + ay[None, :]) / 2)
    expected = 100 * np.mean(ratio.argmax(axis=1) == np.arange(300))
    assert xsim(x, y, kind="ratio").accuracy == pytest.approx(expected)
    cosine = 100 * np.mean(full.argmax(axis=1) == np.arange(300))
    assert xsim(x, y, kind="cosine").accuracy == pytest.approx(cosine)
    # LASER's shortcut rescoring only the k nearest can only differ where the best is outside.
    assert abs(xsim(x, y, candidates="knn").accuracy - expected) < 5


def test_duplicate_targets_count_as_correct_with_texts() -> None:
    x = unit([[1, 0], [0, 1]])
    y = unit([[0, 1], [0, 1]])  # both targets identical; source 0 has no good match
    assert xsim(x, y, kind="cosine").errors == 1  # x1 goes to y0 (tie, lowest index)
    assert xsim(x, y, kind="cosine", target_texts=["Hi.", "Hi."]).errors == 0


def test_bucc_f1_hand_computed() -> None:
    mined = mine_pairs(X, Y, kind="ratio", k=2, mode="forward")
    assert [(p.source, p.target) for p in mined] == [(1, 1), (0, 0)]
    gold = [(0, 0), (1, 1), (5, 5)]
    # Threshold 1.08 keeps only (1, 1): precision 1/1, recall 1/3, F1 = 2*1*(1/3)/(4/3) = 0.5.
    score = bucc_f1(mined, gold, threshold=1.08)
    assert (score.precision, score.f1) == (100.0, pytest.approx(50.0))
    assert score.recall == pytest.approx(100 / 3)
    best = best_threshold(mined, gold)
    assert best.correct == 2 and best.f1 == pytest.approx(80.0)  # P 1, R 2/3
    assert best.threshold == pytest.approx(mined[-1].score)


def test_bad_inputs() -> None:
    with pytest.raises(UnknownSpecError, match="unknown mining kind 'cos'"):
        xsim(X, Y, kind="cos")
    with pytest.raises(InvalidInputError, match="same number of columns"):
        xsim(X, np.ones((2, 3), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="at least as many targets"):
        xsim(X, Y[:1])
    with pytest.raises(InvalidInputError, match="k=0"):
        xsim(X, Y, k=0)
    with pytest.raises(InvalidInputError, match="gold pairs are empty"):
        bucc_f1([], [], 0.5)


def tatoeba(shared_data: Path, lang: str, n: int) -> tuple[list[str], list[str]]:
    def read(side: str) -> list[str]:
        path = shared_data / "tatoeba" / f"tatoeba.{lang}-eng.{side}"
        return path.read_text(encoding="utf-8").split("\n")[:n]

    return read(lang), read("eng")


def test_tatoeba_swahili_margin_beats_cosine_with_e5(shared_data: Path, e5: Embedder) -> None:
    # Full-set anchors (bench/tatoeba.py): swh 69.7 cosine, 80.3 margin with the bundled e5.
    src, eng = tatoeba(shared_data, "swh", 200)
    x, y = e5.embed_documents(src), e5.embed_documents(eng)
    cosine = xsim(x, y, kind="cosine").accuracy
    margin = xsim(x, y, kind="ratio").accuracy
    assert 60 < cosine < margin
    assert margin - cosine > 3


def test_tatoeba_german_use_m3(shared_data: Path, use_m3: Embedder) -> None:
    src, eng = tatoeba(shared_data, "deu", 200)
    x, y = use_m3.embed_documents(src), use_m3.embed_documents(eng)
    assert xsim(x, y, kind="cosine").accuracy > 95
    assert xsim(x, y, kind="ratio").accuracy >= xsim(x, y, kind="cosine").accuracy
    mined = mine_pairs(x, y)
    score = bucc_f1(mined, [(i, i) for i in range(200)], threshold=1.0)
    assert score.f1 > 90
