"""Paired bootstrap: resample scores against sacrebleu recomputed from scratch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

from xling.core.errors import InvalidInputError
from xling.eval import corpus_stats, paired_bootstrap, read_hypotheses, segment_stats

SWH = "Eng_to_Swh/English_to_Swahili_{k}_shot_seed_122_template_11_{m}_s2s.jsonl"


@pytest.fixture(scope="module")
def systems(iclmt: Path, flores: Callable[..., list[str]]) -> tuple[list[str], ...]:
    sonar = read_hypotheses(iclmt / "SONAR" / SWH.format(k=10, m="SONAR"))
    random0 = read_hypotheses(iclmt / "Random" / SWH.format(k=0, m="Random"))
    return sonar[:400], random0[:400], flores("swh", "devtest")[:400]


def test_resample_scores_equal_sacrebleu_on_the_resampled_corpus(
    systems: tuple[list[str], ...],
) -> None:
    sonar, _, refs = systems
    for metric, reference in (
        ("chrf", lambda h, r: sacrebleu.corpus_chrf(h, [r], word_order=2).score),
        ("bleu", lambda h, r: sacrebleu.corpus_bleu(h, [r]).score),
    ):
        stats = corpus_stats(metric, sonar, refs)
        rows = np.random.default_rng(7).integers(0, len(sonar), size=120)
        expected = reference([sonar[i] for i in rows], [refs[i] for i in rows])
        assert abs(stats.score(rows) - expected) < 1e-9, metric


def test_a_much_better_system_wins_every_resample(systems: tuple[list[str], ...]) -> None:
    sonar, random0, refs = systems
    # ICL-MT: 10-shot SONAR en→sw chrF++ 19.9 vs 0-shot 11.2 on the full devtest.
    result = paired_bootstrap(
        corpus_stats("chrf", random0, refs), corpus_stats("chrf", sonar, refs), seed=1
    )
    assert result.n_samples == 300 and result.sample_size == 400  # capped at the corpus size
    assert result.wins_b == 300 and result.p_value == 0.0
    assert result.better == "b" and result.significant()
    assert result.ci_b[0] < result.mean_b < result.ci_b[1]
    assert result.ci_a[1] < result.ci_b[0]


def test_identical_systems_tie(systems: tuple[list[str], ...]) -> None:
    sonar, _, refs = systems
    stats = corpus_stats("chrf", sonar, refs)
    result = paired_bootstrap(stats, stats, n_samples=50, sample_size=100)
    assert result.ties == 50 and result.wins_a == result.wins_b == 0
    assert result.p_value == 1.0 and not result.significant()
    assert result.ci_delta == (0.0, 0.0)


def test_the_difference_interval_is_over_the_paired_resamples(
    systems: tuple[list[str], ...],
) -> None:
    sonar, random0, refs = systems
    result = paired_bootstrap(
        corpus_stats("chrf", random0, refs), corpus_stats("chrf", sonar, refs),
        n_samples=40, sample_size=100, seed=3,
    )  # fmt: skip
    # The same draws, scored by sacrebleu itself: percentiles 2.5 and 97.5 of B - A.
    draws = np.random.default_rng(3).integers(0, len(refs), size=(40, 100))
    deltas = [
        sacrebleu.corpus_chrf(
            [sonar[i] for i in rows], [[refs[i] for i in rows]], word_order=2
        ).score
        - sacrebleu.corpus_chrf(
            [random0[i] for i in rows], [[refs[i] for i in rows]], word_order=2
        ).score
        for rows in draws
    ]
    low, high = np.percentile(deltas, [2.5, 97.5])
    assert result.ci_delta == pytest.approx((low, high), abs=1e-9)
    assert 0 < low < result.score_b - result.score_a < high


def test_segment_stats_average_and_reject_nan() -> None:
    stats = segment_stats("comet", [0.2, 0.4, 0.9])
    assert stats.score() == pytest.approx(0.5)  # (0.2 + 0.4 + 0.9) / 3
    assert stats.score(np.array([2, 2, 0])) == pytest.approx((0.9 + 0.9 + 0.2) / 3)
    with pytest.raises(InvalidInputError, match="finite"):
        segment_stats("comet", [0.2, float("nan")])
    with pytest.raises(InvalidInputError, match="same metric and segments"):
        paired_bootstrap(stats, segment_stats("comet", [0.1, 0.2]))
