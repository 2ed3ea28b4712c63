"""``xling serve``: the retrieval, rerank, embedding and answer service (extra ``server``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xling.cli.app import app, err_console
from xling.cli.options import ChromaPath, ChromaUrl
from xling.rerankers.guard import parse_guard_setting
from xling.server.config import ServiceConfig, read_api_keys
from xling.server.served_rerankers import parse_reranker_options

__all__ = ["serve"]


@app.command()
def serve(
    pool: Annotated[
        list[str] | None,
        typer.Option("--pool", "-p", help="Pool to serve [default: every pool of the database]."),
    ] = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    llm_url: Annotated[
        list[str] | None, typer.Option(help="OpenAI-compatible LLM server (repeat for replicas).")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="The LLM's model name.")] = None,
    embedder: Annotated[
        list[str] | None, typer.Option("--embedder", "-e", help="A further embedder to serve.")
    ] = None,
    reranker: Annotated[
        list[str] | None,
        typer.Option(
            help="A rerank model to serve, NAME=SPEC (fast=cascade:pointwise→listwise; "
            "repeatable); clients name it, never a spec."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8080].")] = None,
    api_keys_file: Annotated[
        Path | None,
        typer.Option(
            help="Bearer keys: one a line, or TOML [[key]] tables with the pools each may read "
            "and write (plus $XLING_API_KEYS)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings ([serve] keys).")] = None,
    max_body_bytes: Annotated[int | None, typer.Option(help="Largest request body.")] = None,
    max_upload_bytes: Annotated[int | None, typer.Option(help="Largest document upload.")] = None,
    max_documents: Annotated[int | None, typer.Option(help="Most documents a rerank.")] = None,
    max_text_chars: Annotated[int | None, typer.Option(help="Longest text.")] = None,
    max_k: Annotated[int | None, typer.Option(help="Largest k / top_n.")] = None,
    max_batch: Annotated[int | None, typer.Option(help="Most queries or inputs a request.")] = None,
    max_llm_waiting: Annotated[
        int | None, typer.Option(help="LLM requests allowed to wait before 503.")
    ] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Requests a minute per key.")] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(help="Allowed CORS origin.")] = None,
    llm_concurrency: Annotated[
        int | None, typer.Option(help="LLM requests in flight per server [default: 32].")
    ] = None,
    drain_seconds: Annotated[
        int | None,
        typer.Option(help="On SIGTERM, seconds to let requests in flight finish [default: 30]."),
    ] = None,
    read_timeout: Annotated[
        int | None,
        typer.Option(help="Seconds to send a request head, longest pause in a body [default: 10]."),
    ] = None,
    keep_alive_timeout: Annotated[
        int | None, typer.Option(help="Seconds an idle connection stays open [default: 5].")
    ] = None,
    max_connections: Annotated[
        int | None, typer.Option(help="Most open connections [default: 1000].")
    ] = None,
    max_header_bytes: Annotated[
        int | None, typer.Option(help="Largest request head [default: 65536].")
    ] = None,
    max_hits: Annotated[
        int | None,
        typer.Option(help="Most hits a retrieve request (queries x k) [default: 10000]."),
    ] = None,
    auth_failures: Annotated[
        int | None,
        typer.Option(help="Failed keys a minute per client address before 429 [default: 10]."),
    ] = None,
    rerank_guard: Annotated[
        str | None,
        typer.Option(
            help="The weak-judge guard of every rerank: the reranker's weight in (0, 1] in a "
            "fusion with the documents' order, fitted (each reranker's own fitted weight, the "
            "default) or off."
        ),
    ] = None,
) -> None:
    """Serves pools over HTTP: Cohere/Jina/TEI-compatible rerank, OpenAI embeddings, RAG."""
    from xling.server.app import create_app
    from xling.server.process import serve_forever
    from xling.server.service import Service

    given: dict[str, Any] = {
        "pools": pool, "chroma_path": str(chroma_path) if chroma_path else None,
        "chroma_url": chroma_url, "llm_urls": llm_url, "llm_model": llm_model,
        "embedders": embedder, "host": host, "port": port, "max_body_bytes": max_body_bytes,
        "max_documents": max_documents, "max_text_chars": max_text_chars, "max_k": max_k,
        "max_batch": max_batch, "max_llm_waiting": max_llm_waiting, "rate_limit": rate_limit,
        "cors_origins": cors_origin, "llm_concurrency": llm_concurrency,
        "drain_seconds": drain_seconds, "read_timeout": read_timeout,
        "keep_alive_timeout": keep_alive_timeout, "max_connections": max_connections,
        "max_header_bytes": max_header_bytes, "max_hits": max_hits, "auth_failures": auth_failures,
        "max_upload_bytes": max_upload_bytes, "rerank_guard": rerank_guard,
        "rerankers": parse_reranker_options(reranker) if reranker else None,
    }  # fmt: skip
    if rerank_guard is not None:
        parse_guard_setting(
            rerank_guard, "--rerank-guard"
        )  # "off" travels as text: None is "not given"
    keys = read_api_keys(api_keys_file)
    if keys.plain:
        given["api_keys"] = keys.plain
    if keys.grants:
        given["api_grants"] = keys.grants
    if config is not None:
        settings = ServiceConfig.from_toml(config, **given)
    else:
        settings = ServiceConfig(**{k: v for k, v in given.items() if v is not None})
    asgi = create_app(settings, Service(settings))  # bad pools or embedders: one line, exit 2
    err_console.print(
        f"serving {', '.join(settings.pools) or 'every pool of the database'} on http://{settings.host}:"
        f"{settings.port} (LLM: {', '.join(settings.llm_urls) or 'none'}; auth: "
        f"{'on' if settings.api_keys or settings.api_grants else 'off'})",
        highlight=False,
    )
    serve_forever(settings, asgi)
