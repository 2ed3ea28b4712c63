"""The summary of a RAG study: tables per row and language, a plot, and tests against a baseline.

From the finished cells of a study folder (``study.json`` lists its rows in grid order):

- cells: every row × language (``all`` first) × metric of the rows' ``scores.json``
  (:mod:`xling.experiments.rag_rows`): ``summary.md`` holds an overall table (row × metric)
  and, per headline metric, a row × language table; ``summary.csv`` one line per row,
  language and metric;
- ``summary.png``: the headline metric (answer char-3-gram recall, or Recall@5 in a
  retrieval-only study) per row, one bar per language;
- ``significance.json``: each row against the baseline row by a paired bootstrap
  (:func:`xling.eval.paired_bootstrap`) over the questions both answered, on Recall@k, the
  answer metrics and the share of final answers in the asker's language.

Written with :func:`xling.experiments.summary_files.write_summary`, like an ICL-MT summary.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.eval.bootstrap import (
    BOOTSTRAP_SAMPLE_SIZE,
    BOOTSTRAP_SAMPLES,
    paired_bootstrap,
    segment_stats,
)
from xling.eval.plots import bar_plot
from xling.experiments.paired_test import PairedTest, significance_payload
from xling.experiments.rag_rows import ALL, ANSWER_METRICS, RagRow
from xling.experiments.run_folder import finished_hash
from xling.experiments.runs import OUTPUTS_FILE, RUNS_DIR, SCORES_FILE

__all__ = [
    "STUDY_FILE",
    "RagScore",
    "RagComparison",
    "RagSummary",
    "summarize_rag",
]

STUDY_FILE = "study.json"
"""The study's settings and its rows (labels and folder keys), in grid order."""
CSV_COLUMNS = ("row", "lang", "metric", "value", "n")
_OVERALL = ("R@1", "R@5", "R@10", *ANSWER_METRICS, "lang_ok_first", "lang_ok_final", "unsure_final",
            "seconds", "prompt_tokens", "completion_tokens", "calls")  # fmt: skip
_SHARES = ("lang_ok_first", "lang_ok_final")
_COUNTS = ("prompt_tokens", "completion_tokens")


def _tested(metric: str) -> bool:
    return metric.startswith("R@") or metric in ANSWER_METRICS or metric == "lang_ok_final"


@dataclass(frozen=True)
class RagScore:
    """One cell of a summary table: a row's metric over one language's questions.

    Attributes:
        row: The row's label (``dense/all/user``).
        lang: The asker's language, or ``all``.
        metric: The metric (``R@5``, ``char3_recall``, ``lang_ok_final``, ``seconds``, ...).
        value: Its value (shares in %).
        n: The language's questions.
    """

    row: str
    lang: str
    metric: str
    value: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class RagComparison(PairedTest):
    """A paired bootstrap test of one row against the baseline row over all languages (the
    figures of :class:`~xling.experiments.paired_test.PairedTest`, in %, on the questions
    both rows have a value for).

    Attributes:
        row: The row tested.
        baseline_row: The baseline row.
        questions: Questions paired.
    """

    row: str
    baseline_row: str
    questions: int


@dataclass(frozen=True)
class RagSummary:
    """The summary of a RAG study folder.

    Attributes:
        folder: The study folder.
        rows: Row labels of the finished cells, in grid order.
        baseline: The row the others are tested against.
        scores: Table cells, by row (grid order), language (``all`` first), metric.
        comparisons: Tests against the baseline, by row and metric.
        files: Files written (empty until ``write_summary``).
        notes: What was left out, and why.
    """

    folder: Path
    rows: tuple[str, ...]
    baseline: str
    scores: tuple[RagScore, ...]
    comparisons: tuple[RagComparison, ...]
    files: tuple[Path, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def value(self, row: str, metric: str, lang: str = ALL) -> float | None:
        """One table value, ``None`` when the row has none."""
        for s in self.scores:
            if (s.row, s.lang, s.metric) == (row, lang, metric):
                return s.value
        return None

    @property
    def metrics(self) -> list[str]:
        """The metrics present, in table order."""
        present = list(dict.fromkeys(s.metric for s in self.scores))
        order = {m: i for i, m in enumerate(_OVERALL)}
        return sorted(present, key=lambda m: (order.get(m, 3.5 if m.startswith("R@") else 99), m))

    @property
    def headline(self) -> str:
        """The metric plotted: ``char3_recall`` when answers were scored, else R@5 (or the
        first Recall@k)."""
        metrics = self.metrics
        if "char3_recall" in metrics:
            return "char3_recall"
        recalls = [m for m in metrics if m.startswith("R@")]
        return "R@5" if "R@5" in recalls else (recalls[0] if recalls else metrics[-1])

    def langs(self) -> list[str]:
        """``all``, then the question languages."""
        return list(dict.fromkeys(s.lang for s in self.scores))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"folder": str(self.folder), "rows": list(self.rows), "baseline": self.baseline,
                "scores": [s.to_dict() for s in self.scores],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "files": [str(p) for p in self.files], "notes": list(self.notes)}  # fmt: skip

    def csv_text(self) -> str:
        """The cells as CSV (``row, lang, metric, value, n``)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for s in self.scores:
            writer.writerow([s.row, s.lang, s.metric, repr(s.value), s.n])
        return buffer.getvalue()

    def significance(self) -> dict[str, Any]:
        """``significance.json``: the tests against the baseline, what they mean, notes."""
        return significance_payload(self.baseline, "row", self.comparisons, self.notes)

    def plot(self, path: Path) -> Path:
        """``summary.png``: the headline metric per row, one bar per language."""
        metric = self.headline
        groups = {row: {lang: v for lang in self.langs()
                        if (v := self.value(row, metric, lang)) is not None}
                  for row in self.rows}  # fmt: skip
        return bar_plot(path, groups, f"{metric} (%)", f"{self.folder.name}: {metric}")

    def markdown(self) -> str:
        """The overall table, a row × language table per headline metric, the tests."""
        metrics = self.metrics
        lines = [f"# RAG study {self.folder.name}", "",
                 f"{len(self.rows)} rows; baseline {self.baseline}.", "",
                 "## All questions", "", "| row | n | " + " | ".join(metrics) + " |",
                 "|---|---:|" + "---:|" * len(metrics)]  # fmt: skip
        for row in self.rows:
            n = next((s.n for s in self.scores if (s.row, s.lang) == (row, ALL)), 0)
            values = [_text(self.value(row, m), m) for m in metrics]
            lines.append(f"| {row} | {n} | " + " | ".join(values) + " |")
        langs = [x for x in self.langs() if x != ALL]
        for metric in dict.fromkeys(m for m in (self.headline, *_SHARES) if m in metrics):
            lines += ["", f"## {metric} per language", "",
                      "| row | all | " + " | ".join(langs) + " |",
                      "|---|---:|" + "---:|" * len(langs)]  # fmt: skip
            for row in self.rows:
                values = [_text(self.value(row, metric, lang), metric) for lang in (ALL, *langs)]
                lines.append(f"| {row} | " + " | ".join(values) + " |")
        if self.comparisons:
            first = self.comparisons[0]
            lines += ["", f"## Against {self.baseline} (paired bootstrap, {first.n_samples} "
                      f"resamples × {first.sample_size} questions)", "",
                      "p: share of resamples where the row does not beat the baseline "
                      "(one-sided); interval: 95 % of the difference row − baseline.", "",
                      "| row | metric | score | baseline | Δ | 95 % CI | p |",
                      "|---|---|---:|---:|---:|---|---:|"]  # fmt: skip
            for c in self.comparisons:
                lines.append(
                    f"| {c.row} | {c.metric} | {c.system:.1f} | {c.baseline:.1f} | "
                    f"{c.delta:+.1f} | [{c.ci95[0]:+.1f}, {c.ci95[1]:+.1f}] | {c.p_value:.3f} |"
                )
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _text(value: float | None, metric: str) -> str:
    if value is None:
        return ""
    if metric == "seconds":
        return f"{value:.2f}"
    return f"{value:.0f}" if metric in _COUNTS else f"{value:.1f}"


def _read_rows(folder: Path) -> list[RagRow]:
    try:
        lines = (folder / OUTPUTS_FILE).read_text(encoding="utf-8").splitlines()
        return [RagRow.from_dict(json.loads(line)) for line in lines if line.strip()]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInputError(f"{folder}: not a finished RAG study cell ({exc})") from exc


def _compare(
    rows: dict[str, list[RagRow]],
    baseline: str,
    n_samples: int,
    sample_size: int,
    seed: int,
    on_progress: ProgressCallback | None,
) -> list[RagComparison]:
    base = {r.qid: r for r in rows[baseline]}
    others = [label for label in rows if label != baseline]
    out: list[RagComparison] = []
    for done, label in enumerate(others, 1):
        metrics = [m for m in _tested_metrics(rows[label]) if m in _tested_metrics(rows[baseline])]
        for metric in metrics:
            pairs = [(b, r) for r in rows[label] if (b := base.get(r.qid)) is not None
                     and b.value(metric) is not None and r.value(metric) is not None]  # fmt: skip
            if not pairs:
                continue
            a = segment_stats(metric, [100.0 * float(b.value(metric) or 0.0) for b, _ in pairs])
            b_ = segment_stats(metric, [100.0 * float(r.value(metric) or 0.0) for _, r in pairs])
            test = paired_bootstrap(a, b_, n_samples=n_samples, sample_size=sample_size, seed=seed)
            out.append(
                RagComparison(label, baseline, len(pairs), **PairedTest.figures(metric, test))
            )
        if on_progress is not None:
            on_progress(done, len(others))
    return out


def _tested_metrics(rows: Sequence[RagRow]) -> list[str]:
    names = dict.fromkeys(k for r in rows for k in r.recall)
    names.update(dict.fromkeys(k for r in rows for k in r.scores))
    if any(r.lang_ok_final is not None for r in rows):
        names["lang_ok_final"] = None
    return [m for m in names if _tested(m)]


def summarize_rag(
    folder: str | os.PathLike[str],
    *,
    baseline: str | None = None,
    n_samples: int = BOOTSTRAP_SAMPLES,
    sample_size: int = BOOTSTRAP_SAMPLE_SIZE,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> RagSummary:
    """Tables and tests against the baseline of a RAG study folder's finished cells (writes
    nothing; :func:`~xling.experiments.summary_files.write_summary` writes the files).

    Args:
        folder: A study folder (``study.json`` and ``runs/``).
        baseline: The row tested against (default: the study's, else the first row).
        n_samples: Bootstrap resamples.
        sample_size: Questions per resample, capped at the questions paired.
        seed: Seed of the resampling, so the tests are repeatable.
        on_progress: Called as ``on_progress(done, total)`` after each row tested.

    Raises:
        InvalidInputError: If the folder is not a study, holds no finished cell, or the
            baseline is not one of its finished rows (the message lists them).
    """
    root = Path(folder)
    try:
        study = json.loads((root / STUDY_FILE).read_text(encoding="utf-8"))
        listed = [(str(c["label"]), str(c["key"])) for c in study["cells"]]
    except (OSError, ValueError, TypeError, KeyError):
        raise InvalidInputError(
            f"{root} is not a RAG study folder (no readable {STUDY_FILE})"
        ) from None
    notes: list[str] = []
    rows: dict[str, list[RagRow]] = {}
    scores: list[RagScore] = []
    for label, key in listed:
        cell = root / RUNS_DIR / key
        if finished_hash(cell) is None:
            notes.append(f"{label}: not finished, left out")
            continue
        rows[label] = _read_rows(cell)
        table = json.loads((cell / SCORES_FILE).read_text(encoding="utf-8"))
        for lang, values in table.items():
            n = int(values.get("n", 0))
            scores.extend(
                RagScore(label, lang, m, float(v), n) for m, v in values.items() if m != "n"
            )
    if not rows:
        raise InvalidInputError(f"{root} holds no finished cell ({RUNS_DIR}/<row>/run.json)")
    chosen = baseline or study.get("baseline") or next(iter(rows))
    if chosen not in rows:
        raise InvalidInputError(
            f"baseline {chosen!r} is not a finished row; rows: {', '.join(rows)}"
        )
    comparisons = _compare(rows, chosen, n_samples, sample_size, seed, on_progress)
    return RagSummary(root, tuple(rows), chosen, tuple(scores), tuple(comparisons), (),
                      tuple(notes))  # fmt: skip
