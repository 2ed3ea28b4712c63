"""COMET and laCOMET on a tiny COMET checkpoint built by the session fixture."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.eval import CometScorer, comet_and_lacomet, lacomet, resolve_checkpoint
from xling.eval.comet import sanitize_segments


@pytest.fixture(scope="module")
def scorer(tiny_comet: Path) -> CometScorer:
    return CometScorer(str(tiny_comet), batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def texts(flores: Callable[[str, str], list[str]]) -> dict[str, list[str]]:
    return {lang: flores(lang, "devtest")[:4] for lang in ("eng", "swh")}


def test_scores_equal_comets_own_predict(
    scorer: CometScorer, tiny_comet: Path, texts: dict[str, list[str]]
) -> None:
    from comet import load_from_checkpoint

    src, ref = texts["eng"], texts["swh"]
    hyps = [ref[0], ref[1][:40], src[2], ""]
    result = scorer.score(hyps, ref, src)
    model = load_from_checkpoint(str(tiny_comet / "checkpoints/model.ckpt"), local_files_only=True)
    samples = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(src, hyps, ref, strict=True)]
    expected = model.predict(samples, batch_size=4, gpus=0, progress_bar=False).scores
    assert result.segments == pytest.approx(expected, abs=1e-6)
    assert result.score == pytest.approx(sum(expected) / 4, abs=1e-6)
    assert result.details["nan_segments"] == 0
    # The checkpoint can be given as the .ckpt file too.
    assert resolve_checkpoint(tiny_comet) == tiny_comet / "checkpoints" / "model.ckpt"


def test_lacomet_hand_computed(scorer: CometScorer, texts: dict[str, list[str]]) -> None:
    src, ref = texts["eng"], texts["swh"]
    # 0: a Swahili reference sentence (in target), 1: the English source copied (wrong language
    # and a copy), 2: empty, 3: another Swahili sentence.
    hyps = [ref[0], src[1], "", ref[3]]
    comet, gated = comet_and_lacomet(scorer, hyps, ref, src, "swh", backend="pycld2")
    s = comet.segments
    assert s is not None
    # laCOMET = mean(segment × [first line is Swahili]); the empty one scores 0.
    assert gated.score == pytest.approx((s[0] + 0.0 + 0.0 + s[3]) / 4)
    assert gated.segments == pytest.approx((s[0], 0.0, 0.0, s[3]))
    assert gated.details["in_target_rate"] == 0.5
    assert gated.details["empty"] == 1
    assert gated.details["copies"] == 1 and gated.details["copy_rate"] == 0.25


def test_only_the_first_line_is_identified(texts: dict[str, list[str]]) -> None:
    swh, eng = texts["swh"][0], texts["eng"][0]
    # A Swahili first line followed by English chatter still counts (ICL-MT's rule), and vice
    # versa; segment scores are 0.5 and 0.7 by construction.
    result = lacomet([0.5, 0.7], [f"{swh}\n{eng} {eng}", f"{eng}\n{swh}"], "sw", backend="pycld2")
    assert result.score == pytest.approx((0.5 + 0.0) / 2)


def test_nan_never_reaches_a_system_score(texts: dict[str, list[str]]) -> None:
    assert sanitize_segments([0.5, float("nan"), float("inf")]) == ([0.5, 0.0, 0.0], [1, 2])
    swh = texts["swh"]
    result = lacomet(
        [float("nan"), 0.8, float("nan")], [swh[0], swh[1], ""], "swh_Latn", backend="pycld2"
    )
    assert math.isfinite(result.score)
    assert result.score == pytest.approx(0.8 / 3)
    assert result.details["nan_segments"] == 2


def test_missing_models_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not available offline"):
        CometScorer("Unbabel/no-such-comet-model").load()
    with pytest.raises(InvalidInputError, match="has no checkpoints/model.ckpt"):
        CometScorer(str(tmp_path)).load()
    with pytest.raises(InvalidInputError, match="device="):
        CometScorer(device="tpu")  # type: ignore[arg-type]


def test_bad_comet_inputs(scorer: CometScorer) -> None:
    with pytest.raises(InvalidInputError, match="2 hypotheses but 1 references"):
        scorer.score(["a", "b"], ["a"], ["x", "y"])
    with pytest.raises(InvalidInputError, match="one COMET score per hypothesis"):
        lacomet([0.1], ["a", "b"], "swh")
    with pytest.raises(InvalidInputError, match="unknown language code 'xx'"):
        lacomet([0.1], ["a"], "xx")
