"""BLEU/chrF++ against sacrebleu and the ICL-MT score files."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest
import sacrebleu

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.eval import bleu, chrf, corpus_stats, read_hypotheses

DIRECTIONS = {"Eng_to_Fra": "fra", "Eng_to_Swh": "swh", "Eng_to_Wol": "wol"}


def published(iclmt: Path, direction: str) -> dict:
    return json.loads((iclmt / "chrf_scores" / f"{direction}_scores.json").read_text())


def shots(path: Path) -> str:
    # English_to_Swahili_10_shot_seed_122_template_11_SONAR_s2s.jsonl -> "10"
    return path.name.split("_")[3]


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("method", ["SONAR", "LaBSE"])
def test_chrf_reproduces_iclmt_files(
    iclmt: Path, flores: Callable[[str, str], list[str]], method: str, direction: str
) -> None:
    refs = flores(DIRECTIONS[direction], "devtest")
    scores = published(iclmt, direction)[method]["s2s"]
    files = sorted((iclmt / method / direction).glob("*.jsonl"))
    assert len(files) == 2
    for path in files:
        hyps = read_hypotheses(path, field="translation")
        assert abs(chrf(hyps, refs).score - scores[shots(path)]) < 1e-9, path.name


def test_chrf_sonar_10shot_swahili_exact(iclmt: Path, flores: Callable[..., list[str]]) -> None:
    path = (
        iclmt / "SONAR/Eng_to_Swh/English_to_Swahili_10_shot_seed_122_template_11_SONAR_s2s.jsonl"
    )
    # The figure of chrf_scores/Eng_to_Swh_scores.json, also sacrebleu's corpus_chrf(word_order=2).
    assert (
        abs(chrf(read_hypotheses(path), flores("swh", "devtest")).score - 19.910256136354352) < 1e-9
    )


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_chrf_random_seeds_mean_and_population_std(
    iclmt: Path, flores: Callable[[str, str], list[str]], direction: str
) -> None:
    refs = flores(DIRECTIONS[direction], "devtest")
    scores = published(iclmt, direction)["Random"]["s2s"]
    for k in ("0", "10"):  # 1-shot too would add ~30 s of chrF
        files = sorted((iclmt / "Random" / direction).glob(f"*_{k}_shot_seed_*.jsonl"))
        assert {p.name.split("_seed_")[1].split("_")[0] for p in files} == {"13", "42", "122"}
        values = [chrf(read_hypotheses(p), refs).score for p in files]
        assert abs(statistics.fmean(values) - scores[k]["mean"]) < 1e-9
        assert abs(statistics.pstdev(values) - scores[k]["std"]) < 1e-9


@pytest.fixture(scope="module")
def pair(flores: Callable[[str, str], list[str]], iclmt: Path) -> tuple[list[str], list[str]]:
    path = iclmt / "LaBSE/Eng_to_Fra/English_to_French_1_shot_seed_122_template_11_LaBSE_s2s.jsonl"
    return read_hypotheses(path)[:300], flores("fra", "devtest")[:300]


@pytest.mark.parametrize("tokenize", ["13a", "char", "intl", "none"])
def test_bleu_matches_sacrebleu(pair: tuple[list[str], list[str]], tokenize: str) -> None:
    hyps, refs = pair
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize=tokenize).score
    result = bleu(hyps, refs, tokenize=tokenize)
    assert result.score == expected
    assert f"tok:{tokenize}" in result.signature


def test_chrf_plain_and_plus_plus(pair: tuple[list[str], list[str]]) -> None:
    hyps, refs = pair
    assert chrf(hyps, refs, word_order=0).score == sacrebleu.corpus_chrf(hyps, [refs]).score
    plus = chrf(hyps, refs)
    assert plus.score == sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score
    assert "nw:2" in plus.signature


def test_corpus_stats_sum_to_the_corpus_score(pair: tuple[list[str], list[str]]) -> None:
    hyps, refs = pair
    assert abs(corpus_stats("chrf", hyps, refs).score() - chrf(hyps, refs).score) < 1e-9
    assert abs(corpus_stats("bleu", hyps, refs).score() - bleu(hyps, refs).score) < 1e-9
    with pytest.raises(UnknownSpecError, match="comet"):
        corpus_stats("comet", hyps, refs)


def test_flores200_without_its_model_says_how_to_provide_it(
    pair: tuple[list[str], list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sacrebleu.utils.SACREBLEU_DIR", str(tmp_path))
    with pytest.raises(InvalidInputError) as info:
        bleu(*pair, tokenize="flores200")
    message = str(info.value)
    assert "flores200sacrebleuspm" in message and str(tmp_path / "models") in message
    assert "spm_model" in message and "13a" in message


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory: pytest.TempPathFactory, flores: Callable[..., list[str]]) -> Path:
    """A small SentencePiece model trained here, standing in for the flores200 one."""
    sentencepiece = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("spm")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(flores("fra", "dev") + flores("eng", "dev")), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "m"), vocab_size=800, minloglevel=2
    )
    return folder / "m.model"


def test_flores200_with_a_local_model_equals_sacrebleus_own_tokenizer(
    pair: tuple[list[str], list[str]],
    spm_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hyps, refs = pair
    ours = bleu(hyps, refs, tokenize="flores200", spm_model=spm_model)
    # Put the same model where sacrebleu looks for flores200's, and let sacrebleu tokenize.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "flores200sacrebleuspm").write_bytes(spm_model.read_bytes())
    monkeypatch.setattr("sacrebleu.tokenizers.tokenizer_spm.SACREBLEU_DIR", str(tmp_path))
    monkeypatch.setattr("sacrebleu.utils.SACREBLEU_DIR", str(tmp_path))
    reference = sacrebleu.corpus_bleu(hyps, [refs], tokenize="flores200")
    assert ours.score == reference.score
    assert "tok:flores200" in ours.signature
    assert bleu(hyps, refs, tokenize="flores200").score == reference.score
    assert not math.isclose(ours.score, bleu(hyps, refs).score)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="2 hypotheses but 1 references"):
        chrf(["a", "b"], ["a"])
    with pytest.raises(InvalidInputError, match="no hypotheses"):
        bleu([], [])
    with pytest.raises(InvalidInputError, match=r"references\[0\]"):
        chrf(["a"], [""])
    with pytest.raises(UnknownSpecError, match="unknown BLEU tokenizer 'moses'"):
        bleu(["a"], ["a"], tokenize="moses")
    # An empty hypothesis is a real output: it scores, it does not fail.
    assert chrf(["", "Le chat dort."], ["Il pleut.", "Le chat dort."]).score > 0


def test_read_hypotheses_formats(tmp_path: Path) -> None:
    plain = tmp_path / "h.txt"
    plain.write_text("a\n\nc\n", encoding="utf-8")
    assert read_hypotheses(plain) == ["a", "", "c"]
    jsonl = tmp_path / "h.jsonl"
    jsonl.write_text('{"translation": "x"}\n{"text": "y"}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"h\.jsonl:2 has no string field 'translation'"):
        read_hypotheses(jsonl)
    other = tmp_path / "o.jsonl"
    other.write_text('{"text": "x"}\n{"text": ""}\n', encoding="utf-8")
    assert read_hypotheses(other, field="text") == ["x", ""]
    empty = tmp_path / "e.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="is empty"):
        read_hypotheses(empty)
