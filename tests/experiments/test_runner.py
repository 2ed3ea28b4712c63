"""The experiment runner against the real vLLM server, on a few FLORES sentences."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from xling.eval import copies_source
from xling.experiments.config import parse_config
from xling.experiments.runner import copy_ban, run_experiment
from xling.experiments.runs import finished_runs, read_outputs
from xling.llm import LLMClient
from xling.prompts.mt import build_mt_prompt
from xling.prompts.postprocess import clean_translation, mt_stop_sequences

pytestmark = pytest.mark.vllm


def _config(tmp_path: Path, **changes: object) -> object:
    data = {
        "name": "small",
        "directions": ["eng-swh"],
        "strategies": ["0-shot", "random", "bm25"],
        "k": [2],
        "seeds": [0, 1],
        "data": {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": 6},
        "decoding": {"max_new_tokens": 24},
        **changes,
    }
    return parse_config(data, source="small.toml", base=tmp_path)


def test_runs_write_rows_scores_and_are_skipped_when_finished(
    tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    out = tmp_path / "out"
    report = run_experiment(_config(tmp_path), out, llm_url=llm_target[0])  # type: ignore[arg-type]
    assert [(r.spec.label, r.spec.seed, r.status, r.generated) for r in report.runs] == [
        ("0-shot", 0, "ran", 6), ("random", 0, "ran", 6), ("random", 1, "ran", 6),
        ("bm25", 0, "ran", 6),
    ]  # fmt: skip
    bm25 = report.runs[3]
    rows = read_outputs(bm25.folder / "outputs.jsonl")
    assert [r.index for r in rows] == list(range(6))
    assert all(len(r.examples) == 2 and r.raw for r in rows)
    # The prompt hash is that of the ICL-MT prompt of exactly the example rows recorded.
    first = rows[0]
    prompt = build_mt_prompt(
        first.source, [(e.source, e.target) for e in first.examples], "eng", "swh"
    )
    assert first.prompt_sha256 == hashlib.sha256(prompt.encode()).hexdigest()
    # chrF++ as sacrebleu computes it on the cleaned translations.
    expected = CHRF(word_order=2).corpus_score(
        [r.translation for r in rows], [[r.reference for r in rows]]
    )
    assert bm25.scores.metrics["chrf"] == pytest.approx(expected.score)
    assert "tok:13a" in bm25.scores.signatures["bleu"]
    assert not (bm25.folder / "outputs.partial.jsonl").exists()
    # random with two seeds chose different examples
    seeds = [read_outputs(r.folder / "outputs.jsonl")[0].examples for r in report.runs[1:3]]
    assert seeds[0] != seeds[1]

    again = run_experiment(_config(tmp_path), out, llm_url=llm_target[0])  # type: ignore[arg-type]
    assert {r.status for r in again.runs} == {"skipped"} and sum(
        r.generated for r in again.runs
    ) == 0
    assert [r.scores for r in again.runs] == [r.scores for r in report.runs]
    assert len(list(finished_runs(out))) == 4

    # A changed decoding budget is another config: every run is redone.
    longer = _config(tmp_path, decoding={"max_new_tokens": 30})
    redone = run_experiment(longer, out, llm_url=llm_target[0])  # type: ignore[arg-type]
    assert {r.status for r in redone.runs} == {"ran"}


def test_iclmt_layout_writes_generations_and_score_files(
    tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    out = tmp_path / "out"
    config = _config(tmp_path, strategies=["0-shot", "random"], seeds=[13, 42])
    report = run_experiment(config, out, llm_url=llm_target[0], layout="iclmt")  # type: ignore[arg-type]
    root = out / "iclmt" / "smollm2-135m-instruct"
    generated = (
        root
        / "Random"
        / "Eng_to_Swh"
        / ("English_to_Swahili_2_shot_seed_42_template_11_Random_s2s.jsonl")
    )
    lines = [json.loads(x) for x in generated.read_text(encoding="utf-8").splitlines()]
    rows = read_outputs(report.runs[2].folder / "outputs.jsonl")
    assert [x["translation"] for x in lines] == [r.translation for r in rows]
    chrf = json.loads((root / "chrf_scores" / "Eng_to_Swh_scores.json").read_text())
    seeds = [r.scores.metrics["chrf"] for r in report.runs[1:]]
    assert chrf["Random"]["s2s"]["2"]["mean"] == pytest.approx(sum(seeds) / 2)
    assert chrf["Random"]["s2s"]["0"]["std"] == 0.0  # one 0-shot run


def test_sampling_is_seeded_per_sentence_and_beam_search_runs(
    tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    def raw(out: str, **decoding: object) -> list[str]:
        config = _config(tmp_path, strategies=["bm25"], seeds=[7],
                         data={"pool": "bundled:dev", "test": "bundled:devtest", "test_size": 4},
                         decoding={"max_new_tokens": 16, **decoding})  # fmt: skip
        report = run_experiment(config, tmp_path / out, llm_url=llm_target[0])  # type: ignore[arg-type]
        return [r.raw for r in read_outputs(report.runs[0].folder / "outputs.jsonl")]

    sampled = raw("a", mode="sample", temperature=1.0)
    assert raw("b", mode="sample", temperature=1.0) == sampled  # the same seeds, the same text
    greedy = raw("greedy")
    beam = raw("beam", mode="beam", beams=2)
    assert len(beam) == 4 and all(isinstance(x, str) for x in beam)
    assert sampled != greedy


@pytest.mark.gemma
def test_gemma_translates_french_five_shot(tmp_path: Path, gemma_target: tuple[str, str]) -> None:
    # SmolLM2-135M scores about 14 chrF++ here; Gemma 3 270M base 40 on 24 sentences.
    config = _config(
        tmp_path, directions=["eng-fra"], strategies=["random"], k=[5], seeds=[0],
        data={"pool": "bundled:dev", "test": "bundled:devtest", "test_size": 8},
        decoding={"max_new_tokens": 75},
    )  # fmt: skip
    report = run_experiment(config, tmp_path / "out", llm_url=gemma_target[0])  # type: ignore[arg-type]
    assert report.llm.endswith("(gemma3-270m)")
    rows = read_outputs(report.runs[0].folder / "outputs.jsonl")
    assert report.runs[0].scores.metrics["chrf"] > 30
    assert all(r.translation and "\n" not in r.translation for r in rows)


async def test_a_banned_start_keeps_a_copying_prompt_from_its_copy(
    llm: LLMClient, flores: Callable[[str, str], list[str]]
) -> None:
    source = flores("eng", "devtest")[1]
    assert source.startswith("Dr. Ehud Ur")
    # Examples whose "translations" are their sources teach the model to copy.
    prompt = build_mt_prompt(source, [(s, s) for s in flores("eng", "dev")[:3]], "eng", "swh")
    stop = mt_stop_sequences("eng", "swh")
    plain = await llm.acomplete(prompt, max_tokens=24, stop=stop)
    assert copies_source(source, clean_translation(plain.text, "eng", "swh"))
    ban = await copy_ban(llm, source)
    # vLLM's /tokenize answered ids; logit_bias keys them as strings.
    assert 1 <= len(ban) <= 6 and set(ban.values()) == {-100}
    assert all(key.isdigit() for key in ban)
    banned = await llm.acomplete(prompt, max_tokens=24, stop=stop, extra={"logit_bias": ban})
    assert banned.text != plain.text
    assert not banned.text.lstrip().startswith("Dr")


def test_ban_copy_re_decodes_the_copies_of_a_real_model(
    tmp_path: Path, llm_target: tuple[str, str], flores: Callable[[str, str], list[str]]
) -> None:
    dev, devtest, swh = flores("eng", "dev"), flores("eng", "devtest"), flores("swh", "devtest")
    (tmp_path / "copies.tsv").write_text("".join(f"{s}\t{s}\n" for s in dev[:20]), "utf-8")
    (tmp_path / "test.tsv").write_text(
        "".join(f"{s}\t{t}\n" for s, t in zip(devtest[:4], swh[:4], strict=True)), "utf-8"
    )
    config = _config(tmp_path, strategies=["bm25"], seeds=[0],
                     data={"pool": "copies.tsv", "test": "test.tsv"},
                     decoding={"max_new_tokens": 24, "ban_copy": True})  # fmt: skip
    said: list[str] = []
    report = run_experiment(config, tmp_path / "out", llm_url=llm_target[0], on_status=said.append)  # type: ignore[arg-type]
    rows = read_outputs(report.runs[0].folder / "outputs.jsonl")
    redone = [r for r in rows if r.redecoded]
    assert redone  # the copying examples made it copy
    for row in redone:
        assert row.raw_copy is not None and row.raw != row.raw_copy
        assert copies_source(row.source, clean_translation(row.raw_copy, "eng", "swh"))
    assert all(r.raw_copy is None for r in rows if not r.redecoded)
    scores = report.runs[0].scores
    assert scores.redecoded == len(redone) and scores.copies == sum(bool(r.copied) for r in rows)
    assert f"({len(redone)} re-decoded)" in said[-1]


@pytest.mark.gemma
def test_gemma_copies_some_swahili_and_the_ban_re_decodes_each_copy(
    tmp_path: Path, gemma_target: tuple[str, str]
) -> None:
    # Gemma 3 270M base copies the English source for about a quarter of these Swahili prompts.
    config = _config(
        tmp_path, directions=["eng-swh"], strategies=["random"], k=[5], seeds=[0],
        data={"pool": "bundled:dev", "test": "bundled:devtest", "test_size": 12},
        decoding={"max_new_tokens": 75, "ban_copy": True},
    )  # fmt: skip
    said: list[str] = []
    report = run_experiment(
        config, tmp_path / "out", llm_url=gemma_target[0], on_status=said.append
    )  # type: ignore[arg-type]
    rows = read_outputs(report.runs[0].folder / "outputs.jsonl")
    redone = [r for r in rows if r.redecoded]
    assert redone
    for row in redone:
        assert row.raw_copy is not None
        assert copies_source(row.source, clean_translation(row.raw_copy, "eng", "swh"))
        assert not clean_translation(row.raw, "eng", "swh").startswith(row.source.split()[0])
    scores = report.runs[0].scores
    assert scores.redecoded == len(redone) and scores.copies is not None
    assert scores.copies < len(redone)  # the ban turned copies into attempts at Swahili
