"""The service's settings: what it serves and its limits (flags and TOML keys of the same names)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.validation import check_positive_int

__all__ = ["ServiceConfig", "read_api_keys"]


@dataclass
class ServiceConfig:
    """What ``xling serve`` serves, and the limits it enforces.

    Attributes:
        pools: Pool names served (each opens with the embedder it records).
        chroma_path: Embedded Chroma folder (one machine).
        chroma_url: Chroma server or Cloud URL (for several service replicas).
        llm_urls: OpenAI-compatible LLM servers; none: the LLM routes answer 503.
        llm_model: The served model's name (default: the server's).
        embedders: Further embedder specs ``/v1/embeddings`` may use besides the pools' own.
        host: Address to listen on.
        port: Port to listen on.
        api_keys: Bearer keys; empty: no authentication.
        max_body_bytes: Largest request body (413 above).
        max_documents: Most documents of one rerank request.
        max_text_chars: Longest text (query, document, input) in characters.
        max_k: Largest ``k`` / ``top_n`` of retrieval.
        max_batch: Most queries or inputs in one request.
        max_llm_waiting: LLM-bound requests allowed to wait; beyond, 503 with ``Retry-After``.
        rate_limit: Requests per minute and key (0: no limit).
        cors_origins: Origins allowed by CORS (empty: CORS off).
        llm_concurrency: LLM requests in flight per server.
        drain_seconds: On SIGTERM, seconds requests in flight may take to finish before exit.
        max_upload_bytes: Largest document upload (413 above); the documents route's body may
            exceed ``max_body_bytes`` up to this (plus the multipart framing).
        sync_upload_bytes: Uploads up to this size are ingested before the answer (201 with
            the report); larger ones in the background (202 with a job to poll).
        max_queued_jobs: Ingestion jobs allowed to wait; beyond, 503 with ``Retry-After``.
    """

    pools: list[str] = field(default_factory=list)
    chroma_path: str | None = None
    chroma_url: str | None = None
    llm_urls: list[str] = field(default_factory=list)
    llm_model: str | None = None
    embedders: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: list[str] = field(default_factory=list)
    max_body_bytes: int = 2 * 1024 * 1024
    max_documents: int = 1000
    max_text_chars: int = 20_000
    max_k: int = 1000
    max_batch: int = 256
    max_llm_waiting: int = 64
    rate_limit: int = 0
    cors_origins: list[str] = field(default_factory=list)
    llm_concurrency: int = 32
    drain_seconds: int = 30
    max_upload_bytes: int = 50 * 1024 * 1024
    sync_upload_bytes: int = 1024 * 1024
    max_queued_jobs: int = 64

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_documents", "max_text_chars", "max_k", "max_batch",
                     "max_llm_waiting", "llm_concurrency", "drain_seconds", "port",
                     "max_upload_bytes", "sync_upload_bytes", "max_queued_jobs"):  # fmt: skip
            check_positive_int(getattr(self, name), name)
        if (
            isinstance(self.rate_limit, bool)
            or not isinstance(self.rate_limit, int)
            or (self.rate_limit < 0)
        ):
            raise InvalidInputError(f"rate_limit={self.rate_limit!r} is not allowed; use 0 or more")
        if self.chroma_path and self.chroma_url:
            raise InvalidInputError("give chroma_path or chroma_url, not both")

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> ServiceConfig:
        """Reads ``[serve]`` (or top-level) keys of a TOML file; ``overrides`` win.

        Raises:
            InvalidInputError: On a file that is not TOML or an unknown key.
        """
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"config {path}: {exc}") from None
        section = data.get("serve", data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise InvalidInputError(
                f"config {path}: unknown key(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**{**section, **{k: v for k, v in overrides.items() if v is not None}})


def read_api_keys(path: str | Path | None) -> list[str]:
    """The union of the keys in a file (one a line) and ``$XLING_API_KEYS`` (comma-separated)."""
    keys: list[str] = []
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"--api-keys-file {path}: {exc.strerror}") from None
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    keys += [k.strip() for k in os.environ.get("XLING_API_KEYS", "").split(",") if k.strip()]
    return list(dict.fromkeys(keys))
