"""The score record every MT metric returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricResult"]


@dataclass(frozen=True)
class MetricResult:
    """A corpus-level score with optional segment scores.

    Attributes:
        name: Metric name (``chrf``, ``bleu``, ``comet``, ``lacomet``).
        score: The system score (BLEU and chrF on 0–100, COMET on the model's scale).
        segments: Per-segment scores when the metric has them (COMET, laCOMET), else ``None``.
        signature: How the score was computed (sacrebleu signature, COMET model), for reports.
        details: Extra figures (e.g. laCOMET's share of hypotheses in the target language).
    """

    name: str
    score: float
    segments: tuple[float, ...] | None = None
    signature: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (segments included when present)."""
        out: dict[str, Any] = {"score": self.score, "signature": self.signature}
        out.update(self.details)
        if self.segments is not None:
            out["segments"] = list(self.segments)
        return out
