"""Options shared by several commands."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from xling.core.validation import check_choice
from xling.embedders.base import ON_LONG, OnLong
from xling.llm.client import DEFAULT_DEADLINE
from xling.llm.embedded_models import EMBEDDED_MODELS, embedded_model

__all__ = [
    "BleuTokenizeOpt",
    "BootstrapSamplesOpt",
    "BootstrapSampleSizeOpt",
    "SpmModelOpt",
    "EMBEDDED_HINT",
    "ChromaPath",
    "ChromaUrl",
    "EmbedderOpt",
    "EmbeddedModelOpt",
    "JsonOpt",
    "LLMConcurrencyOpt",
    "LLMDeadlineOpt",
    "LLMModelOpt",
    "LLMRetriesOpt",
    "LLMTimeoutOpt",
    "LLMUrlOpt",
    "PoolEmbedderOpt",
    "MaxTokensOpt",
    "OnLongOpt",
    "PoolName",
    "max_tokens_or_none",
    "on_long_choice",
    "with_embedded",
]

_Settings = TypeVar("_Settings", bound=Any)

EMBEDDED_HINT = "the default server is the embedded LLM: start it with `xling llm serve`"
"""Added to an LLM failure when no ``--url`` was given."""

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
PoolEmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        "-e",
        help="Embedder spec (e5-small-q4, use-m3, st:NAME, hf:PATH, openai:URL#MODEL) "
        "[default: the one the pool records; e5-small-q4 for a new pool].",
    ),
]
BleuTokenizeOpt = Annotated[
    str,
    typer.Option(help="BLEU tokenizer: 13a, char, flores200 (needs --spm-model), ..."),
]
SpmModelOpt = Annotated[
    Path | None, typer.Option(help="Local SentencePiece model for --tokenize flores200.")
]
BootstrapSamplesOpt = Annotated[int, typer.Option("--samples", help="Bootstrap resamples.")]
"""``--samples N`` (default :data:`~xling.eval.bootstrap.BOOTSTRAP_SAMPLES`)."""
BootstrapSampleSizeOpt = Annotated[
    int, typer.Option("--sample-size", help="Segments (sentences) per bootstrap resample.")
]
"""``--sample-size N`` (default :data:`~xling.eval.bootstrap.BOOTSTRAP_SAMPLE_SIZE`)."""
BootstrapSeedOpt = Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")]
SummaryPlotOpt = Annotated[bool, typer.Option(help="Also write summary.png (needs matplotlib).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
EmbeddedModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m",
        help=f"Embedded LLM started when no URL is given ({', '.join(EMBEDDED_MODELS)}) "
        "[default: the config's llm.embedded, else the job's: gemma3-270m for MT, "
        "smollm2-135m-instruct for answers].",
    ),
]  # fmt: skip


def with_embedded(settings: _Settings, model: str | None) -> _Settings:
    """``settings`` with ``llm.embedded`` set to ``model`` (checked: an unknown name exits 2)."""
    if model is None:
        return settings
    embedded_model(model)
    return replace(settings, llm=replace(settings.llm, embedded=model))


PoolName = Annotated[str, typer.Option("--pool", "-p", help="Pool (Chroma collection) name.")]
MaxTokensOpt = Annotated[
    int,
    typer.Option(
        "--max-tokens",
        help="Longest text embedded, in the embedder's own tokens (0: no limit).",
    ),
]
"""``--max-tokens N`` (default :data:`~xling.embedders.DEFAULT_MAX_TOKENS`); pass it
through :func:`max_tokens_or_none` to ``get_embedder(..., max_tokens=...)``."""
OnLongOpt = Annotated[
    str,
    typer.Option(
        "--on-long",
        help=f"Texts over --max-tokens: {' or '.join(ON_LONG)} (truncate counts them).",
    ),
]
"""``--on-long truncate|refuse``; pass it through :func:`on_long_choice` to
``get_embedder(..., on_long=...)``."""

LLMUrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="OpenAI-compatible LLM server (default: the embedded one on 8011)."),
]
LLMModelOpt = Annotated[
    str | None, typer.Option("--model", help="Model name (default: the server's).")
]
LLMConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", help="Most LLM requests in flight.")
]
"""``--concurrency N`` (default :data:`~xling.llm.client.DEFAULT_CONCURRENCY`)."""
LLMTimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds per LLM request attempt.")]
"""``--timeout S`` (default :data:`~xling.llm.client.DEFAULT_TIMEOUT`)."""
LLMRetriesOpt = Annotated[int, typer.Option("--retries", help="Retries per failed LLM request.")]
"""``--retries N`` (default :data:`~xling.llm.client.DEFAULT_RETRIES`)."""
LLMDeadlineOpt = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        help="Seconds per LLM request, retries and backoff included (default "
        f"{DEFAULT_DEADLINE:g}, or --timeout when that is longer).",
    ),
]


def max_tokens_or_none(value: int) -> int | None:
    """The ``max_tokens`` of ``get_embedder`` for a ``--max-tokens`` value (0 means none)."""
    return None if value == 0 else value


def on_long_choice(value: str) -> OnLong:
    """The ``on_long`` of ``get_embedder`` for an ``--on-long`` value.

    Raises:
        InvalidInputError: If the value is neither ``truncate`` nor ``refuse``.
    """
    return check_choice(value, "--on-long", ON_LONG)
