"""``xling rerank``: rerank JSONL requests with an LLM reranker over a vLLM server.

Exit codes as for every command (:mod:`xling.cli.app`), plus: when the server fails and
``--on-failure fallback`` (the default) keeps the first-stage order, a summary line says how many
queries fell back and why; the exit code is 4 when every query fell back, 0 when only some did.
Results are written only once all of them are complete, to a temporary file renamed onto
``--output``, so a failed run never leaves a half-written file.

The weak-judge guard is off here (this is the research tool: results are the reranker's own
order unless ``--guard W`` is given); the answer pipeline and ``xling serve`` turn it on.
``--evaluate QRELS`` reranks with the guard off and then reports, on the judged queries, the
first stage, the reranker and the guard at each weight, with a recommended weight
(:mod:`xling.rerankers.guard_report`); ``--report PATH`` also writes it as JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from xling.cli.app import app, err_console, fail, warn
from xling.cli.options import (
    EMBEDDED_HINT,
    LLMConcurrencyOpt,
    LLMDeadlineOpt,
    LLMModelOpt,
    LLMRetriesOpt,
    LLMTimeoutOpt,
    LLMUrlOpt,
)
from xling.cli.output import check_output, write_atomically
from xling.cli.progress import progress_bar
from xling.core.errors import EXIT_ALL_FELL_BACK, InvalidInputError, ServiceUnavailableError
from xling.eval.ir_metrics import Qrels, read_qrels
from xling.llm import EmbeddedLLMConfig, LLMClient
from xling.llm.client import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from xling.rerankers import RerankResult, get_reranker, reranker_forms
from xling.rerankers.guard import parse_guard_setting, resolve_guard
from xling.rerankers.guard_report import GuardReport, guard_report
from xling.rerankers.records import read_requests

__all__ = ["rerank", "parse_settings", "summary", "fallback_summary", "report_table"]


def parse_settings(settings: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (``20``, ``true``)."""
    options: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--set {item!r} is not allowed; use KEY=VALUE")
        try:
            options[key] = json.loads(raw)
        except (ValueError, RecursionError):
            options[key] = raw
    return options


def _check_client_options(
    concurrency: int, timeout: float, retries: int, deadline: float | None
) -> None:
    """One-line errors naming the CLI's own flags (the client checks the same for the API)."""
    if concurrency < 1:
        raise InvalidInputError(f"--concurrency {concurrency} is not allowed; use 1 or more")
    if not math.isfinite(timeout) or timeout <= 0:
        raise InvalidInputError(f"--timeout {timeout:g} is not allowed; use seconds > 0")
    if retries < 0:
        raise InvalidInputError(f"--retries {retries} is not allowed; use 0 or more")
    if deadline is not None and (not math.isfinite(deadline) or deadline <= 0):
        raise InvalidInputError(f"--deadline {deadline:g} is not allowed; use seconds > 0")


@app.command()
def rerank(
    input: Annotated[Path, typer.Argument(help="JSONL requests, or - for stdin.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL results (default: stdout).")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", "-m", help=f"A reranker spec: {', '.join(reranker_forms())}.")
    ] = "listwise",
    url: LLMUrlOpt = None,
    model: LLMModelOpt = None,
    template: Annotated[str | None, typer.Option(help="Prompt template name.")] = None,
    window: Annotated[int | None, typer.Option(help="Listwise window size.")] = None,
    stride: Annotated[int | None, typer.Option(help="Listwise stride.")] = None,
    top_k: Annotated[int | None, typer.Option(help="PRP/setwise top-k, or sliding passes.")] = None,
    rank_end: Annotated[int | None, typer.Option(help="Rerank only the first N.")] = None,
    on_failure: Annotated[
        str, typer.Option(help="When the server fails: fallback (first-stage order) or raise.")
    ] = "fallback",
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other reranker option, KEY=VALUE (repeatable)."),
    ] = None,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Keep every model call (where, prompt, raw answer, reasoning, tokens, finish "
            'reason, first-step logprobs) in each output line\'s "trace".',
        ),
    ] = False,
    concurrency: LLMConcurrencyOpt = DEFAULT_CONCURRENCY,
    timeout: LLMTimeoutOpt = DEFAULT_TIMEOUT,
    retries: LLMRetriesOpt = DEFAULT_RETRIES,
    deadline: LLMDeadlineOpt = None,
    guard: Annotated[
        str | None,
        typer.Option(
            help="The weak-judge guard: the reranker's weight in (0, 1] in a fusion with the "
            "first-stage order, fitted (the reranker's own fitted weight) or off. Off by "
            "default here: the reranker's own order."
        ),
    ] = None,
    evaluate: Annotated[
        Path | None,
        typer.Option(
            help="Qrels (TREC or JSONL): report on stderr whether the reranker helps against "
            "the first stage, and the guard weight to use."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="With --evaluate: also write the report as JSON here.")
    ] = None,
) -> None:
    """Reranks each query's candidates; writes one JSON result per input line, in order."""
    _check_client_options(concurrency, timeout, retries, deadline)
    qrels = _evaluation_inputs(evaluate, report, guard)
    options = parse_settings(setting or [])
    if guard is not None:
        options["guard"] = resolve_guard(parse_guard_setting(guard, "--guard"), method)
    given = {"template": template, "window": window, "stride": stride, "top_k": top_k}
    options.update({key: value for key, value in given.items() if value is not None})
    if rank_end is not None:
        options["rank_end"] = rank_end
    options["on_failure"] = on_failure
    if trace:
        options["trace"] = True
    client = LLMClient(
        url or EmbeddedLLMConfig().url,
        model,
        max_concurrency=concurrency,
        timeout=timeout,
        max_retries=retries,
        deadline=deadline,
    )
    reranker = get_reranker(method, client, **options)
    if output is not None:
        check_output(output)
    if str(input) == "-":
        requests = read_requests(sys.stdin.buffer, "stdin")
    else:
        if not input.is_file():
            raise fail(f"input {input} is not a file")
        with input.open("rb") as lines:
            requests = read_requests(lines, str(input))
    started = time.perf_counter()
    try:
        with progress_bar(f"reranking ({method})") as update:
            results = reranker.rerank_many(requests, on_progress=update)
    except ServiceUnavailableError as exc:
        if url is None:
            raise ServiceUnavailableError(f"{exc}; {EMBEDDED_HINT}") from None
        raise
    elapsed = time.perf_counter() - started
    lines_out = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results)
    if output is None:
        sys.stdout.write(lines_out)
        sys.stdout.flush()
    else:
        write_atomically(output, lines_out)
    err_console.print(summary(results, method, elapsed))
    if qrels is not None:
        evaluation = guard_report(results, qrels)
        err_console.print(report_table(evaluation))
        if evaluation.unjudged:
            warn(
                f"{len(evaluation.unjudged)} queries have no judgements and were left out: "
                + ", ".join(evaluation.unjudged[:10])
                + (" ..." if len(evaluation.unjudged) > 10 else "")
            )
        err_console.print(evaluation.reason(), highlight=False)
        if report is not None:
            write_atomically(report, json.dumps(evaluation.to_dict(), indent=1) + "\n")
    line = fallback_summary(results)
    if line is not None:
        fell_back = sum(r.fallback for r in results)
        if url is None:
            line += f" ({EMBEDDED_HINT})"
        warn(line)
        if fell_back == len(results):
            raise typer.Exit(EXIT_ALL_FELL_BACK)


def _evaluation_inputs(
    evaluate: Path | None, report: Path | None, guard: str | None
) -> Qrels | None:
    """The qrels of ``--evaluate``, read before any LLM call so a bad file fails at once."""
    if evaluate is None:
        if report is not None:
            raise InvalidInputError("--report needs --evaluate QRELS (the judgements to score)")
        return None
    if guard is not None:
        raise InvalidInputError(
            f"--guard {guard} with --evaluate is not allowed; the report tries every weight "
            "itself (leave --guard out)"
        )
    if not evaluate.is_file():
        raise InvalidInputError(f"--evaluate {evaluate} is not a file; give a qrels file")
    if report is not None:
        check_output(report, "--report")
    return read_qrels(evaluate)


def report_table(evaluation: GuardReport) -> Table:
    """The guard report: one row per order, one column per measure."""
    table = Table(
        title=f"{evaluation.reranker} on {evaluation.queries} judged queries "
        f"(guard: weighted RRF, k={evaluation.k})",
        title_justify="left",
    )
    table.add_column("order")
    for measure in evaluation.measures:
        table.add_column(measure, justify="right")
    for row in evaluation.rows:
        mark = " *" if row.weight is not None and row.weight == evaluation.recommended else ""
        label = row.label if row.weight != 1.0 else "reranker (w=1)"
        table.add_row(label + mark, *(f"{row.metrics[m]:.4f}" for m in evaluation.measures))
    return table


def summary(results: list[RerankResult], method: str, elapsed: float) -> Table:
    """Totals of a run: queries, calls, tokens, repairs, fallbacks, wall time."""
    table = Table(title=f"xling rerank ({method})", title_justify="left")
    for column in ("queries", "LLM calls", "prompt tok", "completion tok", "repairs", "fallbacks"):
        table.add_column(column, justify="right")
    table.add_column("wall s", justify="right")
    table.add_row(
        str(len(results)),
        str(sum(r.usage.llm_calls for r in results)),
        str(sum(r.usage.prompt_tokens for r in results)),
        str(sum(r.usage.completion_tokens for r in results)),
        str(sum(sum(r.repair_counts().values()) for r in results)),
        str(sum(r.fallback for r in results)),
        f"{elapsed:.1f}",
    )
    return table


def fallback_summary(results: list[RerankResult], most: int = 3) -> str | None:
    """One line on the queries that kept their first-stage order, reasons grouped.

    Args:
        results: The run's results.
        most: How many distinct reasons are spelled out (the most frequent first).

    Returns:
        ``"2 of 5 queries fell back to the first-stage order: REASON (2 queries)"``, or
        ``None`` when none fell back.
    """
    fell_back = [r for r in results if r.fallback]
    if not fell_back:
        return None
    reasons = Counter(
        next(f.reason for f in r.fallbacks if f.kind == "first_stage_order") for r in fell_back
    )
    parts = [
        f"{reason} ({count} {'query' if count == 1 else 'queries'})"
        for reason, count in reasons.most_common(most)
    ]
    if len(reasons) > most:
        parts.append(f"and {len(reasons) - most} other reason(s)")
    return (
        f"{len(fell_back)} of {len(results)} queries fell back to the first-stage order: "
        + "; ".join(parts)
    )
