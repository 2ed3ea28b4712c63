"""One paired bootstrap test of a study's row against its baseline, as the summaries report it.

Both summaries (ICL-MT's against random, a RAG study's against a named row) keep the same
figures of :func:`xling.eval.paired_bootstrap` per test, and explain them the same way in
``significance.json``; each adds the fields that say which row and baseline were paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xling.eval.bootstrap import BootstrapResult

__all__ = ["PairedTest", "significance_payload"]


@dataclass(frozen=True, kw_only=True)
class PairedTest:
    """The figures of one paired bootstrap test (B: the row tested, A: its baseline).

    Attributes:
        metric: Metric name.
        system: The row's full-set score.
        baseline: The baseline's full-set score.
        delta: ``system - baseline``.
        ci95: 95 % interval of the difference over the resamples (2.5th and 97.5th
            percentiles of ``system - baseline`` on the same resampled segments).
        p_value: One-sided p-value that the row beats the baseline: the share of resamples
            where it does not score strictly higher (:attr:`BootstrapResult.p_value`).
        wins: Resamples where the row scores higher.
        n_samples: Resamples.
        sample_size: Segments per resample.
    """

    metric: str
    system: float
    baseline: float
    delta: float
    ci95: tuple[float, float]
    p_value: float
    wins: int
    n_samples: int
    sample_size: int

    @staticmethod
    def figures(metric: str, test: BootstrapResult) -> dict[str, Any]:
        """The fields of a test of B (the row) against A (the baseline), as keywords."""
        return {"metric": metric, "system": test.score_b, "baseline": test.score_a,
                "delta": test.score_b - test.score_a, "ci95": test.ci_delta,
                "p_value": test.p_value, "wins": test.wins_b, "n_samples": test.n_samples,
                "sample_size": test.sample_size}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        return out


def significance_payload(
    baseline: str, subject: str, tests: Sequence[PairedTest], notes: Sequence[str]
) -> dict[str, Any]:
    """``significance.json``: the tests against ``baseline``, what their figures mean, notes.

    Args:
        baseline: The baseline's name (``random``, ``dense/all/user``).
        subject: What is tested against it, in the explanations (``label``, ``row``).
        tests: The tests.
        notes: What was left out, and why.
    """
    return {
        "baseline": baseline,
        "p_value": f"share of resamples where the {subject} does not score strictly higher than "
        f"{baseline} (one-sided)",
        "ci95": f"2.5th and 97.5th percentiles of {subject} - {baseline} over the resamples",
        "comparisons": [t.to_dict() for t in tests],
        "notes": list(notes),
    }
