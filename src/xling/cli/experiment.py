"""``xling experiment run|score|summary``: ICL-MT grids, re-scoring their outputs, summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from xling.cli.app import command_group, console, err_console, fail, warn
from xling.cli.options import (
    BleuTokenizeOpt,
    BootstrapSampleSizeOpt,
    BootstrapSamplesOpt,
    BootstrapSeedOpt,
    EmbeddedModelOpt,
    JsonOpt,
    SpmModelOpt,
    SummaryPlotOpt,
    with_embedded,
)
from xling.cli.progress import progress_bar, progress_bars
from xling.core.progress import ProgressCallback
from xling.eval.bootstrap import BOOTSTRAP_SAMPLE_SIZE, BOOTSTRAP_SAMPLES

if TYPE_CHECKING:
    from xling.experiments.summary import Summary

__all__ = ["experiment_app", "run", "score", "summary"]

experiment_app = command_group(
    "experiment",
    "ICL-MT experiment grids: run them, re-score outputs (xling or ICL-MT layout), summarise.",
)
LAYOUT_CHOICES = ("xling", "iclmt")


def _folder(directory: Path) -> Path:
    if not directory.is_dir():
        raise fail(f"{directory}: no such folder")
    return directory


@experiment_app.command()
def score(
    directory: Annotated[
        Path, typer.Argument(help="An experiment output folder, or an ICL-MT model folder.")
    ],
    layout: Annotated[
        str, typer.Option(help="Layout of DIRECTORY: xling (runs/<key>/) or iclmt.")
    ] = "xling",
    references: Annotated[
        Path | None,
        typer.Option(help="ICL-MT layout: a folder of <lang>/<split>.txt (FLORES-200 style)."),
    ] = None,
    split: Annotated[str, typer.Option(help="Reference file name without .txt.")] = "devtest",
    comet: Annotated[
        Path | None, typer.Option(help="COMET checkpoint: adds COMET and laCOMET.")
    ] = None,
    tokenize: BleuTokenizeOpt = "13a",
    spm_model: SpmModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-scores existing outputs and writes the score files into DIRECTORY."""
    if layout not in LAYOUT_CHOICES:
        raise fail(f"unknown layout {layout!r}; allowed: {', '.join(LAYOUT_CHOICES)}")
    from xling.experiments.rescore import score_directory

    folder = _folder(directory)
    with progress_bar(f"scoring {folder.name}") as on_progress:
        report = score_directory(
            folder,
            layout,
            references=references,
            split=split,
            comet=comet,
            tokenize=tokenize,
            spm_model=spm_model,
            on_progress=on_progress,
        )
    if layout == "iclmt" and tokenize != "flores200" and report.scored:
        warn(
            f"BLEU entries written with tok:{tokenize}; ICL-MT's published BLEU used flores200, "
            "so they are not comparable with the entries left as they were"
        )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    names = list(dict.fromkeys(m for f in report.scored for m in f.metrics))
    table = Table(title=f"re-scored {folder}")
    table.add_column("run")
    table.add_column("n", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("copies", justify="right")
    for scored in report.scored:
        table.add_row(
            escape(scored.path.name),
            str(scored.n),
            *(f"{scored.metrics[m]:.2f}" if m in scored.metrics else "" for m in names),
            "" if scored.copies is None else str(scored.copies),
        )
    console.print(table)
    for skipped in report.skipped:
        warn(f"skipped {skipped.path.name}: {skipped.reason}")
    for name, signature in report.signatures.items():
        console.print(f"{name}: {signature}", markup=False, highlight=False)
    console.print(f"{len(report.written)} score files written", markup=False)


@experiment_app.command()
def summary(
    directory: Annotated[Path, typer.Argument(help="An experiment output folder (runs/<key>/).")],
    samples: BootstrapSamplesOpt = BOOTSTRAP_SAMPLES,
    sample_size: BootstrapSampleSizeOpt = BOOTSTRAP_SAMPLE_SIZE,
    seed: BootstrapSeedOpt = 0,
    plot: SummaryPlotOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Writes summary.md, summary.csv, summary.png and significance.json into DIRECTORY."""
    result = _summarise(_folder(directory), samples, sample_size, seed, plot=plot, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))


def _summarise(
    folder: Path, samples: int, sample_size: int, seed: int, *, plot: bool, as_json: bool
) -> Summary:
    """Writes the summary files; prints the table (or nothing with ``as_json``)."""
    from xling.experiments.summary import summarize, write_summary

    with progress_bar(f"testing {folder.name} against random") as on_progress:
        result = summarize(
            folder, n_samples=samples, sample_size=sample_size, seed=seed, on_progress=on_progress
        )
    result = write_summary(result, plot=plot)
    if not as_json:
        console.print(result.markdown(), markup=False, highlight=False)
        for path in result.files:
            console.print(f"written: {path}", markup=False, highlight=False)
    return result


@experiment_app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The experiment's TOML config.")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder [default: runs/<config name>].")
    ] = None,
    layout: Annotated[
        str, typer.Option(help="xling, or iclmt to also write ICL-MT's layout under <out>/iclmt.")
    ] = "xling",
    llm_url: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible /v1 URL [default: the config's, or the embedded one]."
        ),
    ] = None,
    model: EmbeddedModelOpt = None,
    summary: Annotated[bool, typer.Option(help="Summarise the finished runs at the end.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Runs (or resumes) an ICL-MT grid: select, prompt, generate, score; then summarises."""
    from xling.experiments.config import load_config
    from xling.experiments.runner import run_experiment
    from xling.experiments.runs import RunSpec

    if layout not in LAYOUT_CHOICES:
        raise fail(f"unknown layout {layout!r}; allowed: {', '.join(LAYOUT_CHOICES)}")
    settings = with_embedded(load_config(config), model)  # every problem at once: exit 2
    with progress_bars() as add_bar:

        def on_run(spec: RunSpec, number: int, total: int) -> ProgressCallback:
            return add_bar(
                f"[{number}/{total}] {spec.direction} {spec.label} k={spec.k} seed={spec.seed}"
            )

        def on_status(text: str) -> None:
            err_console.print(text, markup=False, highlight=False)

        report = run_experiment(
            settings, out, llm_url=llm_url, layout=layout,  # type: ignore[arg-type]
            on_run=on_run, on_status=on_status,
        )  # fmt: skip
    if not as_json:
        ran = sum(r.status != "skipped" for r in report.runs)
        err_console.print(
            f"{len(report.runs)} runs in {report.out} ({ran} run now, "
            f"{len(report.runs) - ran} finished before; LLM {report.llm})",
            markup=False, highlight=False,
        )  # fmt: skip
    payload = report.to_dict()
    if summary:
        result = _summarise(
            report.out, BOOTSTRAP_SAMPLES, BOOTSTRAP_SAMPLE_SIZE, 0, plot=True, as_json=as_json
        )
        payload["summary"] = result.to_dict()
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
