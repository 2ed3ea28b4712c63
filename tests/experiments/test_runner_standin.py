"""The experiment runner's selection and prompts, against a scripted stand-in LLM (no vLLM)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.llm.standin import StandIn
from xling.experiments.config import parse_config
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
