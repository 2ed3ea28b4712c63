"""Re-scoring the outputs of an experiment already on disk, in xling's or ICL-MT's layout.

chrF++ and BLEU always (BLEU with sacrebleu's default ``13a`` tokenizer, which its signature
states: ICL-MT used ``flores200``, whose SentencePiece model needs a download, so published BLEU
entries differ); COMET and laCOMET when a COMET checkpoint is given. Copies of the source
(:func:`xling.eval.copies_source`) are counted wherever the sources are known (always in xling's
layout; in ICL-MT's when ``<references>/<src>/<split>.txt`` exists).

- xling layout: every finished run under ``<folder>/runs/`` gets its ``scores.json`` rewritten
  from its ``outputs.jsonl`` (sources and references are in the rows).
- ICL-MT layout: ``folder`` is a model folder (``generations/llama-2-7b``); every generation
  file ``<Method>/<Src>_to_<Tgt>/*.jsonl`` is scored against FLORES-style references
  (``<references>/<lang>/<split>.txt``) and the scores are merged into
  ``chrf_scores/``, ``bleu_scores/`` (and ``comet_scores/``, ``comet_la_scores/``) in ICL-MT's
  shape (:func:`xling.experiments.iclmt_layout.merge_scores`): entries it did not compute are
  kept as they were. Files with another line count than the references are skipped, as
  ICL-MT's own analysis reads only full devtest runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.eval.comet import CometScorer
from xling.eval.copying import copies_source
from xling.eval.files import read_references
from xling.eval.mt_metrics import bleu as bleu_metric
from xling.eval.mt_scoring import score_mt
from xling.experiments.iclmt_layout import (
    ICLMT_SCORE_DIRS,
    IclmtRun,
    ScoreEntry,
    parse_direction,
    read_generations,
    write_iclmt_scores,
)
from xling.experiments.runs import (
    OUTPUTS_FILE,
    RUNS_DIR,
    OutputRow,
    RunScores,
    read_outputs,
    read_run,
    write_scores,
)

__all__ = [
    "LAYOUTS",
    "Layout",
    "RescoredFile",
    "SkippedFile",
    "RescoreReport",
    "score_outputs",
    "score_directory",
]

Layout = Literal["xling", "iclmt"]
LAYOUTS: tuple[Layout, ...] = get_args(Layout)
"""The output layouts :func:`score_directory` reads."""


@dataclass(frozen=True)
class RescoredFile:
    """One run or generation file scored.

    Attributes:
        path: The run folder (xling) or generation file (ICL-MT).
        n: Sentences scored.
        metrics: Metric → corpus score.
        run: The ICL-MT file's fields (ICL-MT layout only).
        copies: Translations that repeat their source.
    """

    path: Path
    n: int
    metrics: dict[str, float]
    run: IclmtRun | None = None
    copies: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out: dict[str, Any] = {"path": str(self.path), "n": self.n, "metrics": self.metrics,
                               "copies": self.copies}  # fmt: skip
        if self.run is not None:
            out["run"] = self.run.to_dict()
        return out


@dataclass(frozen=True)
class SkippedFile:
    """A run or file left unscored, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"path": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class RescoreReport:
    """What :func:`score_directory` did.

    Attributes:
        folder: The folder re-scored.
        layout: Its layout.
        scored: The runs or files scored, in the order scored.
        skipped: Those left out, with the reason.
        written: The score files written.
        signatures: Metric → signature of the scores (sacrebleu's; the COMET model).
    """

    folder: Path
    layout: Layout
    scored: tuple[RescoredFile, ...]
    skipped: tuple[SkippedFile, ...]
    written: tuple[Path, ...]
    signatures: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "folder": str(self.folder),
            "layout": self.layout,
            "scored": [s.to_dict() for s in self.scored],
            "skipped": [s.to_dict() for s in self.skipped],
            "written": [str(p) for p in self.written],
            "signatures": self.signatures,
        }


@dataclass(frozen=True)
class _Bleu:
    tokenize: str = "13a"
    spm_model: str | os.PathLike[str] | None = None


def _scorer(comet: str | os.PathLike[str] | CometScorer | None) -> CometScorer | None:
    if comet is None or isinstance(comet, CometScorer):
        return comet
    path = Path(comet)
    if not path.exists():
        raise InvalidInputError(f"COMET checkpoint {str(path)!r} does not exist")
    return CometScorer(model=str(path), local_files_only=True)


def _score(
    hypotheses: Sequence[str],
    references: Sequence[str],
    sources: Sequence[str] | None,
    tgt: str,
    scorer: CometScorer | None,
    lid_backend: str | None,
    bleu: _Bleu,
) -> RunScores:
    metrics = ["chrf", "bleu"] + (["comet", "lacomet"] if scorer is not None else [])
    scores = score_mt(
        hypotheses,
        references,
        sources,
        metrics=metrics,
        tgt_lang=tgt,
        tokenize=bleu.tokenize,
        spm_model=bleu.spm_model,
        comet=scorer,
        lid_backend=lid_backend,
    )
    copies = (
        None
        if sources is None
        else sum(copies_source(s, h) for s, h in zip(sources, hypotheses, strict=True))
    )
    return RunScores(
        n=len(hypotheses),
        metrics={name: r.score for name, r in scores.results.items()},
        signatures={name: r.signature for name, r in scores.results.items()},
        copies=copies,
    )


def score_outputs(
    rows: Sequence[OutputRow],
    tgt: str,
    *,
    comet: str | os.PathLike[str] | CometScorer | None = None,
    lid_backend: str | None = None,
    tokenize: str = "13a",
    spm_model: str | os.PathLike[str] | None = None,
) -> RunScores:
    """Scores a run's output rows: chrF++ and BLEU (13a), COMET and laCOMET given a checkpoint,
    and counts the copies of the source and the re-decoded rows.

    The runner and :func:`score_directory` both score through this, so a re-score gives the
    numbers a run wrote.

    Args:
        rows: The run's rows (translation, reference and source of each sentence).
        tgt: The target language (laCOMET's language gate).
        comet: A COMET checkpoint path (or a ready :class:`~xling.eval.CometScorer`).
        lid_backend: LID backend of laCOMET (default: the best one for ``tgt``).
        tokenize: BLEU tokenizer (``13a``; ``flores200`` only with its SentencePiece model on
            disk, see :func:`xling.eval.bleu`).
        spm_model: Path of that SentencePiece model.

    Raises:
        InvalidInputError: If there are no rows, or the metrics refuse them.
    """
    if not rows:
        raise InvalidInputError("no output rows to score")
    scores = _score(
        [r.translation for r in rows],
        [r.reference for r in rows],
        [r.source for r in rows],
        tgt,
        _scorer(comet),
        lid_backend,
        _Bleu(tokenize, spm_model),
    )
    return replace(scores, redecoded=sum(r.redecoded for r in rows))


def _score_xling(
    folder: Path,
    scorer: CometScorer | None,
    lid_backend: str | None,
    bleu: _Bleu,
    on_progress: ProgressCallback | None,
) -> RescoreReport:
    root = folder / RUNS_DIR
    if not root.is_dir():
        raise InvalidInputError(
            f"{folder} has no {RUNS_DIR}/ folder: not an xling experiment output "
            "(use --layout iclmt for ICL-MT generations)"
        )
    runs = sorted(p for p in root.iterdir() if p.is_dir())
    scored: list[RescoredFile] = []
    skipped: list[SkippedFile] = []
    written: list[Path] = []
    signatures: dict[str, str] = {}
    for done, run_dir in enumerate(runs, 1):
        result = read_run(run_dir)
        if result is None:
            skipped.append(SkippedFile(run_dir, "unfinished run (no run.json)"))
        elif not (run_dir / OUTPUTS_FILE).is_file():
            skipped.append(SkippedFile(run_dir, f"no {OUTPUTS_FILE}"))
        else:
            rows = read_outputs(run_dir / OUTPUTS_FILE)
            if not rows:
                skipped.append(SkippedFile(run_dir, f"empty {OUTPUTS_FILE}"))
            else:
                scores = score_outputs(
                    rows,
                    result.spec.tgt,
                    comet=scorer,
                    lid_backend=lid_backend,
                    tokenize=bleu.tokenize,
                    spm_model=bleu.spm_model,
                )
                written.append(write_scores(run_dir, scores))
                signatures.update(scores.signatures)
                scored.append(RescoredFile(run_dir, scores.n, scores.metrics, None, scores.copies))
        if on_progress is not None:
            on_progress(done, len(runs))
    return RescoreReport(folder, "xling", tuple(scored), tuple(skipped), tuple(written), signatures)


def _generation_files(folder: Path) -> list[tuple[Path, str]]:
    """``(file, direction)`` of every ``<Method>/<Src>_to_<Tgt>/*.jsonl``, sorted."""
    score_dirs = set(ICLMT_SCORE_DIRS.values())
    found: list[tuple[Path, str]] = []
    for method_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if method_dir.name in score_dirs or method_dir.name.startswith("."):
            continue
        for direction_dir in sorted(p for p in method_dir.iterdir() if p.is_dir()):
            try:
                parse_direction(direction_dir.name)
            except InvalidInputError:
                continue
            found.extend((f, direction_dir.name) for f in sorted(direction_dir.glob("*.jsonl")))
    return found


def _score_iclmt(
    folder: Path,
    references: Path | None,
    split: str,
    scorer: CometScorer | None,
    lid_backend: str | None,
    bleu: _Bleu,
    on_progress: ProgressCallback | None,
) -> RescoreReport:
    if references is None:
        raise InvalidInputError(
            "the ICL-MT layout needs references: a folder holding <lang>/<split>.txt "
            "(FLORES-200 style, e.g. eng/devtest.txt), given as references (--references)"
        )
    references = Path(references)
    if not references.is_dir():
        raise InvalidInputError(f"references folder {str(references)!r} does not exist")
    files = _generation_files(folder)
    if not files:
        raise InvalidInputError(
            f"{folder} holds no ICL-MT generation files (<Method>/<Src>_to_<Tgt>/*.jsonl); "
            "give the model folder, e.g. generations/llama-2-7b"
        )
    texts: dict[str, list[str]] = {}

    def text_of(lang: str) -> list[str]:
        if lang not in texts:
            path = references / lang / f"{split}.txt"
            if not path.is_file():
                raise InvalidInputError(f"no references for {lang}: {path} does not exist")
            texts[lang] = read_references(path)
        return texts[lang]

    scored: list[RescoredFile] = []
    skipped: list[SkippedFile] = []
    entries: dict[str, list[ScoreEntry]] = {}
    signatures: dict[str, str] = {}
    for done, (path, direction) in enumerate(files, 1):
        try:
            run = IclmtRun.parse(path.name, direction)
            refs = text_of(run.tgt)
            hyps = read_generations(path)
            if len(hyps) != len(refs):
                raise InvalidInputError(
                    f"{len(hyps)} lines but {len(refs)} references in {run.tgt}/{split}.txt "
                    "(ICL-MT scores only full runs)"
                )
            # COMET's input; without COMET the copies are counted when the sources are there.
            has_sources = (references / run.src / f"{split}.txt").is_file()
            sources = text_of(run.src) if scorer is not None or has_sources else None
            scores = _score(hyps, refs, sources, run.tgt, scorer, lid_backend, bleu)
        except InvalidInputError as exc:
            skipped.append(SkippedFile(path, str(exc)))
        else:
            signatures.update(scores.signatures)
            scored.append(RescoredFile(path, scores.n, scores.metrics, run, scores.copies))
            entries.setdefault(direction, []).extend(
                ScoreEntry(metric, run.method, run.variant, run.k, run.seed, value)
                for metric, value in scores.metrics.items()
            )
        if on_progress is not None:
            on_progress(done, len(files))
    written: list[Path] = []
    for direction, found in entries.items():
        written.extend(write_iclmt_scores(folder, direction, found))
    return RescoreReport(folder, "iclmt", tuple(scored), tuple(skipped), tuple(written), signatures)


def score_directory(
    folder: str | os.PathLike[str],
    layout: str = "xling",
    *,
    references: str | os.PathLike[str] | None = None,
    split: str = "devtest",
    comet: str | os.PathLike[str] | CometScorer | None = None,
    lid_backend: str | None = None,
    tokenize: str = "13a",
    spm_model: str | os.PathLike[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> RescoreReport:
    """Re-scores the outputs in ``folder`` and writes its score files there.

    Args:
        folder: An xling experiment output (holding ``runs/``) or an ICL-MT model folder
            (holding ``<Method>/<Src>_to_<Tgt>/``).
        layout: ``xling`` or ``iclmt``.
        references: ICL-MT layout: a folder holding ``<lang>/<split>.txt`` (a FLORES-200
            folder such as ``flores/`` with ``eng/devtest.txt``); unused for xling's layout,
            whose rows carry their references.
        split: The reference file name without ``.txt`` (``devtest``).
        comet: A COMET checkpoint path (or :class:`~xling.eval.CometScorer`): adds COMET and
            laCOMET (``comet_scores/``, ``comet_la_scores/`` in the ICL-MT layout).
        lid_backend: LID backend of laCOMET.
        tokenize: BLEU tokenizer. ``13a`` (default) works offline and its signature says so;
            ICL-MT's published BLEU used ``flores200``, which needs its SentencePiece model on
            disk (``spm_model``). Entries written with another tokenizer than the file's
            others are not comparable with them.
        spm_model: Path of the SentencePiece model for ``flores200``/``flores101``.
        on_progress: Called as ``on_progress(done, total)`` after each run or file
            (a :data:`xling.core.progress.ProgressCallback`).

    Returns:
        The files scored and skipped, the score files written and the metric signatures.

    Raises:
        InvalidInputError: If the folder is missing or not of the layout, the layout is
            unknown, or the ICL-MT layout has no references.
    """
    if layout not in LAYOUTS:
        raise InvalidInputError(f"unknown layout {layout!r}; allowed: {', '.join(LAYOUTS)}")
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"{str(root)!r} is not a folder")
    scorer = _scorer(comet)
    bleu = _Bleu(tokenize, spm_model)
    bleu_metric(["."], ["."], tokenize=tokenize, spm_model=spm_model)  # a bad tokenizer fails here
    if layout == "xling":
        return _score_xling(root, scorer, lid_backend, bleu, on_progress)
    refs = Path(references) if references is not None else None
    return _score_iclmt(root, refs, split, scorer, lid_backend, bleu, on_progress)
