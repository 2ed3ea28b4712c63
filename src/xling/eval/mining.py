"""Bitext mining metrics: xSIM-style error rate and BUCC-style F1, with cosine and margin scores.

The scoring follows LASER's ``xsim.py`` (Artetxe & Schwenk, 2019, "Margin-based parallel corpus
mining with multilingual sentence embeddings"): for each source sentence the ``k`` nearest targets
by cosine are the candidates; a margin score rescales each candidate's cosine ``a`` by the mean
cosine ``b`` of the two sentences' own ``k`` nearest neighbours (``b = (A_x + A_y) / 2``):

* ``ratio``: ``a / b``
* ``distance``: ``a - b``
* ``absolute``: ``a`` (plain cosine; ``cosine`` is its alias)

Everything is vectorised numpy over blocks of rows, so memory stays bounded for large sets.
:func:`evaluate_mining` runs the whole evaluation of line-aligned file pairs with an embedder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xling.core import numerics
from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.numerics import MarginFormula, knn_mean, margin_scores
from xling.core.validation import (
    check_finite,
    check_path,
    check_positive_int,
    check_sequence,
    preview,
)
from xling.embedders import Embedder
from xling.eval.files import read_references

__all__ = [
    "MARGINS",
    "SCORINGS",
    "CANDIDATES",
    "Scoring",
    "MiningResult",
    "MinedPair",
    "BuccScore",
    "knn",
    "margin_candidates",
    "xsim",
    "mine_pairs",
    "bucc_f1",
    "best_threshold",
    "MiningPairResult",
    "MiningReport",
    "evaluate_mining",
]

Scoring = Literal["cosine", "absolute", "ratio", "distance"]
MarginFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# ``b`` is already the mean of the two sides' k-NN means: ``margin_scores(a, b, b, ...)``.
MARGINS: dict[str, MarginFn] = {
    "absolute": lambda a, b: margin_scores(a, b, b, "absolute"),
    "distance": lambda a, b: margin_scores(a, b, b, "distance"),
    "ratio": lambda a, b: margin_scores(a, b, b, "ratio"),
}
# "cosine" is plain nearest-neighbour search: LASER's "absolute" margin.
SCORINGS: dict[str, MarginFormula] = {
    "cosine": "absolute",
    "absolute": "absolute",
    "distance": "distance",
    "ratio": "ratio",
}

_BLOCK = 2048  # rows of the similarity matrix held at once
# Which targets a margin rescores: every target (the exact argmax) or only the source's k nearest
# by cosine (LASER's xsim.py shortcut). On Tatoeba with the bundled e5, "all" gives deu 98.6,
# cmn 94.5, swh 80.3 and "knn" 98.3, 93.7, 78.5 (measured, passage-role embeddings).
CANDIDATES = ("all", "knn")


@dataclass(frozen=True)
class MiningResult:
    """The outcome of xSIM on one aligned set.

    Attributes:
        scoring: ``cosine``, ``ratio``, ``distance`` or ``absolute``.
        k: Neighbourhood size of the margin (1 for cosine).
        n: Number of source sentences.
        errors: Sources whose best target is not their gold target.
        predictions: Index of the chosen target for each source.
    """

    scoring: str
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


def _check_scoring(scoring: str) -> MarginFormula:
    if scoring not in SCORINGS:
        raise UnknownSpecError(
            f"unknown mining scoring {scoring!r}; allowed: {', '.join(sorted(SCORINGS))}"
        )
    return SCORINGS[scoring]


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
    x: np.ndarray, y: np.ndarray, *, scoring: str = "ratio", k: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Scores each source's ``k`` nearest targets with a margin.

    Args:
        x: ``(n, d)`` unit-norm source vectors.
        y: ``(m, d)`` unit-norm target vectors.
        scoring: A key of :data:`SCORINGS`.
        k: Neighbourhood size for the candidates and the margin's averages.

    Returns:
        ``(scores, indices)``, both ``(n, k)``: candidate targets and their margin scores.
    """
    kind = _check_scoring(scoring)
    sims_xy, idx_xy = knn(x, y, k)
    sims_yx, _ = knn(y, x, k)
    mean_x = _knn_means(sims_xy, k)
    mean_y = _knn_means(sims_yx, k)
    scores = margin_scores(sims_xy.astype(np.float64), mean_x[:, None], mean_y[idx_xy], kind)
    return scores, idx_xy


def _best(
    x: np.ndarray, y: np.ndarray, scoring: str, k: int, candidates: str
) -> tuple[np.ndarray, np.ndarray]:
    """Best target and its score for each source."""
    if SCORINGS[scoring] == "absolute":
        sims, idx = knn(x, y, 1)
        return idx[:, 0], sims[:, 0].astype(np.float64)
    if candidates == "knn":
        scores, idx = margin_candidates(x, y, scoring=scoring, k=k)
        pick = np.argmax(scores, axis=1)  # first maximum: LASER's choice on ties
        rows = np.arange(len(idx))
        return idx[rows, pick], scores[rows, pick]
    kind = SCORINGS[scoring]
    mean_x = _knn_means(knn(x, y, k)[0], k).astype(np.float64)
    mean_y = _knn_means(knn(y, x, k)[0], k).astype(np.float64)
    best = np.empty(len(x), dtype=np.int64)
    best_scores = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _BLOCK):
        sims = (x[start : start + _BLOCK] @ y.T).astype(np.float64)
        scores = margin_scores(sims, mean_x[start : start + _BLOCK, None], mean_y[None, :], kind)
        best[start : start + _BLOCK] = np.argmax(scores, axis=1)
        best_scores[start : start + _BLOCK] = scores[
            np.arange(len(scores)), best[start : start + _BLOCK]
        ]
    return best, best_scores


def _check_candidates(candidates: str) -> str:
    if candidates not in CANDIDATES:
        raise InvalidInputError(
            f"unknown margin candidates {candidates!r}; allowed: {', '.join(CANDIDATES)}"
        )
    return candidates


def xsim(
    source_vectors: np.ndarray,
    target_vectors: np.ndarray,
    *,
    scoring: str = "ratio",
    k: int = 4,
    candidates: str = "all",
    target_texts: Sequence[str] | None = None,
) -> MiningResult:
    """xSIM: how often the best-scoring target of source ``i`` is not target ``i``.

    Args:
        source_vectors: ``(n, d)`` unit-norm vectors; row ``i`` translates target row ``i``.
        target_vectors: ``(n, d)`` unit-norm vectors (more rows allowed: distractors after ``n``).
        scoring: ``cosine``/``absolute`` (nearest neighbour), ``ratio`` or ``distance`` margin.
        k: Neighbourhood size of margin scoring (LASER uses 4).
        candidates: ``all`` rescores every target with the margin; ``knn`` only the ``k``
            nearest by cosine, as LASER's ``xsim.py`` does.
        target_texts: If given, a prediction also counts as correct when its target text equals
            the gold target text (LASER's ``eval_text`` behaviour for duplicate sentences).

    Returns:
        A :class:`MiningResult`; ``accuracy`` is the Tatoeba figure.

    Raises:
        InvalidInputError: If shapes disagree or there are fewer targets than sources.
        UnknownSpecError: If ``scoring`` is unknown.
    """
    x, y = _check_vectors(source_vectors, target_vectors)
    _check_scoring(scoring)
    k = check_positive_int(k, "k")
    _check_candidates(candidates)
    if len(y) < len(x):
        raise InvalidInputError(
            f"xsim needs at least as many targets as sources; got {len(x)} sources and "
            f"{len(y)} targets"
        )
    predictions, _ = _best(x, y, scoring, k, candidates)
    gold = np.arange(len(x))
    wrong = predictions != gold
    if target_texts is not None:
        texts = check_sequence(target_texts, "target_texts", "strings")
        if len(texts) != len(y):
            raise InvalidInputError(
                f"target_texts has {len(texts)} items but there are {len(y)} target vectors"
            )
        wrong &= np.array([texts[p] != texts[g] for p, g in zip(predictions, gold, strict=True)])
    used_k = 1 if SCORINGS[scoring] == "absolute" else k
    return MiningResult(scoring, used_k, len(x), int(wrong.sum()), predictions)


_MODES = ("forward", "backward", "intersect", "max")


def mine_pairs(
    source_vectors: np.ndarray,
    target_vectors: np.ndarray,
    *,
    scoring: str = "ratio",
    k: int = 4,
    candidates: str = "all",
    mode: Literal["forward", "backward", "intersect", "max"] = "max",
) -> list[MinedPair]:
    """Mines candidate pairs, one per source (and/or target), best score first.

    Args:
        source_vectors: ``(n, d)`` unit-norm vectors.
        target_vectors: ``(m, d)`` unit-norm vectors.
        scoring: A key of :data:`SCORINGS`.
        k: Margin neighbourhood size.
        candidates: ``all`` or ``knn`` (see :func:`xsim`).
        mode: ``forward`` (best target per source), ``backward`` (best source per target),
            ``intersect`` (pairs found both ways) or ``max`` (the union, as in LASER's BUCC
            mining, each pair once with its best score).

    Returns:
        Mined pairs sorted by descending score.
    """
    x, y = _check_vectors(source_vectors, target_vectors)
    _check_scoring(scoring)
    k = check_positive_int(k, "k")
    if mode not in _MODES:
        raise InvalidInputError(f"unknown mining mode {mode!r}; allowed: {', '.join(_MODES)}")
    _check_candidates(candidates)
    fwd_t, fwd_s = _best(x, y, scoring, k, candidates)
    bwd_s_idx, bwd_s = _best(y, x, scoring, k, candidates)
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


@dataclass(frozen=True)
class MiningPairResult:
    """Bitext mining figures of one line-aligned file pair (see :func:`evaluate_mining`).

    Attributes:
        label: The source file's name, the pair's key in :attr:`MiningReport.results`.
        source: The source file.
        target: The target file, line ``i`` translating source line ``i``.
        pairs: Number of aligned lines.
        scores: Scoring name → its xSIM :class:`MiningResult`, in the order asked.
        bucc_scoring: The margin scoring of the BUCC F1, or ``None`` without a threshold.
        bucc: BUCC-style F1 of the mined pairs at the threshold, or ``None``.
    """

    label: str
    source: Path
    target: Path
    pairs: int
    scores: dict[str, MiningResult]
    bucc_scoring: str | None = None
    bucc: BuccScore | None = None

    @property
    def accuracy(self) -> dict[str, float]:
        """Scoring name → mining accuracy in percent (100 − xSIM)."""
        return {name: result.accuracy for name, result in self.scores.items()}

    def to_dict(self) -> dict[str, Any]:
        """The pair's figures as JSON-ready data.

        Returns:
            The accuracy under each scoring's name, then ``bucc`` (``scoring``, ``threshold``,
            ``f1``, ``precision``, ``recall``) when a threshold was given, then ``pairs``.
        """
        entry: dict[str, Any] = dict(self.accuracy)
        if self.bucc is not None:
            entry["bucc"] = {
                "scoring": self.bucc_scoring,
                "threshold": self.bucc.threshold,
                "f1": self.bucc.f1,
                "precision": self.bucc.precision,
                "recall": self.bucc.recall,
            }
        entry["pairs"] = self.pairs
        return entry


@dataclass(frozen=True)
class MiningReport:
    """Bitext mining evaluation of file pairs with one embedder (see :func:`evaluate_mining`).

    Attributes:
        embedder: The embedder's id.
        k: The margin neighbourhood size asked for.
        scorings: The scorings evaluated, in order.
        threshold: The BUCC threshold, or ``None``.
        results: Pair label (the source file's name) → :class:`MiningPairResult`; a later pair
            whose source has the same name replaces an earlier one.
        truncated: Texts the embedder truncated to its length limit during the evaluation.
    """

    embedder: str
    k: int
    scorings: tuple[str, ...]
    threshold: float | None
    results: dict[str, MiningPairResult]
    truncated: int

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``xling eval mining --json`` prints).

        Returns:
            ``embedder``, ``k``, ``results`` (label → :meth:`MiningPairResult.to_dict`) and
            ``truncated``.
        """
        return {
            "embedder": self.embedder,
            "k": self.k,
            "results": {label: result.to_dict() for label, result in self.results.items()},
            "truncated": self.truncated,
        }


def _check_pairs(pairs: Any) -> list[tuple[Path, Path]]:
    items = check_sequence(pairs, "pairs", "(source file, target file) pairs")
    if not items:
        raise InvalidInputError("pairs is empty; give at least one (source file, target file) pair")
    checked = []
    for i, item in enumerate(items):
        if (
            isinstance(item, str | bytes | os.PathLike)
            or not isinstance(item, Sequence)
            or len(item) != 2
        ):
            raise InvalidInputError(
                f"pairs[{i}] is {preview(item)}; each item must be a (source file, target file) "
                "pair"
            )
        checked.append((check_path(item[0], "source file"), check_path(item[1], "target file")))
    return checked


def evaluate_mining(
    pairs: Sequence[tuple[str | Path, str | Path]],
    embedder: Embedder,
    *,
    scorings: Sequence[str] = ("cosine", "ratio"),
    k: int = 4,
    threshold: float | None = None,
) -> MiningReport:
    """Bitext mining accuracy (100 − xSIM) of line-aligned file pairs, optionally BUCC F1.

    Every file is read (and each pair's line counts compared) before anything is embedded.
    Both sides are embedded as documents (:meth:`~xling.embedders.Embedder.embed_documents`):
    mining is a symmetric task, so neither side is a query. Each scoring runs :func:`xsim` with
    the target texts, so duplicate target sentences count as found. With a ``threshold``, the
    pairs :func:`mine_pairs` finds with the first margin scoring among ``scorings`` (``ratio``
    if there is none) are scored by :func:`bucc_f1` against the diagonal gold pairs.

    Args:
        pairs: ``(source file, target file)`` pairs; line ``i`` of the target translates line
            ``i`` of the source.
        embedder: The embedder (its length limit applies to both sides).
        scorings: Keys of :data:`SCORINGS`, in the order they are reported.
        k: Margin neighbourhood size.
        threshold: If given, also report BUCC-style F1 of the mined pairs scoring at least this.

    Returns:
        The :class:`MiningReport`.

    Raises:
        InvalidInputError: If there are no pairs, a file is missing, not UTF-8 or empty, the two
            sides of a pair differ in length, ``k`` is not a positive integer, ``threshold`` is
            not finite, or ``embedder`` is not an :class:`~xling.embedders.Embedder`.
        UnknownSpecError: If a scoring is unknown.
    """
    checked = _check_pairs(pairs)
    names = check_sequence(scorings, "scorings", "scoring names")
    if not names:
        raise InvalidInputError(
            f"scorings is empty; give at least one of: {', '.join(sorted(SCORINGS))}"
        )
    for name in names:
        _check_scoring(name)
    k = check_positive_int(k, "k")
    value = None if threshold is None else check_finite(threshold, "threshold")
    if not isinstance(embedder, Embedder):
        raise InvalidInputError(
            f"embedder must be an Embedder (from xling.embedders.get_embedder), got "
            f"{preview(embedder)} ({type(embedder).__name__})"
        )
    texts: list[tuple[list[str], list[str]]] = []
    for s_path, t_path in checked:
        sources, targets = read_references(s_path), read_references(t_path)
        if len(sources) != len(targets):
            raise InvalidInputError(
                f"{s_path} has {len(sources)} lines but {t_path} has {len(targets)}; "
                "mining evaluation needs line-aligned files"
            )
        texts.append((sources, targets))
    before = embedder.truncated
    results: dict[str, MiningPairResult] = {}
    for (s_path, t_path), (sources, targets) in zip(checked, texts, strict=True):
        x, y = embedder.embed_documents(sources), embedder.embed_documents(targets)
        scores = {name: xsim(x, y, scoring=name, k=k, target_texts=targets) for name in names}
        margin, bucc = None, None
        if value is not None:
            margin = next((m for m in names if m != "cosine"), "ratio")
            gold = [(i, i) for i in range(len(x))]
            bucc = bucc_f1(mine_pairs(x, y, scoring=margin, k=k), gold, value)
        results[s_path.name] = MiningPairResult(
            s_path.name, s_path, t_path, len(sources), scores, margin, bucc
        )
    return MiningReport(embedder.id, k, tuple(names), value, results, embedder.truncated - before)
