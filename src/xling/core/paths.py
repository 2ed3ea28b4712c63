"""Folders xling keeps its caches in (embeddings, Chroma pools, the embedded LLM)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    """Returns xling's cache folder: ``$XLING_CACHE_DIR``, else ``$XDG_CACHE_HOME/xling``."""
    explicit = os.environ.get("XLING_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xling"
