"""The answer pipeline: retrieve → rerank → answer in the asker's language → check and re-ask.

``xling.rag`` held the embedders, the Chroma store and retrieval until 0.2; they are now the
packages :mod:`xling.embedders`, :mod:`xling.store` and :mod:`xling.retrieval`. The names the
0.1 README imported from here still resolve, with a :class:`DeprecationWarning`, for one release.
"""

from __future__ import annotations

from xling.core.imports import lazy_attributes

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


__getattr__ = lazy_attributes(globals(), _MOVED, deprecated=True)
