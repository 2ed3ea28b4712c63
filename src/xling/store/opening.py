"""Opening an existing pool by name: the one way the CLI, the server, the experiment runner
and the integrations do it."""

from __future__ import annotations

import os

from xling.embedders import Embedder
from xling.store.pool import Pool

__all__ = ["open_pool"]


def open_pool(
    name: str,
    embedder: str | Embedder | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> Pool:
    """An existing pool, with the embedder it was indexed with.

    Args:
        name: The pool's name.
        embedder: ``None``: the one the pool records (the usual case); else a spec or an
            embedder, which must be the pool's (given with its own options, such as
            ``max_tokens``).
        path: Embedded Chroma folder (default: xling's).
        url: Chroma server URL instead of a folder.

    Raises:
        InvalidInputError: On a bad name, a pool that does not exist (the message lists the
            existing ones), or an embedder other than the pool's.
        ServiceUnavailableError: If the Chroma server does not answer.
    """
    return Pool.open(name, embedder, path=path, url=url, create=False)
