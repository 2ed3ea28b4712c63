"""One run of an ICL-MT experiment grid, and the files a finished run leaves in its folder.

A grid is directions × strategies × k × seeds (× template); one cell is a :class:`RunSpec`.
In xling's layout a run writes three files into ``<out>/runs/<RunSpec.key>/``:

- ``outputs.jsonl``: one :class:`OutputRow` per test sentence, in test-set order;
- ``scores.json``: :class:`RunScores` (corpus metrics with their signatures);
- ``run.json``: the spec and the hash of the effective config, written last, when the run is done.

A run whose ``run.json`` carries the same config hash is finished and skipped on a rerun.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.files import write_json_atomic
from xling.eval.copying import copies_source
from xling.experiments.run_folder import RUN_FILE

__all__ = [
    "RunSpec",
    "ExampleRow",
    "OutputRow",
    "RunScores",
    "RunResult",
    "OUTPUTS_FILE",
    "SCORES_FILE",
    "RUN_FILE",
    "RUNS_DIR",
    "read_outputs",
    "read_run",
    "finished_runs",
    "write_scores",
]

RUNS_DIR = "runs"
OUTPUTS_FILE = "outputs.jsonl"
SCORES_FILE = "scores.json"
ZERO_SHOT = "0-shot"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-").lower()


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid.

    Attributes:
        src: Source language code (``eng``).
        tgt: Target language code (``fra``).
        strategy: Selector strategy (:func:`xling.selectors.available_strategies`); with
            ``k == 0`` no example is selected and the run is the 0-shot baseline.
        k: Examples per prompt.
        seed: Seed of the run (random selection and sampled decoding use it).
        template: MT prompt template name (:data:`xling.prompts.mt.MT_TEMPLATES`).
        embedder: Embedder spec of a dense strategy; ``None`` for random and BM25.
        label: Row name in summaries; several rows may share a strategy (``s2s`` with two
            embedders). Defaults to the strategy, or ``0-shot`` when ``k == 0``.
    """

    src: str
    tgt: str
    strategy: str
    k: int
    seed: int = 0
    template: str = "icl-mt-11"
    embedder: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", ZERO_SHOT if self.k == 0 else self.strategy)

    @property
    def direction(self) -> str:
        """``src-tgt``, e.g. ``eng-fra``."""
        return f"{self.src}-{self.tgt}"

    @property
    def zero_shot(self) -> bool:
        """True when the prompts carry no example."""
        return self.k == 0

    @property
    def key(self) -> str:
        """The run's folder name: direction, label, k, seed and template, filesystem-safe."""
        return (
            f"{self.direction}.{_slug(self.label)}.k{self.k}.seed{self.seed}.{_slug(self.template)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class ExampleRow:
    """One in-context example shown in a prompt."""

    id: str
    source: str
    target: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OutputRow:
    """One test sentence of a run, as ``outputs.jsonl`` holds it.

    Attributes:
        index: Position in the test set (0-based).
        source: The sentence to translate.
        reference: Its reference translation.
        examples: The prompt's examples, in prompt order (nearest last).
        prompt_sha256: Hash of the exact prompt sent.
        raw: The LLM's continuation as returned.
        translation: The cleaned translation that is scored.
        copied: Whether the translation repeats the source
            (:func:`xling.eval.copies_source`); computed from the two when not given, so rows
            written before copies were counted read back with it.
        redecoded: Whether the first output copied the source and the prompt was sent again
            with the source's first tokens banned (``[decoding] ban_copy``); ``raw`` and
            ``translation`` are then the second answer's.
        raw_copy: The first, copying continuation of a re-decoded row (``None`` otherwise).
    """

    index: int
    source: str
    reference: str
    examples: tuple[ExampleRow, ...]
    prompt_sha256: str
    raw: str
    translation: str
    copied: bool | None = None
    redecoded: bool = False
    raw_copy: str | None = None

    def __post_init__(self) -> None:
        if self.copied is None:
            object.__setattr__(self, "copied", copies_source(self.source, self.translation))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["examples"] = [e.to_dict() for e in self.examples]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputRow:
        examples = tuple(ExampleRow(**e) for e in data.get("examples", ()))
        return cls(**{**data, "examples": examples})


@dataclass(frozen=True)
class RunScores:
    """Corpus scores of one run.

    ``scores.json`` holds these fields and ``copy_rate``; a file written before copies were
    counted reads back with ``copies=None`` (``xling experiment rescore`` adds them).

    Attributes:
        n: Sentences scored.
        metrics: Metric name (``chrf``, ``bleu``, ``comet``, ``lacomet``) → score.
        signatures: Metric name → its signature (sacrebleu's, or the COMET checkpoint).
        copies: Translations that repeat their source (:func:`xling.eval.copies_source`);
            ``None`` when not counted.
        redecoded: Sentences re-decoded because their first output copied (``ban_copy``).
    """

    n: int
    metrics: dict[str, float]
    signatures: dict[str, str] = field(default_factory=dict)
    copies: int | None = None
    redecoded: int = 0

    @property
    def copy_rate(self) -> float | None:
        """The share of translations that copy their source (``None`` when not counted)."""
        return None if self.copies is None or not self.n else self.copies / self.n

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "copy_rate": self.copy_rate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunScores:
        copies = data.get("copies")
        return cls(
            n=int(data["n"]),
            metrics={k: float(v) for k, v in data["metrics"].items()},
            signatures=dict(data.get("signatures", {})),
            copies=None if copies is None else int(copies),
            redecoded=int(data.get("redecoded", 0)),
        )


@dataclass(frozen=True)
class RunResult:
    """A finished run read back from its folder."""

    spec: RunSpec
    config_hash: str
    scores: RunScores
    folder: Path

    def outputs(self) -> list[OutputRow]:
        """The run's output rows (read from ``outputs.jsonl``)."""
        return read_outputs(self.folder / OUTPUTS_FILE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "config_hash": self.config_hash,
            "scores": self.scores.to_dict(),
            "folder": str(self.folder),
        }


def read_outputs(path: Path) -> list[OutputRow]:
    """Reads an ``outputs.jsonl`` file.

    Raises:
        InvalidInputError: On a line that is not an output row (names the file and line).
    """
    rows: list[OutputRow] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(OutputRow.from_dict(json.loads(line)))
            except (ValueError, TypeError, KeyError) as exc:
                raise InvalidInputError(f"{path}:{number}: not an output row ({exc})") from exc
    return rows


def read_run(folder: Path) -> RunResult | None:
    """The finished run in ``folder``, or ``None`` when it is not finished.

    Raises:
        InvalidInputError: If ``run.json`` or ``scores.json`` is unreadable.
    """
    run_file = folder / RUN_FILE
    if not run_file.is_file():
        return None
    try:
        meta = json.loads(run_file.read_text(encoding="utf-8"))
        scores = RunScores.from_dict(json.loads((folder / SCORES_FILE).read_text(encoding="utf-8")))
        spec = RunSpec.from_dict(meta["spec"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInputError(f"{folder}: not a finished xling run ({exc})") from exc
    return RunResult(spec, str(meta["config_hash"]), scores, folder)


def finished_runs(out: Path) -> Iterator[RunResult]:
    """Every finished run under ``out/runs``, in folder-name order."""
    root = out / RUNS_DIR
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        result = read_run(folder)
        if result is not None:
            yield result


def write_scores(folder: Path, scores: RunScores) -> Path:
    """Writes ``scores.json`` of the run in ``folder``, atomically; returns its path."""
    path = folder / SCORES_FILE
    write_json_atomic(path, scores.to_dict())
    return path
