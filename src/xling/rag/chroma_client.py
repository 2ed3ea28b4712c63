"""Connecting to Chroma: embedded (persistent), a ``chroma run`` server, or Chroma Cloud."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from xling.errors import InvalidInputError, ServiceUnavailableError
from xling.rag.embedders.cache import default_cache_dir

__all__ = ["connect", "default_chroma_path"]


def default_chroma_path() -> Path:
    """The default folder of the embedded Chroma database."""
    return default_cache_dir() / "chroma"


def connect(path: str | os.PathLike[str] | None = None, url: str | None = None) -> Any:
    """Opens a Chroma client.

    Args:
        path: Folder of an embedded ``PersistentClient`` (default :func:`default_chroma_path`).
        url: ``http(s)://host:port`` of a ``chroma run`` server, or
            ``chroma-cloud://TENANT/DATABASE`` for Chroma Cloud (API key from
            ``CHROMA_API_KEY``). Overrides ``path``.

    Returns:
        A Chroma client; every later call goes through the same collection API.

    Raises:
        ServiceUnavailableError: If the server does not answer.
        InvalidInputError: If the URL has an unsupported scheme.
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url is None:
        folder = Path(path) if path is not None else default_chroma_path()
        folder.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(folder), settings=settings)
    parsed = urlparse(url)
    try:
        if parsed.scheme in {"http", "https"} and parsed.hostname:
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
            )
        elif parsed.scheme == "chroma-cloud" and parsed.hostname:
            client = chromadb.CloudClient(
                tenant=parsed.hostname,
                database=parsed.path.strip("/") or "default_database",
                api_key=os.environ.get("CHROMA_API_KEY"),
                settings=settings,
            )
        else:
            raise InvalidInputError(
                f"Chroma URL {url!r} is not allowed; use http(s)://host:port or "
                "chroma-cloud://TENANT/DATABASE"
            )
        client.heartbeat()
    except InvalidInputError:
        raise
    except Exception as exc:
        raise ServiceUnavailableError(
            f"Chroma at {url} is unreachable ({type(exc).__name__}); start it with "
            "`chroma run --path DIR --host 127.0.0.1 --port PORT` or fix the URL"
        ) from exc
    return client
