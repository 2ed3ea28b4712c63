"""The answer pipeline: retrieve → rerank → answer in the asker's language → check and re-ask.

``xling.rag`` held the embedders, the Chroma store and retrieval until 0.2; they are now the
packages :mod:`xling.embedders`, :mod:`xling.store` and :mod:`xling.retrieval`. The names the
0.1 README imported from here still resolve, with a :class:`DeprecationWarning`, for one release.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__: list[str] = []

# Names the 0.1 README imported from ``xling.rag``, and where they live now.
_MOVED = {
    "Pool": "xling.store",
    "Record": "xling.store",
    "IndexReport": "xling.store",
    "aligned_records": "xling.store",
    "connect": "xling.store",
    "default_chroma_path": "xling.store",
    "load_aligned": "xling.store",
    "load_jsonl": "xling.store",
    "load_lines": "xling.store",
    "load_tsv": "xling.store",
    "read_lines": "xling.store",
    "AlignedPool": "xling.core.records",
    "Hit": "xling.core.records",
    "DEFAULT_EMBEDDER": "xling.embedders",
    "Embedder": "xling.embedders",
    "EmbeddingCache": "xling.embedders",
    "get_embedder": "xling.embedders",
}


def __getattr__(name: str) -> Any:
    target = _MOVED.get(name)
    if target is None:
        raise AttributeError(f"module 'xling.rag' has no attribute {name!r}")
    warnings.warn(
        f"xling.rag.{name} moved to {target}.{name}; the old path goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    value = getattr(importlib.import_module(target), name)
    globals()[name] = value  # warn once: later look-ups find the name without this function
    return value
