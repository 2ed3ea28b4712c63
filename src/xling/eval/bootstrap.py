"""Paired bootstrap resampling between two systems (Koehn, 2004).

Each resample draws ``sample_size`` segment indices with replacement and scores both systems on
the same indices. Corpus metrics (BLEU, chrF++) are recomputed from summed sufficient statistics;
segment metrics (COMET, laCOMET) are averaged. The ICL-MT study used 300 resamples of 500
sentences, the defaults here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.validation import check_non_negative_int, check_positive_int, preview
from xling.eval.mt_metrics import CorpusStats

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "BOOTSTRAP_SAMPLE_SIZE",
    "BootstrapResult",
    "paired_bootstrap",
    "segment_stats",
]

BOOTSTRAP_SAMPLES = 300
"""Default bootstrap resamples (ICL-MT's)."""
BOOTSTRAP_SAMPLE_SIZE = 500
"""Default segments per bootstrap resample (ICL-MT's)."""


@dataclass(frozen=True)
class BootstrapResult:
    """Outcome of a paired bootstrap test of system B against system A.

    Attributes:
        metric: Metric name.
        score_a: A's score on the full set.
        score_b: B's score on the full set.
        mean_a: A's mean over resamples.
        mean_b: B's mean over resamples.
        ci_a: A's 95% interval over resamples.
        ci_b: B's 95% interval over resamples.
        wins_a: Resamples where A scores higher.
        wins_b: Resamples where B scores higher.
        ties: Resamples with equal scores.
        n_samples: Number of resamples.
        sample_size: Segments per resample.
        ci_delta: 95% interval of B's score minus A's over the resamples (paired draws).
    """

    metric: str
    score_a: float
    score_b: float
    mean_a: float
    mean_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    wins_a: int
    wins_b: int
    ties: int
    n_samples: int
    sample_size: int
    ci_delta: tuple[float, float] = (0.0, 0.0)

    @property
    def p_value(self) -> float:
        """One-sided p-value that B is better than A: the share of resamples where it is not."""
        return 1.0 - self.wins_b / self.n_samples

    @property
    def better(self) -> str:
        """``"b"``, ``"a"`` or ``"tie"`` by full-set score."""
        if self.score_b > self.score_a:
            return "b"
        return "a" if self.score_a > self.score_b else "tie"

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the better system wins in at least ``1 - alpha`` of the resamples."""
        wins = self.wins_b if self.better == "b" else self.wins_a
        return self.better != "tie" and 1.0 - wins / self.n_samples < alpha


def segment_stats(name: str, scores: Sequence[float]) -> CorpusStats:
    """Wraps segment scores (COMET, laCOMET) so that a corpus score is their mean.

    Raises:
        InvalidInputError: If a score is not finite (a NaN would poison every resample).
    """
    try:
        values = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} segment scores must be a list of numbers, got {preview(scores)}"
        ) from None
    if len(values) == 0 or not np.all(np.isfinite(values)):
        raise InvalidInputError(f"{name} segment scores must be finite numbers, at least one")
    # Statistics are (score, 1) so that the sum over any resample carries its own size.
    stats = np.hstack([values, np.ones((len(values), 1))])
    return CorpusStats(name, stats, lambda s: float(s[0] / s[1]))


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_bootstrap(
    a: CorpusStats,
    b: CorpusStats,
    *,
    n_samples: int = BOOTSTRAP_SAMPLES,
    sample_size: int = BOOTSTRAP_SAMPLE_SIZE,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> BootstrapResult:
    """Paired bootstrap test of system ``b`` against system ``a`` on the same segments.

    Args:
        a: Statistics of the baseline (:func:`xling.eval.corpus_stats` or :func:`segment_stats`).
        b: Statistics of the compared system, same metric and segments.
        n_samples: Resamples (ICL-MT: 300).
        sample_size: Segments drawn with replacement per resample (ICL-MT: 500); capped at the
            number of segments.
        seed: Seed of the index draws, so the test is repeatable.
        on_progress: Called as ``on_progress(done, total)`` after each resample.

    Returns:
        Full-set scores, resample means and 95% intervals, and win counts.

    Raises:
        InvalidInputError: If an argument is not CorpusStats, the two systems differ in metric
            or segment count, or a count or the seed is not allowed.
    """
    for value, label in ((a, "a"), (b, "b")):
        if not isinstance(value, CorpusStats):
            raise InvalidInputError(
                f"{label} must be CorpusStats (from corpus_stats or segment_stats), got "
                f"{preview(value)}"
            )
    check_non_negative_int(seed, "seed")
    if a.name != b.name or a.stats.shape != b.stats.shape:
        raise InvalidInputError(
            f"paired bootstrap needs the same metric and segments; got {a.name} "
            f"{a.stats.shape} and {b.name} {b.stats.shape}"
        )
    n_samples = check_positive_int(n_samples, "n_samples")
    size = min(check_positive_int(sample_size, "sample_size"), len(a.stats))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(a.stats), size=(n_samples, size))
    scores_a = np.empty(n_samples)
    scores_b = np.empty(n_samples)
    for i, rows in enumerate(draws):
        scores_a[i], scores_b[i] = a.score(rows), b.score(rows)
        if on_progress is not None:
            on_progress(i + 1, n_samples)
    return BootstrapResult(
        metric=a.name,
        score_a=a.score(),
        score_b=b.score(),
        mean_a=float(scores_a.mean()),
        mean_b=float(scores_b.mean()),
        ci_a=_interval(scores_a),
        ci_b=_interval(scores_b),
        wins_a=int((scores_a > scores_b).sum()),
        wins_b=int((scores_b > scores_a).sum()),
        ties=int((scores_a == scores_b).sum()),
        n_samples=n_samples,
        sample_size=size,
        ci_delta=_interval(scores_b - scores_a),
    )
