"""``score_mt``: several metrics and their bootstrap tests, checked against sacrebleu itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sacrebleu

from xling.core.errors import InvalidInputError
from xling.eval import MTScores, corpus_stats, paired_bootstrap, score_mt


@pytest.fixture(scope="module")
def swahili(flores: Callable[[str, str], list[str]]) -> tuple[list[str], list[str], list[str]]:
    """Eight FLORES devtest references, a system that drops each line's last word, and a
    weaker baseline that keeps only each line's first half."""
    refs = flores("swh", "devtest")[:8]
    system = [" ".join(r.split()[:-1]) for r in refs]
    baseline = [" ".join(r.split()[: len(r.split()) // 2]) for r in refs]
    return refs, system, baseline


def test_scores_match_sacrebleu(swahili: tuple[list[str], list[str], list[str]]) -> None:
    refs, system, _ = swahili
    scores = score_mt(system, refs, metrics=["bleu", "chrf"])
    # Reported in MT_METRICS order (chrf first), whatever order they were asked in.
    assert list(scores.results) == ["chrf", "bleu"]
    assert scores.results["chrf"].score == pytest.approx(
        sacrebleu.corpus_chrf(system, [refs], word_order=2).score, abs=1e-9
    )
    assert scores.results["bleu"].score == pytest.approx(
        sacrebleu.corpus_bleu(system, [refs], tokenize="13a").score, abs=1e-9
    )
    # Dropping one word of ~20 keeps most n-grams: a high score, but not a perfect one.
    assert 60 < scores.results["chrf"].score < 100
    assert scores.bootstrap == {}
    assert set(scores.to_dict()) == {"chrf", "bleu"}
    assert "bootstrap" not in scores.to_dict()["chrf"]


def test_bootstrap_against_a_baseline(swahili: tuple[list[str], list[str], list[str]]) -> None:
    refs, system, baseline = swahili
    scores = score_mt(system, refs, baseline=baseline, n_samples=50, sample_size=8)
    assert isinstance(scores, MTScores) and set(scores.bootstrap) == {"chrf", "bleu"}
    expected = paired_bootstrap(
        corpus_stats("chrf", baseline, refs),
        corpus_stats("chrf", system, refs),
        n_samples=50,
        sample_size=8,
    )
    assert scores.bootstrap["chrf"] == expected
    # The full-set scores are the metrics' own: B is the system, A the baseline.
    assert expected.score_b == pytest.approx(scores.results["chrf"].score, abs=1e-9)
    assert expected.score_a == pytest.approx(
        sacrebleu.corpus_chrf(baseline, [refs], word_order=2).score, abs=1e-9
    )
    entry = scores.to_dict()["chrf"]["bootstrap"]
    assert entry["system"] > entry["baseline"] and entry["wins"] == 50 and entry["p_value"] == 0.0
    assert set(entry) == {"baseline", "system", "system_ci95", "baseline_ci95", "difference_ci95",
                          "wins", "losses", "p_value", "samples", "sample_size"}  # fmt: skip
    low, high = entry["difference_ci95"]
    assert 0 < low < entry["system"] - entry["baseline"] < high  # every resample is a win


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"metrics": ["chrf", "ter"]}, "unknown metrics ter; allowed: chrf, bleu, comet, lacomet"),
        ({"metrics": ["comet"]}, "COMET needs the source sentences"),
        ({"metrics": ["lacomet"]}, "laCOMET needs tgt_lang"),
    ],
)
def test_refusals_name_the_problem(
    swahili: tuple[list[str], list[str], list[str]], options: dict[str, list[str]], shown: str
) -> None:
    refs, system, _ = swahili
    with pytest.raises(InvalidInputError, match=shown):
        score_mt(system, refs, **options)  # type: ignore[arg-type]
