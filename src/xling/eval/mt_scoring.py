"""Scoring a system's translations with several MT metrics, optionally against a baseline.

:func:`score_mt` runs chrF++, BLEU, COMET and laCOMET (COMET gated by output language) on one
set of hypotheses and, given a baseline, a paired bootstrap test of the system against it for
each metric (:func:`xling.eval.paired_bootstrap`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from xling.core.errors import InvalidInputError
from xling.eval.bootstrap import (
    BOOTSTRAP_SAMPLE_SIZE,
    BOOTSTRAP_SAMPLES,
    BootstrapResult,
    paired_bootstrap,
    segment_stats,
)
from xling.eval.comet import CometScorer
from xling.eval.lacomet import comet_and_lacomet
from xling.eval.mt_metrics import bleu, chrf, corpus_stats
from xling.eval.scores import MetricResult

__all__ = ["MT_METRICS", "MTMetric", "MTScores", "bootstrap_dict", "score_mt"]

MTMetric = Literal["chrf", "bleu", "comet", "lacomet"]
MT_METRICS: tuple[MTMetric, ...] = get_args(MTMetric)
"""The metrics :func:`score_mt` knows, in the order it reports them."""


def bootstrap_dict(outcome: BootstrapResult) -> dict[str, Any]:
    """A paired bootstrap outcome as a JSON-ready dict (system = B, baseline = A)."""
    return {
        "baseline": outcome.score_a,
        "system": outcome.score_b,
        "system_ci95": list(outcome.ci_b),
        "baseline_ci95": list(outcome.ci_a),
        "difference_ci95": list(outcome.ci_delta),
        "wins": outcome.wins_b,
        "losses": outcome.wins_a,
        "p_value": outcome.p_value,
        "samples": outcome.n_samples,
        "sample_size": outcome.sample_size,
    }


@dataclass(frozen=True)
class MTScores:
    """What :func:`score_mt` found.

    Attributes:
        results: One score per metric asked for, in :data:`MT_METRICS` order.
        bootstrap: Per metric, the paired bootstrap test of the system (B) against the baseline
            (A); empty without a baseline.
    """

    results: dict[str, MetricResult]
    bootstrap: dict[str, BootstrapResult] = field(default_factory=dict)

    def to_dict(self, *, segments: bool = False) -> dict[str, Any]:
        """A JSON-ready dict: per metric its score, signature, details and ``bootstrap`` test.

        Args:
            segments: Also give the segment scores (COMET, laCOMET).
        """
        out: dict[str, Any] = {}
        for name, result in self.results.items():
            entry = result.to_dict()
            if not segments:
                entry.pop("segments", None)
            if name in self.bootstrap:
                entry["bootstrap"] = bootstrap_dict(self.bootstrap[name])
            out[name] = entry
        return out


def score_mt(
    hypotheses: Sequence[str],
    references: Sequence[str],
    sources: Sequence[str] | None = None,
    *,
    metrics: Sequence[str] = ("chrf", "bleu"),
    tgt_lang: str | None = None,
    baseline: Sequence[str] | None = None,
    tokenize: str = "13a",
    spm_model: str | os.PathLike[str] | None = None,
    comet: CometScorer | None = None,
    lid_backend: str | None = None,
    n_samples: int = BOOTSTRAP_SAMPLES,
    sample_size: int = BOOTSTRAP_SAMPLE_SIZE,
) -> MTScores:
    """Scores translations with several metrics; with a baseline, bootstrap-tests each.

    Args:
        hypotheses: System outputs, one per reference.
        references: References.
        sources: Source sentences (needed by COMET and laCOMET).
        metrics: Some of :data:`MT_METRICS`.
        tgt_lang: The language translations should be in (needed by laCOMET), normalised.
        baseline: A second system's outputs, line-aligned: each metric gets a paired bootstrap
            test of ``hypotheses`` against it.
        tokenize: BLEU tokenizer (see :func:`xling.eval.bleu`).
        spm_model: SentencePiece model for BLEU's ``flores200``/``flores101`` tokenizers.
        comet: The COMET scorer (default: :class:`~xling.eval.CometScorer` with its defaults).
        lid_backend: LID backend of laCOMET (default: the best one per language).
        n_samples: Bootstrap resamples.
        sample_size: Segments per bootstrap resample.

    Returns:
        The scores and, given a baseline, the bootstrap tests.

    Raises:
        InvalidInputError: For an unknown metric, COMET without sources, laCOMET without a
            target language, or inputs the metrics refuse.
    """
    chosen = list(dict.fromkeys(metrics))
    unknown = [m for m in chosen if m not in MT_METRICS]
    if unknown:
        raise InvalidInputError(
            f"unknown metrics {', '.join(map(str, unknown))}; allowed: {', '.join(MT_METRICS)}"
        )
    if "lacomet" in chosen and not tgt_lang:
        raise InvalidInputError("laCOMET needs tgt_lang (the language translations should be in)")
    hyps, refs = list(hypotheses), list(references)
    base = list(baseline) if baseline is not None else None
    results: dict[str, MetricResult] = {}
    tests: dict[str, BootstrapResult] = {}

    def compare(name: str, a: Any, b: Any) -> None:
        tests[name] = paired_bootstrap(a, b, n_samples=n_samples, sample_size=sample_size)

    if "chrf" in chosen:
        results["chrf"] = chrf(hyps, refs)
        if base is not None:
            compare("chrf", corpus_stats("chrf", base, refs), corpus_stats("chrf", hyps, refs))
    if "bleu" in chosen:
        results["bleu"] = bleu(hyps, refs, tokenize=tokenize, spm_model=spm_model)
        if base is not None:
            opts: dict[str, Any] = {"tokenize": tokenize}
            if spm_model is not None:
                opts["spm_model"] = spm_model
            compare("bleu", corpus_stats("bleu", base, refs, **opts),
                    corpus_stats("bleu", hyps, refs, **opts))  # fmt: skip
    if "comet" in chosen or "lacomet" in chosen:
        if sources is None:
            raise InvalidInputError("COMET needs the source sentences (sources)")
        srcs = list(sources)
        scorer = comet if comet is not None else CometScorer()

        def run(texts: list[str]) -> tuple[MetricResult, MetricResult | None]:
            if "lacomet" not in chosen:
                return scorer.score(texts, refs, srcs), None
            return comet_and_lacomet(scorer, texts, refs, srcs, tgt_lang or "", backend=lid_backend)

        ours, gated = run(hyps)
        if "comet" in chosen:
            results["comet"] = ours
        if gated is not None:
            results["lacomet"] = gated
        if base is not None:
            base_comet, base_gated = run(base)
            for name, system, other in (
                ("comet", ours, base_comet),
                ("lacomet", gated, base_gated),
            ):
                if name in chosen and system is not None and other is not None:
                    assert system.segments is not None and other.segments is not None
                    compare(name, segment_stats(name, other.segments),
                            segment_stats(name, system.segments))  # fmt: skip
    return MTScores({m: results[m] for m in MT_METRICS if m in results}, tests)
