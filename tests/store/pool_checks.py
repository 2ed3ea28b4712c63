"""Helpers for the pool tests: FLORES records, a real second process, and a consistency check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xling.embedders import Embedder
from xling.store import Pool, Record

PYTHON = sys.executable
XLING = str(Path(sys.executable).parent / "xling")


def subprocess_env(cache_dir: Path) -> dict[str, str]:
    """The environment of a child process: the session's embedding cache, no colours."""
    env = dict(os.environ)
    env.update(XLING_CACHE_DIR=str(cache_dir), NO_COLOR="1", COLUMNS="400", TERM="dumb")
    return env


def run_xling(
    args: Sequence[str], cache_dir: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Runs the real ``xling`` command in another process."""
    return subprocess.run(
        [XLING, *args], capture_output=True, text=True, timeout=timeout,
        env=subprocess_env(cache_dir), stdin=subprocess.DEVNULL,
    )  # fmt: skip


def precreate_pool(folder: Path, name: str, embedder: Embedder, sync_threshold: int) -> None:
    """Creates an empty xling pool whose HNSW index is saved every ``sync_threshold`` records.

    Chroma saves an embedded collection's index to disk every 1,000 records by default; a small
    threshold makes the tests' few hundred records go through the same saves (and so through
    what goes wrong when two processes save one folder) in seconds.
    """
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(folder), settings=Settings(anonymized_telemetry=False)
    )
    client.create_collection(
        name,
        configuration={
            "hnsw": {"space": "cosine", "sync_threshold": sync_threshold, "batch_size": 10}
        },
        metadata={
            "xling:embedder": embedder.id,
            "xling:dim": embedder.dim,
            "xling:layout": "passages",
        },
        embedding_function=None,
    )
    client.close()


def assert_consistent(pool: Pool, records: Sequence[Record], embedder: Embedder) -> None:
    """The pool holds exactly ``records``, every vector is readable and right, search is exact.

    Vectors are read in groups of 50 (a damaged pool fails on some groups); each must be the
    embedding of its text; and for 40 queries Chroma's best hit is the brute-force best hit
    over the reference vectors, with no id twice in the top 10.
    """
    by_id = {r.id: r for r in records}
    ids = sorted(by_id)
    assert pool.count() == len(ids)
    collection = pool.collection
    assert sorted(collection.get(include=[])["ids"]) == ids
    stored: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), 50):
        got = collection.get(ids=ids[start : start + 50], include=["embeddings", "documents"])
        for rid, vec, doc in zip(got["ids"], got["embeddings"], got["documents"], strict=True):
            assert doc == by_id[rid].text
            stored[rid] = np.asarray(vec, dtype=np.float32)
    reference = embedder.embed_documents([by_id[rid].text for rid in ids])
    sims = np.einsum("ij,ij->i", np.stack([stored[rid] for rid in ids]), reference)
    assert float(sims.min()) > 0.99, f"{int((sims <= 0.99).sum())} vectors are not their text's"
    queries = [by_id[rid].text for rid in ids[:: max(1, len(ids) // 40)]][:40]
    q = embedder.embed_queries(queries, task="asymmetric")
    best = [ids[i] for i in np.argmax(q @ reference.T, axis=1)]
    found = collection.query(query_embeddings=q, n_results=10, include=[])["ids"]
    assert all(len(set(row)) == len(row) for row in found), "search returned an id twice"
    assert [row[0] for row in found] == best


RAW_WRITER = """
import json, sys
import chromadb, numpy as np
from chromadb.config import Settings
folder, name, data = sys.argv[1:4]
batch = json.load(open(data + ".json"))
vectors = np.load(data + ".npy")
client = chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
collection = client.get_collection(name, embedding_function=None)
for start in range(0, len(batch["ids"]), 10):
    end = start + 10
    collection.upsert(ids=batch["ids"][start:end], embeddings=vectors[start:end],
                      documents=batch["documents"][start:end],
                      metadatas=batch["metadatas"][start:end])
"""


def damage_pool(
    folder: Path, name: str, embedder: Embedder, parts: Sequence[Sequence[Record]]
) -> Pool:
    """A pool damaged the way two unlocked writers damage one: by a write from a stale view.

    This process indexes ``parts[0]``; a plain ``chromadb`` process (no xling lock, no
    generation bump, like an older xling) writes ``parts[1]``; this process, whose view of the
    HNSW index is now stale, writes ``parts[2]`` and saves that view over the other one's.

    Returns:
        The (damaged) pool, opened by this process.
    """
    precreate_pool(folder, name, embedder, sync_threshold=20)
    pool = Pool.open(name, embedder, path=folder)
    pool.index(parts[0], batch_size=10)
    data = folder.parent / f"{name}-batch"
    middle = list(parts[1])
    np.save(f"{data}.npy", embedder.embed_documents([r.text for r in middle]))
    Path(f"{data}.json").write_text(
        json.dumps(
            {
                "ids": [r.id for r in middle],
                "documents": [r.text for r in middle],
                "metadatas": [r.chroma_metadata() for r in middle],
            }
        ),
        encoding="utf-8",
    )
    subprocess.run([PYTHON, "-c", RAW_WRITER, str(folder), name, str(data)], check=True)
    pool.index(parts[2], batch_size=10)
    return pool
