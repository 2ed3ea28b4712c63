"""``xling index`` and ``xling search``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xling.cli.app import app, console, fail
from xling.cli.options import ChromaPath, ChromaUrl, EmbedderOpt, PoolName
from xling.cli.progress import progress_bar
from xling.rag import Hit, Pool, Record, load_aligned, load_jsonl, load_lines, load_tsv
from xling.rag.embedders import DEFAULT_EMBEDDER

__all__ = ["index", "search", "load_records"]


def load_records(
    src: Path | None,
    src_lang: str | None,
    tgt: Path | None,
    tgt_lang: str | None,
    tsv: Path | None,
    jsonl: Path | None,
) -> list[Record]:
    """Loads records from exactly one input kind given on the command line."""
    given = [x for x in (src, tsv, jsonl) if x is not None]
    if len(given) != 1:
        raise fail("give exactly one input: --src FILE [--tgt FILE], --tsv FILE or --jsonl FILE")
    if jsonl is not None:
        return load_jsonl(jsonl, src_lang, tgt_lang)
    if not src_lang:
        raise fail("--src-lang is required for --src and --tsv inputs")
    if tsv is not None:
        return load_tsv(tsv, src_lang, tgt_lang)
    assert src is not None
    if tgt is not None:
        if not tgt_lang:
            raise fail("--tgt-lang is required with --tgt")
        return load_aligned(src, tgt, src_lang, tgt_lang)
    return load_lines(src, src_lang)


@app.command()
def index(
    pool: PoolName,
    src: Annotated[
        Path | None, typer.Option(help="Text file, one text per line (source side).")
    ] = None,
    src_lang: Annotated[
        str | None, typer.Option(help="Language of --src/--tsv (eng, en, eng_Latn).")
    ] = None,
    tgt: Annotated[
        Path | None, typer.Option(help="Line-aligned target file: pairs with --src.")
    ] = None,
    tgt_lang: Annotated[str | None, typer.Option(help="Language of the target side.")] = None,
    tsv: Annotated[
        Path | None, typer.Option(help="TSV: text, or source<TAB>target with --tgt-lang.")
    ] = None,
    jsonl: Annotated[
        Path | None, typer.Option(help='JSONL: {"text","lang"} or {"src","tgt"} lines.')
    ] = None,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    batch_size: Annotated[int, typer.Option(help="Texts embedded and written per step.")] = 256,
) -> None:
    """Embeds texts into a pool; re-running resumes or skips what is already there."""
    records = load_records(src, src_lang, tgt, tgt_lang, tsv, jsonl)
    target = Pool.open(pool, embedder, path=chroma_path, url=chroma_url)
    with progress_bar(f"indexing {pool}") as update:
        report = target.index(records, batch_size=batch_size, on_progress=update)
    console.print(
        f"pool [bold]{pool}[/]: {report.added} added, {report.skipped} already there, "
        f"{target.count()} records in all ({target.embedder.id})"
    )


@app.command()
def search(
    query: Annotated[list[str], typer.Argument(help="One or more query texts, in any language.")],
    pool: PoolName,
    k: Annotated[int, typer.Option("-k", help="Results per query.")] = 5,
    lang: Annotated[
        list[str] | None,
        typer.Option("--lang", "-l", help="Only results in this language (repeatable)."),
    ] = None,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Searches a pool: query in one language, results from any (or filtered) languages."""
    target = Pool.open(pool, embedder, path=chroma_path, url=chroma_url, create=False)
    for text, hits in zip(query, target.search(query, k, langs=lang), strict=True):
        console.print(render_hits(text, hits))


def render_hits(query: str, hits: list[Hit]) -> Table:
    """A table of search hits for one query."""
    table = Table(title=f"query: {query}", title_justify="left", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("lang")
    table.add_column("text", overflow="fold")
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), f"{hit.score:.3f}", hit.lang, hit.text)
    return table
