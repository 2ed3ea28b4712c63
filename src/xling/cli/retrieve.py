"""``xling retrieve``: the passages of each query, as JSON lines that ``xling rerank`` and
``xling eval retrieval --run`` read as they are."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from xling.cli.app import app, err_console
from xling.cli.options import ChromaPath, ChromaUrl, PoolEmbedderOpt, PoolName
from xling.cli.output import check_output, write_atomically
from xling.cli.pools import pool_embedder
from xling.cli.progress import progress_bar
from xling.cli.rerank import parse_settings
from xling.core.records import read_questions
from xling.core.validation import check_choice, check_positive_int
from xling.embedders import get_embedder
from xling.retrieval import available_retrievers, get_retriever
from xling.store import Pool

__all__ = ["retrieve", "open_pool", "MethodOpt", "TaskOpt"]

MethodOpt = Annotated[
    str,
    typer.Option("--method", "-m", help=f"Retrieval method: {', '.join(available_retrievers())}."),
]
TaskOpt = Annotated[
    str,
    typer.Option(
        help="asymmetric: questions against passages; symmetric: sentences like the pool's."
    ),
]
_BATCH = 64  # queries per retrieval call (progress is shown per batch)


def open_pool(
    pool: str, embedder: str | None, chroma_path: Path | None, chroma_url: str | None
) -> Pool:
    """An existing pool with its recorded embedder (or the one named)."""
    spec = pool_embedder(embedder, pool, chroma_path, chroma_url)
    return Pool.open(pool, get_embedder(spec), path=chroma_path, url=chroma_url, create=False)


@app.command()
def retrieve(
    pool: PoolName,
    queries: Annotated[
        Path, typer.Option("--queries", "-q", help="Queries: one a line, or JSONL {qid, query}.")
    ],
    k: Annotated[int, typer.Option("-k", help="Hits per query.")] = 10,
    method: MethodOpt = "dense",
    lang: Annotated[
        list[str] | None, typer.Option("--lang", "-l", help="Only hits in this language.")
    ] = None,
    exclude_lang: Annotated[
        list[str] | None, typer.Option("--exclude-lang", help="Never hits in this language.")
    ] = None,
    query_lang: Annotated[
        str | None, typer.Option(help="The queries' language (a JSONL 'lang' wins).")
    ] = None,
    task: TaskOpt = "asymmetric",
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="A method option, KEY=VALUE (fusion=weighted, ...)."),
    ] = None,
    embedder: PoolEmbedderOpt = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSONL output (default: stdout).")
    ] = None,
) -> None:
    """Retrieves each query's passages: one JSON line per query, in input order."""
    check_positive_int(k, "-k")
    check_choice(method, "--method", available_retrievers())
    options: dict[str, Any] = {"task": task, **parse_settings(setting or [])}
    if out is not None:
        check_output(out, "--out")
    items = read_questions(queries)
    target = open_pool(pool, embedder, chroma_path, chroma_url)
    retriever = get_retriever(method, target, **options)
    lines: list[str] = []
    with progress_bar(f"retrieving ({method})") as update:
        retriever.prepare()
        update(0, len(items))
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            results = retriever.retrieve(
                [q.text for q in batch], k, langs=lang, exclude_langs=exclude_lang,
                query_lang=[q.lang or query_lang for q in batch], qids=[q.qid for q in batch],
            )  # fmt: skip
            lines += [json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results]
            update(min(start + _BATCH, len(items)), len(items))
    text = "".join(lines)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomically(out, text, "--out")
        err_console.print(f"{len(items)} queries → {out}", highlight=False)
