"""The experiment runner's selection and prompts, against a scripted stand-in LLM (no vLLM)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.llm.standin import TOKENIZE, Reply, StandIn
from xling.experiments.config import ExperimentConfig, parse_config
from xling.experiments.runner import run_experiment
from xling.experiments.runs import read_outputs
from xling.prompts.mt import build_mt_prompt


def test_runs_select_through_select_examples_and_record_the_prompt(tmp_path: Path) -> None:
    config = parse_config(
        {
            "name": "standin",
            "directions": ["eng-swh"],
            "strategies": ["random", "bm25"],
            "k": [1, 2],
            "seeds": [0, 1],
            "data": {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": 4},
            "decoding": {"max_new_tokens": 8},
        },
        source="standin.toml",
        base=tmp_path,
    )
    with StandIn() as llm:
        llm.content = "Habari ya asubuhi."
        report = run_experiment(config, tmp_path / "out", llm_url=llm.url)  # type: ignore[arg-type]
    assert [(r.spec.label, r.spec.k, r.spec.seed, r.generated) for r in report.runs] == [
        ("random", 1, 0, 4), ("random", 1, 1, 4), ("random", 2, 0, 4), ("random", 2, 1, 4),
        ("bm25", 1, 0, 4), ("bm25", 2, 0, 4),
    ]  # fmt: skip
    outputs = {(r.spec.label, r.spec.k, r.spec.seed): read_outputs(r.folder / "outputs.jsonl")
               for r in report.runs}  # fmt: skip
    for (_, k, _), rows in outputs.items():
        assert [r.index for r in rows] == [0, 1, 2, 3]
        assert all(len(r.examples) == k and r.translation == "Habari ya asubuhi." for r in rows)
        # The recorded hash is that of the ICL-MT prompt of exactly the example rows recorded.
        first = rows[0]
        prompt = build_mt_prompt(
            first.source, [(e.source, e.target) for e in first.examples], "eng", "swh"
        )
        assert first.prompt_sha256 == hashlib.sha256(prompt.encode()).hexdigest()
    # One bm25 selector serves k = 1 and k = 2: the best example of k = 1 is the nearest
    # (last, in nearest-last order) of k = 2.
    for one, two in zip(outputs[("bm25", 1, 0)], outputs[("bm25", 2, 0)], strict=True):
        assert one.examples[0] == two.examples[-1]
    seeds = [outputs[("random", 2, s)][0].examples for s in (0, 1)]
    assert seeds[0] != seeds[1]


def _copying_model(llm: StandIn, requests: list[dict[str, Any]]) -> None:
    """A stand-in that copies the prompt's last English sentence, unless its first tokens are
    banned; its tokenizer gives one token per character, the character's code point."""

    def complete(body: dict[str, Any]) -> Reply:
        requests.append(body)
        source = body["prompt"].rsplit("English sentence\n", 1)[1].split("\nSwahili", 1)[0]
        text = "Habari ya asubuhi." if "logit_bias" in body else source
        return Reply.json({"choices": [{"text": text, "finish_reason": "stop"}]})

    def tokenize(body: dict[str, Any]) -> Reply:
        requests.append(body)
        return Reply.json({"tokens": [ord(c) for c in body["prompt"]]})

    llm.answer("/v1/completions", complete)
    llm.answer(TOKENIZE, tokenize)


def _copy_config(tmp_path: Path, **decoding: object) -> ExperimentConfig:
    return parse_config(
        {
            "name": "copies",
            "directions": ["eng-swh"],
            "strategies": ["0-shot"],
            "data": {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": 3},
            "decoding": {"max_new_tokens": 8, **decoding},
        },
        source="copies.toml",
        base=tmp_path,
    )


def test_copies_are_counted_and_re_decoded_with_their_first_tokens_banned(tmp_path: Path) -> None:
    requests: list[dict[str, Any]] = []
    said: list[str] = []
    with StandIn() as llm:
        _copying_model(llm, requests)
        plain = run_experiment(
            _copy_config(tmp_path), tmp_path / "out", llm_url=llm.url, on_status=said.append
        )
        assert not [r for r in requests if "logit_bias" in r or "tokens" in r]
        assert plain.runs[0].scores.copies == 3 and plain.runs[0].scores.copy_rate == 1.0
        assert said[-1].startswith("[1/1] eng-swh.0-shot.k0.seed0.icl-mt-11: chrF++ ")
        assert ", copies 3/3, 3 generated (" in said[-1]
        rows = read_outputs(plain.runs[0].folder / "outputs.jsonl")
        assert [(r.copied, r.redecoded, r.raw_copy) for r in rows] == [(True, False, None)] * 3
        scores = json.loads((plain.runs[0].folder / "scores.json").read_text())
        assert (scores["copies"], scores["copy_rate"], scores["redecoded"]) == (3, 1.0, 0)

        # ban_copy is another config: the run is redone, and each copy is sent again.
        requests.clear()
        banned = run_experiment(
            _copy_config(tmp_path, ban_copy=True), tmp_path / "out", llm_url=llm.url,
            on_status=said.append,
        )  # fmt: skip
    assert banned.runs[0].status == "ran"
    rows = read_outputs(banned.runs[0].folder / "outputs.jsonl")
    assert rows[0].source.startswith('"We now have 4-month-old mice')
    assert rows[1].source.startswith("Dr. Ehud Ur, professor")
    assert [r.translation for r in rows] == ["Habari ya asubuhi."] * 3
    assert [(r.copied, r.redecoded, r.raw_copy) for r in rows] == [
        (False, True, r.source) for r in rows
    ]
    # Each source's first two words, as they are and after a space: their first three tokens.
    tokenize = [r for r in requests if "max_tokens" not in r]
    assert sorted(r["prompt"] for r in tokenize) == [
        " Dr Ehud", " Like some", " We now", "Dr Ehud", "Like some", "We now"
    ]  # fmt: skip
    assert all(set(r) == {"model", "prompt", "add_special_tokens"} for r in tokenize)
    bans = [r["logit_bias"] for r in requests if "logit_bias" in r]
    assert {"87": -100, "101": -100, "32": -100} in bans  # W e ␠ / ␠ W e
    assert {"68": -100, "114": -100, "32": -100} in bans  # D r ␠ / ␠ D r
    assert all(r["temperature"] == 0.0 for r in requests if "logit_bias" in r)
    scores = banned.runs[0].scores
    assert (scores.copies, scores.redecoded) == (0, 3)
    assert ", copies 0/3 (3 re-decoded), 3 generated (" in said[-1]


def test_a_run_finished_before_copies_were_counted_stays_finished(tmp_path: Path) -> None:
    config = parse_config(
        {"name": "old", "directions": ["eng-swh"], "strategies": ["random"], "k": [1],
         "data": {"test_size": 2}},
        source="old.toml", base=tmp_path,
    )  # fmt: skip
    folder = tmp_path / "out" / "runs" / "eng-swh.random.k1.seed0.icl-mt-11"
    folder.mkdir(parents=True)
    # The files of that run as the runner wrote them before ban_copy and copies existed: the
    # hash is the one the runner computed then (stand-in model, 2 bundled devtest sentences).
    (folder / "scores.json").write_text('{"n": 2, "metrics": {"chrf": 9.0}, "signatures": {}}')
    spec = {"src": "eng", "tgt": "swh", "strategy": "random", "k": 1, "seed": 0,
            "template": "icl-mt-11", "embedder": None, "label": "random"}  # fmt: skip
    old_hash = "c54e706d431bda2ee8cc9fed7c2e61c0d0898b9f21befef74a2022e7627f5ca4"
    (folder / "run.json").write_text(json.dumps({"spec": spec, "config_hash": old_hash}))
    with StandIn() as llm:
        report = run_experiment(config, tmp_path / "out", llm_url=llm.url)
    [run] = report.runs
    assert (run.status, run.generated, run.scores.copies, run.scores.copy_rate) == (
        "skipped", 0, None, None
    )  # fmt: skip
