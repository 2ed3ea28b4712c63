"""Indexes derived from a pool (BM25, margin statistics): where they live and when to rebuild.

A derived index is keyed by the pool's state, ``(collection id/deletions, record count)`` (see
:meth:`~xling.store.pool.Pool.state`): record ids come from content and every deletion is
counted, so the same state means the same contents, and a pool rebuilt in place has a new
collection id. Each query batch compares the state (one ``count`` call); a stale index is
brought up to date before the batch: BM25 gets a segment and tombstones (:mod:`.bm25_segments`),
margin statistics are updated for what was added, or recomputed when passages were deleted
(their neighbours may have been among them; see :mod:`xling.retrieval.margin`).

Files live beside an embedded pool (``<folder>/xling-derived/<collection id>/``), or for a
Chroma server or Cloud in xling's cache (``<cache>/derived/<server digest>/<collection id>/``);
each is written with :func:`xling.core.files.write_atomic`, so a reader never sees half a file.

What changed since an index was built is found by :func:`pool_ids` (ids only, no texts): the
ids the pool has and the index lacks were added, those the index has and the pool lacks were
deleted (an updated document is both: its new chunks added, its old ones deleted), and only the
added passages are then read (:func:`passage_texts`). A pool whose collection id changed (it
was rebuilt or recreated) has a new folder, so its indexes are built again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.paths import default_cache_dir
from xling.store.documents import embedded_text, read_stored
from xling.store.pool import Pool

__all__ = [
    "PoolSnapshot",
    "derived_dir",
    "passage_texts",
    "pool_ids",
    "read_json",
    "snapshot",
]


def derived_dir(pool: Pool, collection_id: str) -> Path:
    """The folder of a pool's derived indexes (one per collection, whatever its deletions)."""
    collection_id = collection_id.split("/", 1)[0]
    db = pool.db
    if db.folder is not None:
        base = Path(db.folder) / "xling-derived"
    else:
        digest = hashlib.sha256(str(db.url).encode("utf-8")).hexdigest()[:16]
        base = default_cache_dir() / "derived" / digest
    return base / collection_id


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or ``None`` if it is missing or unreadable (then rebuilt)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class PoolSnapshot:
    """Every passage of a pool as of one state, in a fixed order.

    Attributes:
        state: ``(collection id, count)`` when it was read.
        ids: Record ids.
        texts: Passage texts as they were embedded (a chunk's heading path before its text),
            so that BM25 matches the words of a chunk's headings too.
        langs: Their languages.
        vectors: Their unit vectors, if read.
    """

    state: tuple[str, int]
    ids: list[str]
    texts: list[str]
    langs: list[str]
    vectors: np.ndarray | None = None


def snapshot(pool: Pool, *, with_vectors: bool) -> PoolSnapshot:
    """Reads the whole pool (ids in the pool's (source, row) order)."""
    state = pool.state()
    ids, texts, metas, vectors = pool.listing(None, with_vectors)
    embedded = [embedded_text(t, m) for t, m in zip(texts, metas, strict=True)]
    return PoolSnapshot(
        (state[0], len(ids)), ids, embedded, [str(m.get("lang", "")) for m in metas], vectors
    )


def pool_ids(pool: Pool) -> list[str]:
    """Every record id of the pool (read in pages, without texts, metadata or vectors)."""
    return [str(i) for i in read_stored(pool, None, [])["ids"]]


def passage_texts(pool: Pool, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ids among ``ids`` still in the pool and their texts as they were embedded."""
    found: list[str] = []
    texts: list[str] = []
    for start in range(0, len(ids), pool.max_batch):
        with pool.damage_is_named(), pool.reading() as collection:
            if collection is None:
                break
            got = collection.get(
                ids=list(ids[start : start + pool.max_batch]), include=["documents", "metadatas"]
            )
        for rid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            found.append(str(rid))
            texts.append(embedded_text(text or "", meta))
    return found, texts
