"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["ChromaPath", "ChromaUrl", "EmbedderOpt", "PoolName"]

ChromaPath = Annotated[
    Path | None,
    typer.Option("--chroma-path", help="Folder of the embedded Chroma database [default: cache]."),
]
ChromaUrl = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="A Chroma server (http://host:port) or chroma-cloud://TENANT/DATABASE.",
    ),
]
EmbedderOpt = Annotated[
    str,
    typer.Option(
        "--embedder",
        "-e",
        help="Embedder spec: e5-small-q4, use-m3, st:NAME, hf:PATH, openai:URL#MODEL.",
    ),
]
PoolName = Annotated[str, typer.Option("--pool", "-p", help="Pool (Chroma collection) name.")]
