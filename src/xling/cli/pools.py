"""``xling index`` (``xling search`` is the table view of ``xling retrieve``, beside it)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from xling.cli.app import app, console, err_console, fail
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
from xling.cli.progress import progress_bar
from xling.core.errors import EXIT_SERVER
from xling.core.validation import check_choice, check_positive_int
from xling.embedders import DEFAULT_EMBEDDER, DEFAULT_MAX_TOKENS, get_embedder
from xling.retrieval import get_retriever
from xling.store import Pool, Record, load_aligned, load_jsonl, load_lines, load_tsv

__all__ = ["ShardsOpt", "index", "load_records", "pool_embedder"]

ShardsOpt = Annotated[
    str | None,
    typer.Option(
        "--shards",
        help="For a new pool: lang (one Chroma collection per language) or count:N (N "
        "collections, a document's chunks together), queried in parallel and merged; an "
        "existing pool keeps its layout.",
    ),
]
_DERIVED = ("bm25", "margin")  # the methods with an index derived from the pool


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
        try:
            return load_tsv(tsv, src_lang, tgt_lang)
        except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
            raise fail(f"{tsv} is not a TSV file xling can read ({exc})") from None
    assert src is not None
    if tgt is not None:
        if not tgt_lang:
            raise fail("--tgt-lang is required with --tgt")
        return load_aligned(src, tgt, src_lang, tgt_lang)
    return load_lines(src, src_lang)


def _print_wait(message: str) -> None:
    err_console.print(f"[yellow]{escape(message)}[/]", highlight=False, soft_wrap=True)


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
    embedder: PoolEmbedderOpt = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    batch_size: Annotated[int, typer.Option(help="Texts embedded and written per step.")] = 256,
    max_tokens: MaxTokensOpt = DEFAULT_MAX_TOKENS,
    on_long: OnLongOpt = "truncate",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="When another process is writing the embedded pool: wait for it, or fail "
            "at once (exit 3) naming it.",
        ),
    ] = True,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check every record against the embedder (after indexing, if inputs are "
            "given) and repair what is broken. Exit 3 if problems are left.",
        ),
    ] = False,
    repair: Annotated[
        bool, typer.Option("--repair/--no-repair", help="With --verify: fix what is found.")
    ] = True,
    verify_sample: Annotated[
        int,
        typer.Option(help="With --verify: records to re-embed and look up (0: all of them)."),
    ] = 256,
    derive: Annotated[
        list[str] | None,
        typer.Option(
            "--derive",
            help="Build a method's derived index now (bm25: the BM25 index; margin: the "
            "pool's language means), not on its first query (repeatable).",
        ),
    ] = None,
    shards: ShardsOpt = None,
) -> None:
    """Embeds texts into a pool; re-running resumes or skips what is already there."""
    methods = [check_choice(m, "--derive", _DERIVED) for m in derive or []]
    inputs = any(x is not None for x in (src, tsv, jsonl))
    needs_input = not verify and not methods
    records = (
        load_records(src, src_lang, tgt, tgt_lang, tsv, jsonl) if inputs or needs_input else []
    )
    check_positive_int(batch_size, "--batch-size")
    if verify_sample < 0:
        raise fail(f"--verify-sample={verify_sample} is not allowed; use 0 (all) or more")
    spec = pool_embedder(embedder, pool, chroma_path, chroma_url)
    model = get_embedder(
        spec, max_tokens=max_tokens_or_none(max_tokens), on_long=on_long_choice(on_long)
    )
    target = Pool.open(
        pool, model, path=chroma_path, url=chroma_url, create=inputs,
        lock_timeout=None if wait else 0, on_wait=_print_wait, shards=shards,
    )  # fmt: skip
    if inputs:
        with progress_bar(f"indexing {pool}") as update:
            report = target.index(records, batch_size=batch_size, on_progress=update)
        console.print(
            f"pool [bold]{escape(pool)}[/]: {report.added} added, {report.skipped} already "
            f"there, {target.count()} records in all ({target.embedder.id})"
        )
    for method in methods:
        with err_console.status(f"deriving the {method} index of {pool}"):
            get_retriever(method, target).prepare()
        console.print(f"{method} index of [bold]{escape(pool)}[/] ready", highlight=False)
    if verify:
        with progress_bar(f"verifying {pool}") as update:
            checked = target.verify(repair=repair, sample=verify_sample or None, on_progress=update)
        console.print(escape(checked.summary()), highlight=False, soft_wrap=True)
        if not checked.ok:
            left = checked.remaining if checked.remaining is not None else checked.problems
            raise fail(
                f"pool {pool!r} has {left} problems left"
                + ("" if repair else "; run without --no-repair to fix them"),
                EXIT_SERVER,
            )


def pool_embedder(
    given: str | None, pool: str, chroma_path: Path | None, chroma_url: str | None
) -> str:
    """The embedder spec for a pool: the one given, else the pool's own, else the default."""
    if given is not None:
        return given
    return Pool.recorded_embedder(pool, path=chroma_path, url=chroma_url) or DEFAULT_EMBEDDER
