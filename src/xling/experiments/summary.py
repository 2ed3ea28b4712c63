"""Summaries of an experiment's finished runs: tables, a plot and tests against random selection.

From the finished runs of an output folder (:func:`xling.experiments.finished_runs`):

- a table per direction and metric, one row per label (strategy), one column per k, holding the
  mean over seeds (± the population std when there are several): ``summary.md`` (wide tables)
  and ``summary.csv`` (one line per direction, label, template, k and metric). Beside the
  metrics, ``copy_rate`` (shown as a percentage in ``summary.md``, right after chrF++) is the
  share of translations that repeat their source (:func:`xling.eval.copies_source`), so a
  chrF++ gain from copied names shows; runs scored before copies were counted get theirs
  from their ``outputs.jsonl``;
- ``summary.png``: chrF++ (or the first metric present) against k, one line per label, one
  panel per direction; the 0-shot score is a dashed line;
- ``significance.json`` (and a table in ``summary.md``): each label against ``random`` at the
  same k and template, seed against the same seed when random has it (else random's first
  seed), by a paired bootstrap (:func:`xling.eval.paired_bootstrap`) on chrF++ and BLEU. COMET
  and laCOMET need segment scores, which run folders do not keep, so they are not tested here.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.eval.bootstrap import BOOTSTRAP_SAMPLE_SIZE, BOOTSTRAP_SAMPLES, paired_bootstrap
from xling.eval.mt_metrics import corpus_stats
from xling.eval.plots import pyplot, save_figure
from xling.experiments.paired_test import PairedTest, significance_payload
from xling.experiments.runs import RunResult, finished_runs
from xling.experiments.summary_files import write_summary

__all__ = [
    "BASELINE_LABEL",
    "COPY_RATE",
    "TESTED_METRICS",
    "SummaryCell",
    "Comparison",
    "Summary",
    "summarize",
    "write_summary",
    "plot_summary",
]

BASELINE_LABEL = "random"
"""The label every other label is tested against."""
COPY_RATE = "copy_rate"
"""The summary's name for the share of translations that copy their source (not a metric of
the runs' ``scores.json``, which keeps ``copies`` apart from the metrics)."""
TESTED_METRICS = ("chrf", "bleu")
"""Metrics the significance test recomputes from the outputs (corpus statistics)."""
CSV_COLUMNS = ("direction", "label", "template", "k", "metric", "mean", "std", "seeds")


@dataclass(frozen=True)
class SummaryCell:
    """One cell of a summary table: a label at one k, over its seeds.

    Attributes:
        direction: ``src-tgt``.
        label: The run label (strategy).
        template: The prompt template.
        k: Examples per prompt.
        metric: Metric name.
        mean: Mean over seeds.
        std: Population standard deviation over seeds (0 with one seed).
        seeds: The seeds averaged.
    """

    direction: str
    label: str
    template: str
    k: int
    metric: str
    mean: float
    std: float
    seeds: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        return out


@dataclass(frozen=True)
class Comparison(PairedTest):
    """A paired bootstrap test of one run against the random run at the same k (the figures
    of :class:`~xling.experiments.paired_test.PairedTest`, ``baseline`` being random's).

    Attributes:
        direction: ``src-tgt``.
        label: The label tested.
        template: The prompt template.
        k: Examples per prompt.
        seed: The tested run's seed.
        baseline_seed: The random run's seed it was paired with.
    """

    direction: str
    label: str
    template: str
    k: int
    seed: int
    baseline_seed: int


@dataclass(frozen=True)
class Summary:
    """The summary of an output folder.

    Attributes:
        folder: The output folder.
        cells: Table cells, sorted by direction, metric, label, k.
        comparisons: Tests against random, sorted by direction, label, k, seed, metric.
        runs: Finished runs read.
        files: Files written (empty until :func:`write_summary`).
        notes: What was left out, and why.
    """

    folder: Path
    cells: tuple[SummaryCell, ...]
    comparisons: tuple[Comparison, ...]
    runs: int
    files: tuple[Path, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "folder": str(self.folder),
            "runs": self.runs,
            "cells": [c.to_dict() for c in self.cells],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "files": [str(p) for p in self.files],
            "notes": list(self.notes),
        }

    def csv_text(self) -> str:
        """The cells as CSV (:data:`CSV_COLUMNS`)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for c in self.cells:
            writer.writerow(
                [
                    c.direction,
                    c.label,
                    c.template,
                    c.k,
                    c.metric,
                    repr(c.mean),
                    repr(c.std),
                    " ".join(map(str, c.seeds)),
                ]
            )
        return buffer.getvalue()

    def significance(self) -> dict[str, Any]:
        """``significance.json``: the tests against random, what their figures mean, notes."""
        return significance_payload(BASELINE_LABEL, "label", self.comparisons, self.notes)

    def plot(self, path: Path) -> Path:
        """``summary.png`` (:func:`plot_summary`)."""
        return plot_summary(self, path)

    def markdown(self) -> str:
        """Tables per direction and metric (label × k), then the tests against random."""
        lines = [f"# Summary of {self.folder.name}", "", f"{self.runs} finished runs.", ""]
        directions = list(dict.fromkeys(c.direction for c in self.cells))
        for direction in directions:
            mine = [c for c in self.cells if c.direction == direction]
            for metric in dict.fromkeys(c.metric for c in mine):
                cells = [c for c in mine if c.metric == metric]
                ks = sorted({c.k for c in cells})
                rows = list(dict.fromkeys(_row_name(c.label, c.template, cells) for c in cells))
                lines += [f"## {direction} — {metric}", ""]
                lines.append("| label | " + " | ".join(f"k={k}" for k in ks) + " |")
                lines.append("|---|" + "---:|" * len(ks))
                for row in rows:
                    values = []
                    for k in ks:
                        hit = [
                            c
                            for c in cells
                            if c.k == k and _row_name(c.label, c.template, cells) == row
                        ]
                        values.append(_cell_text(hit[0]) if hit else "")
                    lines.append(f"| {row} | " + " | ".join(values) + " |")
                lines.append("")
        if self.comparisons:
            first = self.comparisons[0]
            lines += [
                f"## Against {BASELINE_LABEL} (paired bootstrap, {first.n_samples} resamples × "
                f"{first.sample_size} sentences)",
                "",
                "p: share of resamples where the label does not beat random (one-sided); "
                "interval: 95 % of the difference label − random.",
                "",
                "| direction | label | k | seed | metric | score | random | Δ | 95 % CI | p |",
                "|---|---|---:|---:|---|---:|---:|---:|---|---:|",
            ]
            for c in self.comparisons:
                lines.append(
                    f"| {c.direction} | {c.label} | {c.k} | {c.seed} (vs {c.baseline_seed}) | "
                    f"{c.metric} | {c.system:.2f} | {c.baseline:.2f} | {c.delta:+.2f} | "
                    f"[{c.ci95[0]:+.2f}, {c.ci95[1]:+.2f}] | {c.p_value:.3f} |"
                )
            lines.append("")
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)


def _row_name(label: str, template: str, cells: Sequence[SummaryCell]) -> str:
    # The template joins the row name only when a table mixes templates.
    return label if len({c.template for c in cells}) == 1 else f"{label} [{template}]"


def _cell_text(cell: SummaryCell) -> str:
    if cell.metric == COPY_RATE:
        if len(cell.seeds) > 1:
            return f"{100 * cell.mean:.1f} % ± {100 * cell.std:.1f}"
        return f"{100 * cell.mean:.1f} %"
    digits = 4 if cell.metric in ("comet", "lacomet") else 2
    if len(cell.seeds) > 1:
        return f"{cell.mean:.{digits}f} ± {cell.std:.{digits}f}"
    return f"{cell.mean:.{digits}f}"


def _cells(runs: Sequence[RunResult]) -> list[SummaryCell]:
    groups: dict[tuple[str, str, str, int, str], dict[int, float]] = {}
    for run in runs:
        s = run.spec
        scores = {**run.scores.metrics, COPY_RATE: _copy_rate(run)}
        for metric, value in scores.items():
            groups.setdefault((s.direction, s.label, s.template, s.k, metric), {})[s.seed] = value
    cells = []
    for (direction, label, template, k, metric), by_seed in groups.items():
        seeds = tuple(sorted(by_seed))
        values = np.array([by_seed[x] for x in seeds], dtype=np.float64)
        cells.append(
            SummaryCell(
                direction,
                label,
                template,
                k,
                metric,
                float(values.mean()),
                float(values.std()),
                seeds,
            )
        )
    metric_order = {m: i for i, m in enumerate(("chrf", COPY_RATE, "bleu", "comet", "lacomet"))}
    cells.sort(
        key=lambda c: (
            c.direction,
            metric_order.get(c.metric, 99),
            c.metric,
            c.label != "0-shot",
            c.label,
            c.k,
        )
    )
    return cells


def _copy_rate(run: RunResult) -> float:
    """The run's copy rate; counted from its rows when its scores predate copy counting."""
    rate = run.scores.copy_rate
    if rate is not None:
        return rate
    rows = run.outputs()
    return sum(bool(r.copied) for r in rows) / len(rows) if rows else 0.0


def _tokenize_of(run: RunResult) -> str:
    """The BLEU tokenizer a run's score used, from its signature (``13a`` when unknown)."""
    for part in run.scores.signatures.get("bleu", "").split("|"):
        if part.startswith("tok:"):
            return part[len("tok:") :]
    return "13a"


def _compare(
    runs: Sequence[RunResult],
    n_samples: int,
    sample_size: int,
    seed: int,
    notes: list[str],
    on_progress: ProgressCallback | None,
) -> list[Comparison]:
    baselines: dict[tuple[str, str, int], dict[int, RunResult]] = {}
    for run in runs:
        if run.spec.label == BASELINE_LABEL:
            key = (run.spec.direction, run.spec.template, run.spec.k)
            baselines.setdefault(key, {})[run.spec.seed] = run
    pairs: list[tuple[RunResult, RunResult]] = []
    for run in runs:
        s = run.spec
        if s.label == BASELINE_LABEL or s.zero_shot:
            continue
        pool = baselines.get((s.direction, s.template, s.k))
        if not pool:
            notes.append(f"{s.key}: no {BASELINE_LABEL} run at k={s.k} to test against")
            continue
        pairs.append((run, pool.get(s.seed) or pool[min(pool)]))
    out: list[Comparison] = []
    outputs: dict[Path, tuple[list[str], list[str]]] = {}

    def texts(run: RunResult) -> tuple[list[str], list[str]]:
        if run.folder not in outputs:
            rows = run.outputs()
            outputs[run.folder] = ([r.translation for r in rows], [r.reference for r in rows])
        return outputs[run.folder]

    for done, (run, base) in enumerate(pairs, 1):
        hyps, refs = texts(run)
        base_hyps, base_refs = texts(base)
        if refs != base_refs:
            notes.append(f"{run.spec.key}: its references differ from {base.spec.key}'s; untested")
        else:
            for metric in TESTED_METRICS:
                if metric not in run.scores.metrics or metric not in base.scores.metrics:
                    continue
                opts: dict[str, Any] = {}
                if metric == "bleu":
                    opts["tokenize"] = _tokenize_of(run)
                try:
                    a = corpus_stats(metric, base_hyps, refs, **opts)
                    b = corpus_stats(metric, hyps, refs, **opts)
                except InvalidInputError as exc:
                    notes.append(f"{run.spec.key}: {metric} untested ({exc})")
                    continue
                test = paired_bootstrap(
                    a, b, n_samples=n_samples, sample_size=sample_size, seed=seed
                )
                s = run.spec
                out.append(
                    Comparison(
                        s.direction,
                        s.label,
                        s.template,
                        s.k,
                        s.seed,
                        base.spec.seed,
                        **PairedTest.figures(metric, test),
                    )  # fmt: skip
                )
        if on_progress is not None:
            on_progress(done, len(pairs))
    out.sort(key=lambda c: (c.direction, c.label, c.k, c.seed, TESTED_METRICS.index(c.metric)))
    return out


def summarize(
    folder: str | os.PathLike[str],
    *,
    n_samples: int = BOOTSTRAP_SAMPLES,
    sample_size: int = BOOTSTRAP_SAMPLE_SIZE,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> Summary:
    """Tables and tests against random of the finished runs in ``folder`` (writes nothing).

    Args:
        folder: An experiment output folder (holding ``runs/``).
        n_samples: Bootstrap resamples (ICL-MT: 300).
        sample_size: Sentences per resample (ICL-MT: 500), capped at the test set's size.
        seed: Seed of the resampling, so the tests are repeatable.
        on_progress: Called as ``on_progress(done, total)`` after each tested run.

    Returns:
        The table cells and the comparisons.

    Raises:
        InvalidInputError: If the folder does not exist or holds no finished run.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"{str(root)!r} is not a folder")
    runs = list(finished_runs(root))
    if not runs:
        raise InvalidInputError(f"{root} holds no finished run (runs/<key>/run.json)")
    notes: list[str] = []
    comparisons = _compare(runs, n_samples, sample_size, seed, notes, on_progress)
    if any(m in r.scores.metrics for r in runs for m in ("comet", "lacomet")):
        notes.append("COMET and laCOMET are not bootstrap-tested: runs keep no segment scores")
    return Summary(root, tuple(_cells(runs)), tuple(comparisons), len(runs), (), tuple(notes))


def plot_summary(summary: Summary, path: Path, metric: str | None = None) -> Path:
    """Plots score against k, one line per label and one panel per direction (PNG).

    Args:
        summary: The summary.
        path: Where to write the PNG.
        metric: The metric plotted (default ``chrf``, else the first one present).

    Raises:
        MissingDependencyError: Without matplotlib (``pip install 'xling[plot]'``).
        InvalidInputError: If the summary has no cell of that metric.
    """
    present = list(dict.fromkeys(c.metric for c in summary.cells))
    chosen = metric or ("chrf" if "chrf" in present else (present[0] if present else ""))
    cells = [c for c in summary.cells if c.metric == chosen]
    if not cells:
        raise InvalidInputError(f"no {chosen or 'metric'} scores to plot")
    plt = pyplot("summary plots")
    directions = list(dict.fromkeys(c.direction for c in cells))
    fig, axes = plt.subplots(
        1, len(directions), figsize=(4.5 * len(directions), 3.8), squeeze=False
    )
    for ax, direction in zip(axes[0], directions, strict=True):
        mine = [c for c in cells if c.direction == direction]
        for row in dict.fromkeys(_row_name(c.label, c.template, mine) for c in mine):
            line = sorted(
                (c for c in mine if _row_name(c.label, c.template, mine) == row), key=lambda c: c.k
            )
            if all(c.k == 0 for c in line):
                ax.axhline(line[0].mean, linestyle="--", linewidth=1.0, color="grey", label=row)
                continue
            ks = [c.k for c in line]
            ax.errorbar(
                ks,
                [c.mean for c in line],
                yerr=[c.std for c in line],
                marker="^",
                markersize=4,
                linewidth=1.0,
                capsize=2,
                label=row,
            )
        ax.set_title(direction)
        ax.set_xlabel("in-context examples (k)")
        ax.set_ylabel(chosen)
        ax.grid(color="grey", linestyle="--", linewidth=0.5)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
