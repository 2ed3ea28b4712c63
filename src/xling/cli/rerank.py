"""``xling rerank``: rerank JSONL requests with an LLM reranker over a vLLM server."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from xling.cli.app import app, err_console, fail
from xling.cli.progress import progress_bar
from xling.errors import InvalidInputError
from xling.llm import EmbeddedLLMConfig, LLMClient
from xling.rerankers import RerankRequest, RerankResult, available_rerankers, get_reranker

__all__ = ["rerank", "read_requests", "parse_settings"]


def read_requests(lines: TextIO, source: str) -> list[RerankRequest]:
    """Reads ``{query, candidates: [{id, text, score?, lang?}], query_lang?}`` lines."""
    requests = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source}:{number} is not JSON ({exc.msg})") from None
        try:
            requests.append(RerankRequest.from_dict(data))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{source}:{number}: {exc}") from None
    if not requests:
        raise InvalidInputError(f"{source} holds no requests; give one JSON object per line")
    return requests


def parse_settings(settings: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (``20``, ``true``)."""
    options: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--set {item!r} is not allowed; use KEY=VALUE")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


@app.command()
def rerank(
    input: Annotated[Path, typer.Argument(help="JSONL requests, or - for stdin.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL results (default: stdout).")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", "-m", help=f"One of: {', '.join(available_rerankers())}.")
    ] = "listwise",
    url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible LLM server (default: the embedded one on 8011)."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name (default: the server's).")] = None,
    template: Annotated[str | None, typer.Option(help="Prompt template name.")] = None,
    window: Annotated[int | None, typer.Option(help="Listwise window size.")] = None,
    stride: Annotated[int | None, typer.Option(help="Listwise stride.")] = None,
    top_k: Annotated[int | None, typer.Option(help="PRP heapsort top-k / sliding passes.")] = None,
    rank_end: Annotated[int | None, typer.Option(help="Rerank only the first N.")] = None,
    on_failure: Annotated[
        str, typer.Option(help="When the server fails: fallback (first-stage order) or raise.")
    ] = "fallback",
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other reranker option, KEY=VALUE (repeatable)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Most LLM requests in flight.")] = 32,
    timeout: Annotated[float, typer.Option(help="Seconds per LLM request attempt.")] = 120.0,
    retries: Annotated[int, typer.Option(help="Retries per failed LLM request.")] = 3,
) -> None:
    """Reranks each query's candidates; writes one JSON result per input line, in order."""
    options = parse_settings(setting or [])
    given = {"template": template, "window": window, "stride": stride, "top_k": top_k}
    options.update({key: value for key, value in given.items() if value is not None})
    if rank_end is not None:
        options["rank_end"] = rank_end
    options["on_failure"] = on_failure
    client = LLMClient(
        url or EmbeddedLLMConfig().url,
        model,
        max_concurrency=concurrency,
        timeout=timeout,
        max_retries=retries,
    )
    reranker = get_reranker(method, client, **options)
    if str(input) == "-":
        requests = read_requests(sys.stdin, "stdin")
    else:
        if not input.is_file():
            raise fail(f"input {input} is not a file")
        with input.open(encoding="utf-8") as lines:
            requests = read_requests(lines, str(input))
    started = time.perf_counter()
    with progress_bar(f"reranking ({method})") as update:
        results = reranker.rerank_many(requests, on_progress=update)
    elapsed = time.perf_counter() - started
    lines_out = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results)
    if output is None:
        sys.stdout.write(lines_out)
    else:
        output.write_text(lines_out, encoding="utf-8")
    err_console.print(summary(results, method, elapsed))


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
