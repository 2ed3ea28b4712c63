"""``xling ingest`` (files and folders into a pool) and ``xling docs list|delete``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from xling.cli.app import app, command_group, console, err_console, fail, warn
from xling.cli.options import ChromaPath, ChromaUrl, JsonOpt, PoolEmbedderOpt, PoolName
from xling.cli.pools import ShardsOpt, pool_embedder
from xling.cli.progress import progress_bar
from xling.core.errors import EXIT_ALL_FELL_BACK, EXIT_BAD_INPUT
from xling.core.validation import json_object
from xling.documents.files import find_documents
from xling.documents.records import Document
from xling.store import Pool
from xling.store.ingest import IngestReport

__all__ = ["delete", "ingest", "listing"]

docs = command_group("docs", "List and delete the documents of a pool.")


def _open(pool: str, embedder: str | None, path: Path | None, url: str | None,
          create: bool, shards: str | None = None) -> Pool:  # fmt: skip
    spec = pool_embedder(embedder, pool, path, url)
    return Pool.open(pool, spec, path=path, url=url, create=create, shards=shards,
                     on_wait=lambda m: err_console.print(f"[yellow]{escape(m)}[/]"))  # fmt: skip


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    pool: PoolName,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    embedder: PoolEmbedderOpt = None,
    lang: Annotated[
        str,
        typer.Option(help="The documents' language (en, deu, zh), or auto: detect per chunk."),
    ] = "auto",
    include: Annotated[
        list[str] | None,
        typer.Option(help="Only files matching this glob (path or name; repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Leave out files matching this glob (repeatable).")
    ] = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="Also delete the pool's documents whose files are not among these."
        ),
    ] = False,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(help="Chunk size in the embedder's tokens (default: measured for it)."),
    ] = None,
    overlap: Annotated[
        int | None, typer.Option(help="Tokens repeated from the previous chunk.")
    ] = None,
    heading_prefix: Annotated[
        bool | None,
        typer.Option(
            "--heading-prefix/--no-heading-prefix",
            help="Embed each chunk with its heading path before it (default: measured).",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Chunks embedded per step.")] = 256,
    ray: Annotated[
        bool,
        typer.Option("--ray", help="Run the ingest as a Ray Data job (needs --chroma-url)."),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(help="The Ray cluster (HOST:6379, ray://HOST:10001) [default: local Ray]."),
    ] = None,
    ray_actors: Annotated[int | None, typer.Option(help="Embedding actors [default: 1].")] = None,
    ray_gpus_per_actor: Annotated[
        float | None, typer.Option(help="GPUs per embedding actor [default: 0].")
    ] = None,
    shards: ShardsOpt = None,
) -> None:
    """Ingests files and folders: new and changed files are added, unchanged ones skipped.

    Formats: PDF (text layer; scanned PDFs need OCR first), HTML, Markdown, DOCX, plain text.
    A file that cannot be read is reported and the rest goes on (exit 4; 2 if all were
    refused). The doc_id of a file is its path relative to the folder given. With --ray the
    files must be readable at the same path on every Ray node.
    """
    ray_options = {"address": ray_address, "actors": ray_actors,
                   "gpus_per_actor": ray_gpus_per_actor}  # fmt: skip
    if not ray and any(v is not None for v in ray_options.values()):
        raise fail("--ray-address, --ray-actors and --ray-gpus-per-actor need --ray")
    if ray and chroma_url is None:
        raise fail("--ray writes from Ray workers (other processes), which cannot share an "
                   "embedded Chroma folder; serve it with `chroma run --path DIR` and give "
                   "--chroma-url")  # fmt: skip
    documents = find_documents(paths, include=include or (), exclude=exclude or (),
                               lang=lang)  # fmt: skip
    target = _open(pool, embedder, chroma_path, chroma_url, create=True, shards=shards)
    if ray:
        report = _ingest_with_ray(target, documents, ray_options, chunk_tokens=chunk_tokens,
                                  overlap=overlap, heading_prefix=heading_prefix, sync=sync,
                                  batch_size=batch_size)  # fmt: skip
    else:
        with progress_bar(f"ingesting into {pool}") as update:
            report = target.ingest(
                documents, chunk_tokens=chunk_tokens, overlap=overlap,
                heading_prefix=heading_prefix, sync=sync, errors="skip", batch_size=batch_size,
                on_progress=update,
            )  # fmt: skip
    for refusal in report.refused:
        warn(f"refused {refusal.source or refusal.doc_id}: {refusal.reason}")
    console.print(escape(report.summary()), highlight=False, soft_wrap=True)
    if report.refused:
        all_refused = len(report.refused) == report.documents
        raise typer.Exit(EXIT_BAD_INPUT if all_refused else EXIT_ALL_FELL_BACK)


def _ingest_with_ray(target: Pool, documents: list[Document], ray_options: dict[str, Any],
                     **options: Any) -> IngestReport:  # fmt: skip
    from xling.documents.chunking import Chunker
    from xling.store.ray_ingest import ingest_with_ray

    chunking = ("chunk_tokens", "overlap", "heading_prefix")
    given = {k: options.pop(k) for k in chunking}
    chunker = Chunker(target.embedder, **{k: v for k, v in given.items() if v is not None})
    ray_given = {k: v for k, v in ray_options.items() if v is not None}
    with progress_bar(f"ingesting into {target.name} with Ray (documents)") as update:
        return ingest_with_ray(target, documents, chunker=chunker, errors="skip",
                               on_progress=update, **ray_given, **options)  # fmt: skip


def _where(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return json_object(value, "--where")


@docs.command("list")
def listing(
    pool: PoolName,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    embedder: PoolEmbedderOpt = None,
    where: Annotated[
        str | None, typer.Option(help="Only documents with chunks matching this JSON filter.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Lists the pool's documents: id, title, chunks, languages, source."""
    infos = _open(pool, embedder, chroma_path, chroma_url, create=False).documents(_where(where))
    if as_json:
        print(json.dumps([i.to_dict() for i in infos], ensure_ascii=False))
        return
    table = Table("doc_id", "title", "chunks", "langs", "source")
    for info in infos:
        flag = "" if info.complete else " (partial: run xling index --verify)"
        table.add_row(escape(info.doc_id), escape(info.title), f"{info.chunks}{flag}",
                      ",".join(info.langs), escape(info.source))  # fmt: skip
    console.print(table)
    console.print(f"{len(infos)} documents, {sum(i.chunks for i in infos)} chunks")


@docs.command()
def delete(
    pool: PoolName,
    doc: Annotated[
        list[str] | None, typer.Option("--doc", help="A doc_id to delete (repeatable).")
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="Delete every chunk matching this JSON metadata filter.")
    ] = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    embedder: PoolEmbedderOpt = None,
) -> None:
    """Deletes documents by id (--doc) or by metadata filter (--where)."""
    if (doc is None) == (where is None):
        raise fail("give --doc ID (repeatable) or --where JSON, not both")
    target = _open(pool, embedder, chroma_path, chroma_url, create=False)
    report = target.delete(doc, where=_where(where))
    console.print(f"deleted {report.documents} documents ({report.chunks} chunks) from "
                  f"[bold]{escape(pool)}[/]")  # fmt: skip
