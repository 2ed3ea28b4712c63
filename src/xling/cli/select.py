"""``xling select``: in-context examples (and ready prompts) for every query of a file."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from xling.cli.app import app, console, fail
from xling.cli.options import (
    ChromaPath,
    ChromaUrl,
    MaxTokensOpt,
    OnLongOpt,
    PoolEmbedderOpt,
    max_tokens_or_none,
    on_long_choice,
)
from xling.cli.pools import pool_embedder
from xling.cli.progress import progress_bars
from xling.core.errors import InvalidInputError
from xling.core.files import write_atomic
from xling.core.languages import get_language
from xling.core.records import AlignedPool
from xling.core.validation import check_output_file
from xling.embedders import DEFAULT_EMBEDDER, DEFAULT_MAX_TOKENS, Embedder, get_embedder
from xling.prompts.mt import DEFAULT_MT_TEMPLATE, MT_TEMPLATES, get_mt_template
from xling.selectors import (
    DEFAULT_FILTERS,
    SELECTORS,
    SelectionConfig,
    aligned_pool,
    load_aligned_pool,
    select_examples,
)
from xling.store import open_pool, read_lines

__all__ = ["select_cmd", "write_jsonl_atomic"]


def write_jsonl_atomic(
    path: Path, records: Iterable[dict[str, object]], what: str = "--out"
) -> int:
    """Writes JSON lines to a temporary file beside ``path`` and renames it into place.

    A run that fails half way leaves ``path`` as it was (or absent), never half written.

    Args:
        path: The file to write.
        records: JSON-serialisable objects, one per line (a generator is consumed while
            writing, so an error it raises leaves ``path`` untouched too).
        what: How messages name the file (the option it came from).

    Returns:
        The number of lines written.

    Raises:
        InvalidInputError: If ``path`` is a folder, or it cannot be written (its folder is a
            file, no permission, disk full, ...).
    """
    path = check_output_file(path, what)
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        with tmp.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())

    try:
        write_atomic(path, write)
    except OSError as exc:
        raise InvalidInputError(
            f"{what} {str(path)!r} cannot be written ({exc.strerror})"
        ) from None
    return count


def _pool(
    pool_src: Path | None,
    pool_tgt: Path | None,
    pool_name: str | None,
    src: str,
    tgt: str,
    embedder: Embedder,
    chroma_path: Path | None,
    chroma_url: str | None,
) -> AlignedPool:
    if pool_name is not None:
        if pool_src is not None or pool_tgt is not None:
            raise fail("give either --pool NAME or --pool-src/--pool-tgt, not both")
        chroma = open_pool(pool_name, embedder, path=chroma_path, url=chroma_url)
        return aligned_pool(chroma, src, tgt)
    if pool_src is None or pool_tgt is None:
        raise fail("give the pool: --pool-src FILE --pool-tgt FILE, or --pool NAME (Chroma)")
    return load_aligned_pool(pool_src, pool_tgt, src, tgt)


def _filters(names: list[str] | None) -> tuple[str, ...]:
    chosen: list[str] = []
    for name in names or []:
        chosen.extend(DEFAULT_FILTERS if name == "all" else [name])
    return tuple(dict.fromkeys(chosen))


@app.command("select")
def select_cmd(
    queries: Annotated[Path, typer.Option(help="Sentences to translate, one per line.")],
    src: Annotated[str, typer.Option(help="Source language (eng, en, eng_Latn).")],
    tgt: Annotated[str, typer.Option(help="Target language (swh, sw, swh_Latn).")],
    out: Annotated[Path, typer.Option(help="Output JSONL: one line per query.")],
    pool_src: Annotated[
        Path | None, typer.Option(help="Pool source side, one sentence per line.")
    ] = None,
    pool_tgt: Annotated[
        Path | None, typer.Option(help="Pool target side, line-aligned with --pool-src.")
    ] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", help="Or a Chroma pool holding src->tgt pairs.")
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            "--strategy",
            "-s",
            help=f"Selection method, one of: {', '.join(SELECTORS)} (--strategy: its 0.1 name).",
        ),
    ] = "s2s",
    k: Annotated[int, typer.Option("-k", help="Examples per query.")] = 5,
    order: Annotated[
        str,
        typer.Option(help="nearest-last: best example next to the query; or nearest-first."),
    ] = "nearest-last",
    template: Annotated[
        str, typer.Option(help=f"Prompt template: {', '.join(MT_TEMPLATES)}.")
    ] = DEFAULT_MT_TEMPLATE,
    embedder: PoolEmbedderOpt = None,
    max_tokens: MaxTokensOpt = DEFAULT_MAX_TOKENS,
    on_long: OnLongOpt = "truncate",
    dense_format: Annotated[
        str, typer.Option("--format", help="mmr/margin/fusion: compare with s2s, s2t or mix.")
    ] = "s2s",
    alpha: Annotated[float, typer.Option(help="mix: weight of the source side.")] = 0.5,
    candidates: Annotated[
        int, typer.Option(help="First-stage depth of r-bm25, mmr, borda and rrf.")
    ] = 100,
    mmr_lambda: Annotated[float, typer.Option(help="mmr: relevance weight.")] = 0.5,
    margin_neighbors: Annotated[int, typer.Option(help="margin: neighbours (k).")] = 4,
    seed: Annotated[int, typer.Option(help="random: seed.")] = 0,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help=f"Pool filter (repeatable): {', '.join(DEFAULT_FILTERS)}, or all.",
        ),
    ] = None,
    max_length_ratio: Annotated[
        float, typer.Option(help="length-ratio filter: largest ratio.")
    ] = 3.0,
    leakage_guard: Annotated[
        bool, typer.Option(help="Never use a pool pair identical to the query.")
    ] = True,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Chooses k in-context examples per query and writes them with the few-shot prompt."""
    started = time.monotonic()
    check_output_file(out, "--out")
    src_code, tgt_code = get_language(src).code, get_language(tgt).code
    get_mt_template(template)
    spec = (
        pool_embedder(embedder, pool, chroma_path, chroma_url)
        if pool is not None
        else embedder or DEFAULT_EMBEDDER
    )
    config = SelectionConfig(
        method=method, k=k, order=order, embedder=spec,  # type: ignore[arg-type]
        dense_format=dense_format, alpha=alpha, candidates=candidates,  # type: ignore[arg-type]
        mmr_lambda=mmr_lambda, margin_neighbors=margin_neighbors, seed=seed,
        leakage_guard=leakage_guard, filters=_filters(filters), max_length_ratio=max_length_ratio,
    )  # fmt: skip
    if method not in SELECTORS:
        raise InvalidInputError(
            f"unknown selection method {method!r}; allowed: {', '.join(SELECTORS)}"
        )
    texts = read_lines(queries)
    model = get_embedder(
        spec, max_tokens=max_tokens_or_none(max_tokens), on_long=on_long_choice(on_long)
    )
    aligned = _pool(pool_src, pool_tgt, pool, src_code, tgt_code, model, chroma_path, chroma_url)
    with progress_bars() as add:
        prepared, update = add("preparing pool"), add(f"selecting ({method})")
        selection = select_examples(
            texts, aligned, config, embedder=model, template=template,
            on_prepare=prepared, on_progress=update,
        )  # fmt: skip
    written = write_jsonl_atomic(out, selection.records())
    dropped = ", ".join(f"{n}: {c}" for n, c in selection.filtered.items()) or "none"
    cut = f"; {model.truncated} texts truncated to {max_tokens} tokens" if model.truncated else ""
    console.print(
        f"{written} queries, {k} examples each from {selection.pool_size} pairs "
        f"({method}; filtered out: {dropped}{cut}) -> {out} in "
        f"{time.monotonic() - started:.1f}s"
    )
