"""Bitext mining: xSIM-style error rate and mined pairs, with cosine and margin scores.

The scoring follows LASER's ``xsim.py`` (Artetxe & Schwenk, 2019, "Margin-based parallel corpus
mining with multilingual sentence embeddings"): for each source sentence the ``k`` nearest targets
by cosine are the candidates; a margin score rescales each candidate's cosine ``a`` by the mean
cosine ``b`` of the two sentences' own ``k`` nearest neighbours (``b = (A_x + A_y) / 2``):

* ``ratio``: ``a / b``
* ``distance``: ``a - b``
* ``absolute``: ``a`` (plain cosine; ``cosine`` is its alias)

These are the mining kinds: the margin kinds of :data:`xling.core.numerics.MARGIN_KINDS`
plus plain cosine. Everything is vectorised numpy over blocks of rows (the k-NN search and the
margin are :mod:`xling.core.numerics`'), so memory stays bounded for large sets. BUCC F1 is in
:mod:`xling.eval.bucc`; :func:`xling.eval.mining_files.evaluate_mining` runs the whole
evaluation of line-aligned file pairs with an embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from xling.core import numerics
from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.numerics import MARGIN_KINDS, MarginKind, knn_mean, margin_scores
from xling.core.validation import (
    check_choice,
    check_positive_int,
    check_sequence,
    preview,
)

__all__ = [
    "MINING_KINDS",
    "CANDIDATES",
    "MiningKind",
    "MiningResult",
    "MinedPair",
    "check_kind",
    "knn",
    "margin_candidates",
    "xsim",
    "mine_pairs",
]

MiningKind = Literal["cosine", "absolute", "ratio", "distance"]
# "cosine" is plain nearest-neighbour search: LASER's "absolute" margin.
MINING_KINDS: tuple[MiningKind, ...] = ("cosine", "absolute", *MARGIN_KINDS)

_BLOCK = 2048  # rows of the similarity matrix held at once
# Which targets a margin rescores: every target (the exact argmax) or only the source's k nearest
# by cosine (LASER's xsim.py shortcut). On Tatoeba with the bundled e5, "all" gives deu 98.6,
# cmn 94.5, swh 80.3 and "knn" 98.3, 93.7, 78.5 (measured, passage-role embeddings).
CANDIDATES = ("all", "knn")


@dataclass(frozen=True)
class MiningResult:
    """The outcome of xSIM on one aligned set.

    Attributes:
        kind: ``cosine``, ``ratio``, ``distance`` or ``absolute``.
        k: Neighbourhood size of the margin (1 for cosine).
        n: Number of source sentences.
        errors: Sources whose best target is not their gold target.
        predictions: Index of the chosen target for each source.
    """

    kind: str
    k: int
    n: int
    errors: int
    predictions: np.ndarray

    @property
    def error_rate(self) -> float:
        """Errors in percent (xSIM)."""
        return 100.0 * self.errors / self.n

    @property
    def accuracy(self) -> float:
        """Correct sources in percent (Tatoeba accuracy = 100 - xSIM)."""
        return 100.0 - self.error_rate


@dataclass(frozen=True)
class MinedPair:
    """One candidate pair found by mining: source row, target row and its score."""

    source: int
    target: int
    score: float


def _as_vectors(value: Any, name: str) -> np.ndarray:
    try:
        vectors = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be a 2-d array of numbers, got {preview(value)}"
        ) from None
    if vectors.ndim == 2 and not np.all(np.isfinite(vectors)):
        raise InvalidInputError(f"{name} hold NaN or infinite values; embed the texts again")
    return vectors


def _check_vectors(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x is None or y is None:
        raise InvalidInputError(
            "source and target vectors must be 2-d arrays, got "
            f"{type(x).__name__} and {type(y).__name__}"
        )
    x = _as_vectors(x, "source vectors")
    y = _as_vectors(y, "target vectors")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InvalidInputError(
            f"source vectors {x.shape} and target vectors {y.shape} must be 2-d with the same "
            "number of columns"
        )
    if len(x) == 0 or len(y) == 0:
        raise InvalidInputError("mining needs at least one source and one target vector")
    return x, y


def check_kind(kind: str) -> MarginKind | Literal["absolute"]:
    """The margin :func:`~xling.core.numerics.margin_scores` computes for a mining kind.

    Raises:
        UnknownSpecError: If ``kind`` is not one of :data:`MINING_KINDS`.
    """
    if kind not in MINING_KINDS:
        raise UnknownSpecError(
            f"unknown mining kind {kind!r}; allowed: {', '.join(sorted(MINING_KINDS))}"
        )
    return "absolute" if kind == "cosine" else kind


def knn(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of each row of ``x`` among the rows of ``y`` by dot product.

    Args:
        x: ``(n, d)`` unit-norm query vectors.
        y: ``(m, d)`` unit-norm candidate vectors.
        k: Neighbours per row (capped at ``m``).

    Returns:
        ``(similarities, indices)``, both ``(n, k)``, best first. Ties keep the lower index first.
    """
    x, y = _check_vectors(x, y)
    k = min(check_positive_int(k, "k"), len(y))
    return numerics.knn(x, y, k, block=_BLOCK)


def _knn_means(sims: np.ndarray, k: int) -> np.ndarray:
    """Mean of each row of :func:`knn` similarities, in float32 like ``sims.mean(axis=1)``."""
    return knn_mean(sims, k, axis=1).astype(np.float32)


def margin_candidates(
    x: np.ndarray, y: np.ndarray, *, kind: str = "ratio", k: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Scores each source's ``k`` nearest targets with a margin.

    Args:
        x: ``(n, d)`` unit-norm source vectors.
        y: ``(m, d)`` unit-norm target vectors.
        kind: One of :data:`MINING_KINDS`.
        k: Neighbourhood size for the candidates and the margin's averages.

    Returns:
        ``(scores, indices)``, both ``(n, k)``: candidate targets and their margin scores.
    """
    margin = check_kind(kind)
    sims_xy, idx_xy = knn(x, y, k)
    sims_yx, _ = knn(y, x, k)
    mean_x = _knn_means(sims_xy, k)
    mean_y = _knn_means(sims_yx, k)
    scores = margin_scores(sims_xy.astype(np.float64), mean_x[:, None], mean_y[idx_xy], margin)
    return scores, idx_xy


def _best(
    x: np.ndarray, y: np.ndarray, kind: str, k: int, candidates: str
) -> tuple[np.ndarray, np.ndarray]:
    """Best target and its score for each source."""
    margin = check_kind(kind)
    if margin == "absolute":
        sims, idx = knn(x, y, 1)
        return idx[:, 0], sims[:, 0].astype(np.float64)
    if candidates == "knn":
        scores, idx = margin_candidates(x, y, kind=kind, k=k)
        pick = np.argmax(scores, axis=1)  # first maximum: LASER's choice on ties
        rows = np.arange(len(idx))
        return idx[rows, pick], scores[rows, pick]
    mean_x = _knn_means(knn(x, y, k)[0], k).astype(np.float64)
    mean_y = _knn_means(knn(y, x, k)[0], k).astype(np.float64)
    best = np.empty(len(x), dtype=np.int64)
    best_scores = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _BLOCK):
        sims = (x[start : start + _BLOCK] @ y.T).astype(np.float64)
        scores = margin_scores(sims, mean_x[start : start + _BLOCK, None], mean_y[None, :], margin)
        best[start : start + _BLOCK] = np.argmax(scores, axis=1)
        best_scores[start : start + _BLOCK] = scores[
            np.arange(len(scores)), best[start : start + _BLOCK]
        ]
    return best, best_scores


def _check_mining(
    source_vectors: np.ndarray, target_vectors: np.ndarray, kind: str, k: int, candidates: str
) -> tuple[np.ndarray, np.ndarray, MarginKind | Literal["absolute"], int]:
    """The checks :func:`xsim` and :func:`mine_pairs` share: vectors, kind, k and candidates."""
    x, y = _check_vectors(source_vectors, target_vectors)
    margin = check_kind(kind)
    k = check_positive_int(k, "k")
    check_choice(candidates, "margin candidates", CANDIDATES)
    return x, y, margin, k


def xsim(
    source_vectors: np.ndarray,
    target_vectors: np.ndarray,
    *,
    kind: str = "ratio",
    k: int = 4,
    candidates: str = "all",
    target_texts: Sequence[str] | None = None,
) -> MiningResult:
    """xSIM: how often the best-scoring target of source ``i`` is not target ``i``.

    Args:
        source_vectors: ``(n, d)`` unit-norm vectors; row ``i`` translates target row ``i``.
        target_vectors: ``(n, d)`` unit-norm vectors (more rows allowed: distractors after ``n``).
        kind: ``cosine``/``absolute`` (nearest neighbour), ``ratio`` or ``distance`` margin.
        k: Neighbourhood size of the margin (LASER uses 4).
        candidates: ``all`` rescores every target with the margin; ``knn`` only the ``k``
            nearest by cosine, as LASER's ``xsim.py`` does.
        target_texts: If given, a prediction also counts as correct when its target text equals
            the gold target text (LASER's ``eval_text`` behaviour for duplicate sentences).

    Returns:
        A :class:`MiningResult`; ``accuracy`` is the Tatoeba figure.

    Raises:
        InvalidInputError: If shapes disagree or there are fewer targets than sources.
        UnknownSpecError: If ``kind`` is unknown.
    """
    x, y, margin, k = _check_mining(source_vectors, target_vectors, kind, k, candidates)
    if len(y) < len(x):
        raise InvalidInputError(
            f"xsim needs at least as many targets as sources; got {len(x)} sources and "
            f"{len(y)} targets"
        )
    predictions, _ = _best(x, y, kind, k, candidates)
    gold = np.arange(len(x))
    wrong = predictions != gold
    if target_texts is not None:
        texts = check_sequence(target_texts, "target_texts", "strings")
        if len(texts) != len(y):
            raise InvalidInputError(
                f"target_texts has {len(texts)} items but there are {len(y)} target vectors"
            )
        wrong &= np.array([texts[p] != texts[g] for p, g in zip(predictions, gold, strict=True)])
    used_k = 1 if margin == "absolute" else k
    return MiningResult(kind, used_k, len(x), int(wrong.sum()), predictions)


_MODES = ("forward", "backward", "intersect", "max")


def mine_pairs(
    source_vectors: np.ndarray,
    target_vectors: np.ndarray,
    *,
    kind: str = "ratio",
    k: int = 4,
    candidates: str = "all",
    mode: Literal["forward", "backward", "intersect", "max"] = "max",
) -> list[MinedPair]:
    """Mines candidate pairs, one per source (and/or target), best score first.

    Args:
        source_vectors: ``(n, d)`` unit-norm vectors.
        target_vectors: ``(m, d)`` unit-norm vectors.
        kind: One of :data:`MINING_KINDS`.
        k: Margin neighbourhood size.
        candidates: ``all`` or ``knn`` (see :func:`xsim`).
        mode: ``forward`` (best target per source), ``backward`` (best source per target),
            ``intersect`` (pairs found both ways) or ``max`` (the union, as in LASER's BUCC
            mining, each pair once with its best score).

    Returns:
        Mined pairs sorted by descending score.
    """
    x, y, _, k = _check_mining(source_vectors, target_vectors, kind, k, candidates)
    check_choice(mode, "mining mode", _MODES)
    fwd_t, fwd_s = _best(x, y, kind, k, candidates)
    bwd_s_idx, bwd_s = _best(y, x, kind, k, candidates)
    forward = {(i, int(t)): float(s) for i, (t, s) in enumerate(zip(fwd_t, fwd_s, strict=True))}
    backward = {
        (int(s_i), j): float(s) for j, (s_i, s) in enumerate(zip(bwd_s_idx, bwd_s, strict=True))
    }
    if mode == "forward":
        chosen = forward
    elif mode == "backward":
        chosen = backward
    elif mode == "intersect":
        chosen = {p: max(s, backward[p]) for p, s in forward.items() if p in backward}
    else:
        chosen = dict(backward)
        for p, s in forward.items():
            chosen[p] = max(s, chosen.get(p, -np.inf))
    pairs = [MinedPair(i, j, s) for (i, j), s in chosen.items()]
    return sorted(pairs, key=lambda p: (-p.score, p.source, p.target))
