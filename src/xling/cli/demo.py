"""``xling demo``: the main job on embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from xling.cli.app import app, console
from xling.cli.options import ChromaPath, EmbedderOpt
from xling.cli.pools import render_hits
from xling.cli.progress import progress_bar
from xling.data import SAMPLE_LANGS, sample_path
from xling.rag import Pool, load_aligned
from xling.rag.embedders import DEFAULT_EMBEDDER

__all__ = ["demo"]

DEFAULT_QUERIES = [
    "Scientists have invented a tiny chip that sorts cells by type.",
    "Wo ist der Flughafen geschlossen worden?",
    "Habari za michezo: timu ilishinda mechi.",
]


@app.command()
def demo(
    query: Annotated[
        list[str] | None, typer.Option("--query", "-q", help="Queries (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Results per query.")] = 3,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
    chroma_path: ChromaPath = None,
    pool_name: Annotated[str, typer.Option("--pool")] = "flores-sample",
) -> None:
    """Indexes the bundled FLORES-200 sample (eng-fra/deu/swh/wol) and searches across languages."""
    pool = Pool.open(pool_name, embedder, path=chroma_path)
    records = []
    for lang in SAMPLE_LANGS:
        if lang != "eng":
            records += load_aligned(
                sample_path("eng"),
                sample_path(lang),
                "eng",
                lang,
                source=f"flores-sample/eng-{lang}",
            )
    with progress_bar(f"indexing {pool_name}") as update:
        report = pool.index(records, on_progress=update)
    console.print(
        f"pool [bold]{escape(pool_name)}[/]: {pool.count()} records ({report.added} new), "
        f"embedder {pool.embedder.id}"
    )
    for text in query or DEFAULT_QUERIES:
        for lang_filter in (list(SAMPLE_LANGS[1:]), ["swh", "wol"]):
            # Finding a sentence's translations is a symmetric task (see query_role).
            hits = pool.search([text], k, langs=lang_filter, task="symmetric")[0]
            console.print(render_hits(f"{text}  [results in {', '.join(lang_filter)}]", hits))
