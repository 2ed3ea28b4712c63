"""BUCC-style evaluation of mined pairs: precision, recall and F1 above a score threshold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.validation import check_finite, check_sequence, preview
from xling.eval.mining import MinedPair

__all__ = ["BuccScore", "bucc_f1", "best_threshold"]


@dataclass(frozen=True)
class BuccScore:
    """Precision, recall and F1 (in percent) of mined pairs above a threshold."""

    threshold: float
    precision: float
    recall: float
    f1: float
    predicted: int
    gold: int
    correct: int


def _gold_set(gold: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for item in check_sequence(gold, "gold", "(source, target) pairs"):
        if (
            not isinstance(item, Sequence)
            or isinstance(item, str)
            or len(item) != 2
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in item)
        ):
            raise InvalidInputError(
                f"gold pair {preview(item)} is not allowed; use (source row, target row) integers"
            )
        out.add((int(item[0]), int(item[1])))
    if not out:
        raise InvalidInputError("gold pairs are empty; F1 needs at least one gold pair")
    return out


def _check_mined(mined: Any) -> list[MinedPair]:
    pairs = check_sequence(mined, "mined", "MinedPair (from mine_pairs)")
    for pair in pairs:
        if not isinstance(pair, MinedPair):
            raise InvalidInputError(
                f"mined holds {preview(pair)}; use the MinedPair list mine_pairs returns"
            )
    return pairs


def _score_at(
    mined: Sequence[MinedPair], gold: set[tuple[int, int]], threshold: float
) -> BuccScore:
    predicted = [p for p in mined if p.score >= threshold]
    correct = sum((p.source, p.target) in gold for p in predicted)
    return _bucc(threshold, len(predicted), len(gold), correct)


def _bucc(threshold: float, predicted: int, gold: int, correct: int) -> BuccScore:
    precision = 100.0 * correct / predicted if predicted else 0.0
    recall = 100.0 * correct / gold
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BuccScore(threshold, precision, recall, f1, predicted, gold, correct)


def bucc_f1(
    mined: Sequence[MinedPair], gold: Iterable[tuple[int, int]], threshold: float
) -> BuccScore:
    """BUCC-style precision/recall/F1 of the mined pairs scoring at least ``threshold``.

    Args:
        mined: Pairs from :func:`mine_pairs`.
        gold: The true ``(source, target)`` pairs.
        threshold: Minimum score of a predicted pair.

    Returns:
        The :class:`BuccScore` (percentages).
    """
    value = check_finite(threshold, "threshold")
    return _score_at(_check_mined(mined), _gold_set(gold), value)


def best_threshold(mined: Sequence[MinedPair], gold: Iterable[tuple[int, int]]) -> BuccScore:
    """The threshold with the best F1 over the mined scores (BUCC's tuning on its train split).

    A threshold is chosen on a training split and then applied with :func:`bucc_f1` on test.
    """
    gold_set = _gold_set(gold)
    ordered = sorted(_check_mined(mined), key=lambda p: -p.score)
    best = _bucc(float("inf"), 0, len(gold_set), 0)
    correct = 0
    for n, pair in enumerate(ordered, start=1):
        correct += (pair.source, pair.target) in gold_set
        is_last_of_score = n == len(ordered) or ordered[n].score < pair.score
        if is_last_of_score:
            candidate = _bucc(pair.score, n, len(gold_set), correct)
            if candidate.f1 > best.f1:
                best = candidate
    return best
