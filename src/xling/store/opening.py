"""Opening an existing pool by name: the one way the CLI, the server, the experiment runner
and the integrations do it."""

from __future__ import annotations

import os
from typing import Any

from xling.embedders import DEFAULT_EMBEDDER, Embedder, get_embedder
from xling.store.pool import Pool

__all__ = ["open_pool"]


def open_pool(
    name: str,
    embedder: str | Embedder | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    url: str | None = None,
    **embedder_options: Any,
) -> Pool:
    """An existing pool, with the embedder it was indexed with.

    Args:
        name: The pool's name.
        embedder: ``None``: the one the pool records (the usual case); else a spec or an
            embedder, which must be the pool's.
        path: Embedded Chroma folder (default: xling's).
        url: Chroma server URL instead of a folder.
        **embedder_options: Options of the embedder's spec (``max_tokens``, ``on_long``, ...),
            applied to the named or recorded spec.

    Raises:
        InvalidInputError: On a bad name, a pool that does not exist (the message lists the
            existing ones), or an embedder other than the pool's.
        ServiceUnavailableError: If the Chroma server does not answer.
    """
    if embedder_options and not isinstance(embedder, Embedder):
        spec = embedder or Pool.recorded_embedder(name, path=path, url=url) or DEFAULT_EMBEDDER
        embedder = get_embedder(spec, **embedder_options)
    return Pool.open(name, embedder, path=path, url=url, create=False)
