"""Writing finished run folders the way the runner does (outputs.jsonl, scores.json, run.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from xling.experiments.rescore import score_outputs
from xling.experiments.runs import (
    OUTPUTS_FILE,
    RUN_FILE,
    RUNS_DIR,
    OutputRow,
    RunScores,
    RunSpec,
    write_scores,
)


def write_run(
    out: Path,
    spec: RunSpec,
    sources: Sequence[str],
    references: Sequence[str],
    translations: Sequence[str],
    *,
    scores: RunScores | None = None,
    finished: bool = True,
) -> Path:
    """A run folder under ``out/runs``; scored with xling's metrics unless ``scores`` is given."""
    folder = out / RUNS_DIR / spec.key
    folder.mkdir(parents=True)
    rows = [
        OutputRow(i, s, r, (), f"sha-{i}", t, t)
        for i, (s, r, t) in enumerate(zip(sources, references, translations, strict=True))
    ]
    with (folder / OUTPUTS_FILE).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
    write_scores(folder, scores or score_outputs(rows, spec.tgt))
    if finished:
        run = {"spec": spec.to_dict(), "config_hash": "test"}
        (folder / RUN_FILE).write_text(json.dumps(run), encoding="utf-8")
    return folder
