"""A persistent embedding cache keyed by (embedder id, role, sha256 of the text).

The text hashed is the one embedded: after the length limit, so a text truncated under one cap
and the same text whole under a larger cap never share a vector.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from xling.core.paths import default_cache_dir
from xling.embedders.base import Embedder, Role

__all__ = ["EmbeddingCache", "CachedEmbedder", "default_cache_dir", "text_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    role TEXT NOT NULL,
    key BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, role, key)
) WITHOUT ROWID
"""
_CHUNK = 500  # below SQLite's default limit of bound parameters


def text_key(text: str) -> bytes:
    """The sha256 digest of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Float32 vectors in one SQLite file, safe to share between threads and processes.

    Args:
        path: The database file; default ``<cache dir>/embeddings.sqlite``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def get_many(self, embedder: str, role: Role, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Returns the cached vectors among ``keys``."""
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, vector FROM embeddings WHERE embedder=? AND role=? "
                    f"AND key IN ({marks})",
                    (embedder, role, *chunk),
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(
        self, embedder: str, role: Role, items: Iterable[tuple[bytes, np.ndarray]]
    ) -> None:
        """Stores vectors (float32) under their keys, replacing existing ones."""
        rows = [
            (embedder, role, key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items
        ]
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?)", rows)
            self._conn.commit()

    def count(self, embedder: str | None = None) -> int:
        """Number of cached vectors, for one embedder or all."""
        with self._lock:
            if embedder is None:
                row = self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT COUNT(*) FROM embeddings WHERE embedder=?", (embedder,)
                ).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Closes the database connection."""
        with self._lock:
            self._conn.close()


class CachedEmbedder(Embedder):
    """Wraps an embedder so that each (role, text) is embedded once, ever.

    The wrapper applies the length limit (its own :attr:`max_tokens` and :attr:`on_long`,
    copied from ``inner``, counting with ``inner``'s tokenizer) before the cache lookup, so the
    cache key is the text as embedded.

    Args:
        inner: The embedder doing the work.
        cache: Where vectors persist; default the shared cache file.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache | None = None) -> None:
        self.inner = inner
        self.cache = cache if cache is not None else EmbeddingCache()
        self.id = inner.id
        self.dim = inner.dim
        self.batch_size = inner.batch_size
        self.max_tokens = inner.max_tokens
        self.on_long = inner.on_long
        self.scheme = inner.scheme

    def _embed_checked(self, texts: list[str], role: Role) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        found = self.cache.get_many(self.id, role, list(dict.fromkeys(keys)))
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                missing.setdefault(key, text)
        if missing:
            fresh = self.inner._embed_checked(list(missing.values()), role)
            pairs = list(zip(missing.keys(), fresh, strict=True))
            self.cache.put_many(self.id, role, pairs)
            found.update(pairs)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def _count_tokens(self, text: str, role: Role) -> int:
        return self.inner._count_tokens(text, role)

    def _token_bound(self, text: str, role: Role) -> int | None:
        return self.inner._token_bound(text, role)

    def _prompt(self, role: Role) -> str:
        return self.inner._prompt(role)

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return self.inner._encode(texts, role)
