"""k nearest neighbours by hand, with and without each row's own cell."""

from __future__ import annotations

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.core.numerics import MARGIN_KINDS, knn, margin_scores

# Three unit vectors in the plane: at 0°, 90° and 45°.
H = float(np.sqrt(0.5))
V = np.array([[1.0, 0.0], [0.0, 1.0], [H, H]], dtype=np.float32)


def test_knn_finds_the_nearest_rows_best_first() -> None:
    # Row 0's dot products: itself 1, row 2 0.7071, row 1 0.
    sims, idx = knn(V[:1], V, 2)
    assert idx.tolist() == [[0, 2]]
    assert sims[0].tolist() == pytest.approx([1.0, H])


def test_exclude_self_leaves_each_rows_own_cell_out() -> None:
    sims, idx = knn(V, V, 2, exclude_self=True)
    # 0 -> 2 (0.7071), 1 (0); 1 -> 2, 0; 2 -> 0 and 1 tie at 0.7071: the lower index first.
    assert idx.tolist() == [[2, 1], [2, 0], [0, 1]]
    assert sims[:, 0].tolist() == pytest.approx([H, H, H])


def test_exclude_self_with_an_offset_and_k_capped_at_the_candidates() -> None:
    # x is V[1:]: its rows are V's rows 1 and 2; only two other rows are left, so k=5 gives 2.
    sims, idx = knn(V[1:], V, 5, exclude_self=True, offset=1)
    assert idx.tolist() == [[2, 0], [0, 1]]
    assert sims.shape == (2, 2)


def test_knn_refuses_a_bad_k() -> None:
    with pytest.raises(InvalidInputError, match="k=0"):
        knn(V, V, 0)


def test_margin_kinds_by_hand() -> None:
    assert MARGIN_KINDS == ("ratio", "distance")
    # cos 0.6, neighbourhood means 0.4 and 0.2 -> mean 0.3: ratio 2.0, distance 0.3.
    sims = np.array([0.6])
    assert margin_scores(sims, 0.4, 0.2, "ratio").tolist() == pytest.approx([2.0])
    assert margin_scores(sims, 0.4, 0.2, "distance").tolist() == pytest.approx([0.3])
    with pytest.raises(InvalidInputError, match="'csls'"):
        margin_scores(sims, 0.4, 0.2, "csls")  # type: ignore[arg-type]
