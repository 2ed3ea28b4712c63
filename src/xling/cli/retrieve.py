"""``xling retrieve``: the passages of each query, as JSON lines that ``xling rerank`` and
``xling eval retrieval --run`` read as they are; ``xling search``: the same retrieval shown as
tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xling import store
from xling.cli.app import app, console, err_console
from xling.cli.options import (
    ChromaPath,
    ChromaUrl,
    MaxTokensOpt,
    OnLongOpt,
    PoolEmbedderOpt,
    PoolName,
    max_tokens_or_none,
    on_long_choice,
)
from xling.cli.output import check_output, write_atomically
from xling.cli.progress import progress_bar
from xling.cli.rerank import parse_settings
from xling.core.records import Hit, QueryHits, read_questions
from xling.core.validation import check_choice, check_positive_int
from xling.embedders import DEFAULT_MAX_TOKENS
from xling.retrieval import Retriever, available_retrievers, get_retriever
from xling.store import Pool

__all__ = [
    "MethodOpt",
    "TaskOpt",
    "open_pool",
    "open_retriever",
    "render_hits",
    "retrieve",
    "retrieve_all",
    "search",
]

MethodOpt = Annotated[
    str,
    typer.Option("--method", "-m", help=f"Retrieval method: {', '.join(available_retrievers())}."),
]
TaskOpt = Annotated[
    str,
    typer.Option(
        help="asymmetric: questions against passages; symmetric: sentences like the pool's "
        "(finding translations, similar sentences)."
    ),
]
LangOpt = Annotated[
    list[str] | None, typer.Option("--lang", "-l", help="Only hits in this language (repeatable).")
]
ExcludeLangOpt = Annotated[
    list[str] | None, typer.Option("--exclude-lang", help="Never hits in this language.")
]
QueryLangOpt = Annotated[
    str | None, typer.Option(help="The queries' language (a JSONL 'lang' wins).")
]
SettingOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="A method option, KEY=VALUE (fusion=weighted, ...)."),
]
_BATCH = 64  # queries per retrieval call (progress is shown per batch)


NeighboursOpt = Annotated[
    int,
    typer.Option(
        "--neighbours",
        help="Return each hit with this many adjacent chunks of its document on each side, "
        "merged, for context.",
    ),
]


def open_pool(
    pool: str,
    embedder: str | None,
    chroma_path: Path | None,
    chroma_url: str | None,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    on_long: str = "truncate",
) -> Pool:
    """An existing pool with its recorded embedder (or the one named).

    Args:
        pool: The pool name.
        embedder: The embedder spec given on the command line, if any.
        chroma_path: Embedded database folder.
        chroma_url: Chroma server URL.
        max_tokens: ``--max-tokens`` (0: no limit).
        on_long: ``--on-long``.
    """
    return store.open_pool(
        pool,
        embedder,
        path=chroma_path,
        url=chroma_url,
        max_tokens=max_tokens_or_none(max_tokens),
        on_long=on_long_choice(on_long),
    )


def open_retriever(pool: Pool, method: str, task: str, settings: Sequence[str] | None) -> Retriever:
    """The retriever of ``--method`` over a pool, with ``--task`` and ``--set`` options."""
    options: dict[str, Any] = {"task": task, **parse_settings(list(settings or []))}
    return get_retriever(method, pool, **options)


def retrieve_all(
    retriever: Retriever,
    texts: Sequence[str],
    k: int,
    *,
    langs: Sequence[str] | None,
    exclude_langs: Sequence[str] | None,
    query_langs: Sequence[str | None],
    qids: Sequence[str] | None = None,
    neighbours: int = 0,
) -> list[QueryHits]:
    """The hits of every query, in batches under one progress bar: what both commands show."""
    results: list[QueryHits] = []
    ids = list(qids) if qids is not None else [str(i) for i in range(len(texts))]
    with progress_bar(f"retrieving ({retriever.method})") as update:
        retriever.prepare()
        update(0, len(texts))
        for start in range(0, len(texts), _BATCH):
            end = start + _BATCH
            results += retriever.retrieve(
                texts[start:end], k, langs=langs, exclude_langs=exclude_langs,
                query_lang=list(query_langs[start:end]), qids=ids[start:end],
                neighbours=neighbours,
            )  # fmt: skip
            update(min(end, len(texts)), len(texts))
    return results


def _check_options(k: int, method: str, task: str) -> None:
    check_positive_int(k, "-k")
    check_choice(method, "--method", available_retrievers())
    check_choice(task, "--task", ("asymmetric", "symmetric"))


@app.command()
def retrieve(
    pool: PoolName,
    queries: Annotated[
        Path, typer.Option("--queries", "-q", help="Queries: one a line, or JSONL {qid, query}.")
    ],
    k: Annotated[int, typer.Option("-k", help="Hits per query.")] = 10,
    method: MethodOpt = "dense",
    lang: LangOpt = None,
    exclude_lang: ExcludeLangOpt = None,
    query_lang: QueryLangOpt = None,
    task: TaskOpt = "asymmetric",
    setting: SettingOpt = None,
    embedder: PoolEmbedderOpt = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSONL output (default: stdout).")
    ] = None,
    neighbours: NeighboursOpt = 0,
) -> None:
    """Retrieves each query's passages: one JSON line per query, in input order.

    Hits from document pools carry their chunk's metadata (doc_id, title, source, section,
    page, start, end, chunk).
    """
    _check_options(k, method, task)
    if out is not None:
        check_output(out, "--out")
    items = read_questions(queries)
    target = open_pool(pool, embedder, chroma_path, chroma_url)
    retriever = open_retriever(target, method, task, setting)
    results = retrieve_all(
        retriever, [q.text for q in items], k, langs=lang, exclude_langs=exclude_lang,
        query_langs=[q.lang or query_lang for q in items], qids=[q.qid for q in items],
        neighbours=neighbours,
    )  # fmt: skip
    text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomically(out, text, "--out")
        err_console.print(f"{len(items)} queries → {out}", highlight=False)


@app.command()
def search(
    query: Annotated[list[str], typer.Argument(help="One or more query texts, in any language.")],
    pool: PoolName,
    k: Annotated[int, typer.Option("-k", help="Results per query.")] = 5,
    method: MethodOpt = "dense",
    lang: LangOpt = None,
    exclude_lang: ExcludeLangOpt = None,
    query_lang: Annotated[str | None, typer.Option(help="The queries' language.")] = None,
    task: TaskOpt = "asymmetric",
    setting: SettingOpt = None,
    embedder: PoolEmbedderOpt = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    max_tokens: MaxTokensOpt = DEFAULT_MAX_TOKENS,
    on_long: OnLongOpt = "truncate",
    neighbours: NeighboursOpt = 0,
) -> None:
    """Searches a pool: query in one language, results from any (or filtered) languages.

    The table view of ``xling retrieve`` (same options, same hits).
    """
    _check_options(k, method, task)
    target = open_pool(
        pool, embedder, chroma_path, chroma_url, max_tokens=max_tokens, on_long=on_long
    )
    retriever = open_retriever(target, method, task, setting)
    results = retrieve_all(
        retriever, query, k, langs=lang, exclude_langs=exclude_lang,
        query_langs=[query_lang] * len(query), neighbours=neighbours,
    )  # fmt: skip
    for result in results:
        console.print(render_hits(result.query, result.hits))


def render_hits(query: str, hits: Sequence[Hit]) -> Table:
    """A table of search hits for one query."""
    # Titles and cells are Rich markup: user text goes in escaped ("[/x]" prints as it is).
    table = Table(title=f"query: {escape(query)}", title_justify="left", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("lang")
    table.add_column("text", overflow="fold")
    for rank, hit in enumerate(hits, 1):
        score = "" if hit.score is None else f"{hit.score:.3f}"
        where = hit.citation
        text = escape(hit.text) + (f"\n[dim]{escape(where)}[/]" if where else "")
        table.add_row(str(rank), score, escape(hit.lang or ""), text)
    return table
