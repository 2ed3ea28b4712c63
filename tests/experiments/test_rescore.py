"""Re-scoring: the published ICL-MT generations reproduce every chrF++ entry we can compute."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.experiments.run_folders import write_run
from xling.core.errors import InvalidInputError
from xling.eval import chrf
from xling.experiments import RescoreReport, RunSpec, score_directory
from xling.experiments.runs import RunScores, read_run

DIRECTIONS = ("Eng_to_Fra", "Eng_to_Swh", "Eng_to_Wol")
# What ships with generations (the score files hold much more): Random k ∈ {0, 1, 10} × seeds
# {13, 42, 122} and SONAR/LaBSE s2s k ∈ {1, 10}, for three directions.
COMPUTABLE = {("Random", "s2s", k) for k in ("0", "1", "10")} | {
    (m, "s2s", k) for m in ("SONAR", "LaBSE") for k in ("1", "10")
}


@pytest.fixture(scope="module")
def rescored(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, RescoreReport]:
    """A copy of the published llama-2-7b folder, re-scored once (≈25 s: 39 files × 2 metrics)."""
    published = shared_data / "iclmt-outputs" / "llama-2-7b"
    copy = tmp_path_factory.mktemp("iclmt") / "llama-2-7b"
    shutil.copytree(published, copy)
    # A run cut short: ICL-MT's analysis reads only full 1,012-line runs, and so do we.
    cut = copy / "Short/Eng_to_Fra/English_to_French_1_shot_seed_1_template_11_Short_s2s.jsonl"
    cut.parent.mkdir(parents=True)
    source = copy / "SONAR/Eng_to_Fra/English_to_French_1_shot_seed_122_template_11_SONAR_s2s.jsonl"
    cut.write_text("".join(source.read_text(encoding="utf-8").splitlines(True)[:100]))
    seen: list[tuple[int, int]] = []
    report = score_directory(
        copy,
        "iclmt",
        references=shared_data / "flores",
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (40, 40)
    return published, copy, report


def _load(root: Path, folder: str, direction: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / folder / f"{direction}_scores.json").read_text())
    return data


def test_every_computable_chrf_entry_is_reproduced(
    rescored: tuple[Path, Path, RescoreReport],
) -> None:
    published, copy, report = rescored
    assert len(report.scored) == 39
    checked, worst = 0, 0.0
    for direction in DIRECTIONS:
        old, new = _load(published, "chrf_scores", direction), _load(copy, "chrf_scores", direction)
        for method, variants in old.items():
            for variant, by_k in variants.items():
                for k, value in by_k.items():
                    mine = new[method][variant][k]
                    if (method, variant, k) not in COMPUTABLE:
                        assert mine == value  # left exactly as published
                        continue
                    checked += 1
                    pairs = (
                        [(mine, value)]
                        if method != "Random"
                        else [(mine["mean"], value["mean"]), (mine["std"], value["std"])]
                    )
                    for a, b in pairs:
                        worst = max(worst, abs(a - b))
        assert set(new) == set(old) and new.keys() == old.keys()
    assert checked == 3 * len(COMPUTABLE) == 21
    # sacrebleu chrF++ (word_order=2) as ICL-MT's comet_eval.py; Random std is np.std (ddof 0).
    assert worst < 1e-9


def test_bleu_says_13a_and_comet_files_are_untouched(
    rescored: tuple[Path, Path, RescoreReport],
) -> None:
    published, copy, report = rescored
    # ICL-MT's BLEU used tokenize="flores200" (its SentencePiece model needs a download), so
    # our 13a BLEU cannot reproduce it; the signature says which tokenizer was used.
    assert "tok:13a" in report.signatures["bleu"] and "nw:2" in report.signatures["chrf"]
    for direction in DIRECTIONS:
        old, new = _load(published, "bleu_scores", direction), _load(copy, "bleu_scores", direction)
        assert new["Laser2"] == old["Laser2"] and new["SONAR"]["t2t"] == old["SONAR"]["t2t"]
        assert new["Random"]["s2s"]["5"] == old["Random"]["s2s"]["5"]
        assert new["Random"]["s2s"]["1"] != old["Random"]["s2s"]["1"]  # recomputed, with 13a
        for folder in ("comet_scores", "comet_la_scores"):
            name = f"{folder}/{direction}_scores.json"
            assert (copy / name).read_bytes() == (published / name).read_bytes()


def test_short_runs_are_skipped_with_the_reason(
    rescored: tuple[Path, Path, RescoreReport],
) -> None:
    _, copy, report = rescored
    [skipped] = report.skipped
    assert skipped.path.parent.parent.name == "Short"
    assert "100 lines but 1012 references" in skipped.reason
    assert "Short" not in _load(copy, "chrf_scores", "Eng_to_Fra")
    # The English sources are in the references folder: copies are counted in every file.
    assert all(isinstance(s.copies, int) and 0 <= s.copies <= s.n for s in report.scored)
    assert report.to_dict()["skipped"][0]["reason"] == skipped.reason


def test_iclmt_layout_needs_references(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs references"):
        score_directory(tmp_path, "iclmt")
    with pytest.raises(InvalidInputError, match="unknown layout 'fairseq'"):
        score_directory(tmp_path, "fairseq")
    with pytest.raises(InvalidInputError, match="is not a folder"):
        score_directory(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="no runs/ folder"):
        score_directory(tmp_path, "xling")


def test_xling_layout_rewrites_scores_from_outputs(
    tmp_path: Path, flores: Callable[[str, str], list[str]]
) -> None:
    src, ref = flores("eng", "devtest")[:50], flores("fra", "devtest")[:50]
    hyp = [r if i % 2 else s for i, (s, r) in enumerate(zip(src, ref, strict=True))]
    stale = RunScores(50, {"chrf": 1.0, "bleu": 1.0}, {"chrf": "stale"})
    done = write_run(tmp_path, RunSpec("eng", "fra", "random", 1), src, ref, hyp, scores=stale)
    write_run(
        tmp_path, RunSpec("eng", "fra", "random", 2), src, ref, hyp, scores=stale, finished=False
    )
    report = score_directory(tmp_path)
    assert [s.path for s in report.scored] == [done]
    assert report.skipped[0].reason == "unfinished run (no run.json)"
    result = read_run(done)
    assert result is not None
    assert result.scores.metrics["chrf"] == pytest.approx(chrf(hyp, ref).score, abs=1e-12)
    assert "tok:13a" in result.scores.signatures["bleu"]
    # Every other line is the source itself: 25 copies, counted again (the stale file had none).
    assert (result.scores.copies, result.scores.copy_rate, report.scored[0].copies) == (25, 0.5, 25)
