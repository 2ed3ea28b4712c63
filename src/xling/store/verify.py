"""Checking a pool against its embedder, and repairing what is broken.

A pool can be damaged by writers that bypassed xling's lock (two processes on one embedded
folder with an older xling, or plain ``chromadb`` code): records whose vector can no longer be
read ("Error getting embedding"), vectors that belong to another text, an HNSW graph that returns
repeated ids and misses the true best hit. Texts and metadata live in Chroma's SQLite tables and
survive; so :func:`verify_pool` reads every vector (in small groups, bisecting a group that fails
to find the bad ids), re-embeds a sample of texts to compare, and looks a sample up by its own
vector. With ``repair=True`` it re-writes the bad records with fresh vectors, and when the index
itself is damaged (search misses healthy records) it rebuilds the pool (:func:`rebuild_pool`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.validation import check_positive_int
from xling.store.collection import collection_names
from xling.store.documents import embedded_text, repair_documents
from xling.store.shards import SHARDS_KEY

if TYPE_CHECKING:
    from xling.store.pool import Pool

__all__ = ["VerifyReport", "verify_pool", "rebuild_pool", "MIN_SIMILARITY", "READ_GROUP"]

READ_GROUP = 50
"""Records whose vectors are read in one call; a group that fails is bisected."""
MIN_SIMILARITY = 0.99
"""A stored vector "matches" when its cosine with a fresh embedding of its text is at least this."""
_SEARCH_K = 10
_QUERY_GROUP = 100
_EXAMPLES = 10
_SEED = 0


@dataclass
class VerifyReport:
    """What :func:`verify_pool` found and did.

    Attributes:
        pool: Pool name.
        embedder: The pool's embedder id.
        records: Records listed in the pool.
        duplicate_ids: Ids listed more than once.
        unreadable: Records whose vector could not be read.
        bad_vectors: Vectors missing, of the wrong dimension, not finite or not unit-norm.
        compared: Records re-embedded to compare with their stored vector.
        mismatched: Compared records whose stored vector is not their text's.
        searched: Records looked up by a fresh embedding of their text.
        search_failures: Look-ups that missed the record or returned an id twice.
        stale_chunks: Chunks of a document version that is partial or superseded (left by a
            process killed during an update); the repair deletes them.
        repaired: Records re-written with fresh vectors.
        rebuilt: Whether the pool was rebuilt from its texts.
        remaining: Problems left after the repair (``None`` when no repair was asked).
        examples: Up to ten ids with a problem.
    """

    pool: str
    embedder: str
    records: int = 0
    duplicate_ids: int = 0
    unreadable: int = 0
    bad_vectors: int = 0
    compared: int = 0
    mismatched: int = 0
    searched: int = 0
    search_failures: int = 0
    stale_chunks: int = 0
    repaired: int = 0
    rebuilt: bool = False
    remaining: int | None = None
    examples: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        """Problems found (a record can count under several headings)."""
        return (
            self.duplicate_ids
            + self.unreadable
            + self.bad_vectors
            + self.mismatched
            + self.search_failures
            + self.stale_chunks
        )

    @property
    def ok(self) -> bool:
        """No problem found, or none left after the repair."""
        return self.remaining == 0 if self.remaining is not None else self.problems == 0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values, with ``problems`` and ``ok``."""
        return {**asdict(self), "problems": self.problems, "ok": self.ok}

    def summary(self) -> str:
        """One line: what was checked, what was wrong, what was done."""
        found = (
            f"{self.unreadable} unreadable, {self.bad_vectors} bad vectors, "
            f"{self.mismatched} of {self.compared} mismatched, "
            f"{self.search_failures} of {self.searched} search failures, "
            f"{self.duplicate_ids} duplicate ids"
        )
        if self.stale_chunks:
            found += f", {self.stale_chunks} chunks of partial or superseded document versions"
        line = f"pool {self.pool}: {self.records} records checked; {found}"
        if self.remaining is not None:
            how = " by rebuilding" if self.rebuilt else ""
            line += f"; repaired {self.repaired}{how}; {self.remaining} problems left"
        return line


@dataclass
class _Listing:
    ids: list[str]
    documents: dict[str, str]
    metadatas: dict[str, dict[str, Any]]
    duplicates: int

    def embedded(self, rid: str) -> str:
        """The text that was embedded for ``rid`` (a chunk's heading prefix included)."""
        return embedded_text(self.documents[rid], self.metadatas[rid])


@dataclass
class _Scan:
    unreadable: set[str] = field(default_factory=set)
    bad_vectors: set[str] = field(default_factory=set)
    mismatched: set[str] = field(default_factory=set)
    search_failed: set[str] = field(default_factory=set)
    repeated: int = 0
    compared: int = 0
    searched: int = 0

    def bad(self) -> set[str]:
        return self.unreadable | self.bad_vectors | self.mismatched | self.search_failed

    def index_damaged(self) -> bool:
        """Search misses records that are otherwise fine, or repeats ids: the graph is broken."""
        other = self.unreadable | self.bad_vectors | self.mismatched
        return self.repeated > 0 or bool(self.search_failed - other)


def _list(pool: Pool) -> _Listing:
    """Every id with its text and metadata (from Chroma's tables, readable even when damaged)."""
    ids: list[str] = []
    documents: dict[str, str] = {}
    metadatas: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        with pool.reading() as collection:
            if collection is None:
                break
            got = collection.get(
                include=["documents", "metadatas"], limit=pool.max_batch, offset=offset
            )
        for rid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            ids.append(rid)
            documents[rid] = doc
            metadatas[rid] = dict(meta or {})
        if len(got["ids"]) < pool.max_batch:
            break
        offset += len(got["ids"])
    unique = list(dict.fromkeys(ids))
    return _Listing(unique, documents, metadatas, len(ids) - len(unique))


def _read_vectors(pool: Pool, ids: Sequence[str]) -> tuple[dict[str, np.ndarray | None], set[str]]:
    """Reads the vectors of ``ids``, bisecting a group Chroma fails on to find the bad ids."""
    from chromadb.errors import ChromaError

    try:
        with pool.reading() as collection:
            got = collection.get(ids=list(ids), include=["embeddings"])
    except ChromaError:
        if len(ids) == 1:
            return {}, {ids[0]}
        half = len(ids) // 2
        left, bad_left = _read_vectors(pool, ids[:half])
        right, bad_right = _read_vectors(pool, ids[half:])
        return {**left, **right}, bad_left | bad_right
    embeddings = got.get("embeddings")
    vectors: dict[str, np.ndarray | None] = dict.fromkeys(ids)
    for i, rid in enumerate(got["ids"]):
        vec = embeddings[i] if embeddings is not None else None
        vectors[rid] = np.asarray(vec, dtype=np.float32) if vec is not None else None
    return vectors, set()


def _sample(ids: Sequence[str], sample: int | None, extra: Iterable[str] = ()) -> list[str]:
    chosen = list(ids) if sample is None or sample >= len(ids) else None
    if chosen is None:
        chosen = random.Random(_SEED).sample(list(ids), sample or 0)
    return list(dict.fromkeys([*extra, *chosen]))


def _scan(
    pool: Pool,
    listing: _Listing,
    *,
    sample: int | None,
    tolerance: float,
    must_compare: Iterable[str] = (),
    on_progress: ProgressCallback | None = None,
) -> _Scan:
    scan = _Scan()
    vectors: dict[str, np.ndarray] = {}
    dim = pool.embedder.dim
    total = len(listing.ids)
    for start in range(0, total, READ_GROUP):
        got, bad = _read_vectors(pool, listing.ids[start : start + READ_GROUP])
        scan.unreadable |= bad
        for rid, vec in got.items():
            norm = float(np.linalg.norm(vec)) if vec is not None and vec.shape == (dim,) else -1.0
            if vec is None or not np.isfinite(norm) or abs(norm - 1.0) > tolerance:
                scan.bad_vectors.add(rid)
            else:
                vectors[rid] = vec
        if on_progress:
            on_progress(min(start + READ_GROUP, total), total)
    readable = [rid for rid in listing.ids if rid in vectors]
    extra = [rid for rid in must_compare if rid in vectors]
    chosen = _sample(readable, sample, extra)
    scan.compared = scan.searched = len(chosen)
    if not chosen:
        return scan
    fresh = pool.embedder.embed_documents([listing.embedded(rid) for rid in chosen])
    stored = np.stack([vectors[rid] for rid in chosen])
    for rid, sim in zip(chosen, np.einsum("ij,ij->i", stored, fresh), strict=True):
        if float(sim) < MIN_SIMILARITY:
            scan.mismatched.add(rid)
    k = min(_SEARCH_K, len(listing.ids))
    for start in range(0, len(chosen), _QUERY_GROUP):
        part = chosen[start : start + _QUERY_GROUP]
        with pool.reading() as collection:
            result = collection.query(
                query_embeddings=fresh[start : start + len(part)], n_results=k, include=[]
            )
        for rid, found in zip(part, result["ids"], strict=True):
            if len(set(found)) != len(found):
                scan.repeated += 1
                scan.search_failed.add(rid)
            elif rid not in found:
                scan.search_failed.add(rid)
    return scan


def _report(pool: Pool, listing: _Listing, scan: _Scan) -> VerifyReport:
    return VerifyReport(
        pool=pool.name,
        embedder=pool.embedder.id,
        records=len(listing.ids),
        duplicate_ids=listing.duplicates,
        unreadable=len(scan.unreadable),
        bad_vectors=len(scan.bad_vectors),
        compared=scan.compared,
        mismatched=len(scan.mismatched),
        searched=scan.searched,
        search_failures=len(scan.search_failed),
        examples=sorted(scan.bad())[:_EXAMPLES],
    )


def _rewrite(pool: Pool, listing: _Listing, ids: Sequence[str]) -> int:
    """Upserts ``ids`` again with fresh vectors of their stored texts."""
    step = min(pool.max_batch, 256)
    for start in range(0, len(ids), step):
        part = list(ids[start : start + step])
        vectors = pool.embedder.embed_documents([listing.embedded(rid) for rid in part])
        with pool.committing() as collection:
            collection.upsert(
                ids=part,
                embeddings=vectors,
                documents=[listing.documents[rid] for rid in part],
                metadatas=[listing.metadatas[rid] or None for rid in part],
            )
    return len(ids)


def verify_pool(
    pool: Pool,
    *,
    repair: bool = False,
    sample: int | None = 256,
    tolerance: float = 1e-3,
    on_progress: ProgressCallback | None = None,
) -> VerifyReport:
    """Checks every record of a pool, and with ``repair=True`` fixes what it can.

    Checks: every listed id is unique and its vector readable, of the embedder's dimension,
    finite and unit-norm (within ``tolerance``); for ``sample`` records, the stored vector is
    the embedding of the stored text (cosine at least :data:`MIN_SIMILARITY`) and a search with
    that embedding returns the record without repeated ids. The write lock is held throughout.

    Repair re-writes the bad records with fresh embeddings of their texts; if search still
    fails, or it failed on records that are otherwise fine (a damaged index), the pool is
    rebuilt (:func:`rebuild_pool`). A last full check gives :attr:`VerifyReport.remaining`.

    Args:
        pool: The pool.
        repair: Fix what was found.
        sample: Records to re-embed and look up (``None``: all of them).
        tolerance: Allowed distance of a vector's norm from 1.
        on_progress: Called with (records read, records) while reading vectors.

    Returns:
        The report of the first check, with what the repair did.

    Raises:
        InvalidInputError: On a bad ``sample`` or ``tolerance``.
        PoolLockedError: If another process is writing and the lock timeout ran out.
    """
    if sample is not None:
        check_positive_int(sample, "sample")
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance <= 0:
        raise InvalidInputError(f"tolerance={tolerance!r} is not allowed; use a positive number")
    doing = f"verifying pool {pool.name!r}"
    with pool.db.calls(doing), pool.writing():
        listing = _list(pool)
        scan = _scan(pool, listing, sample=sample, tolerance=tolerance, on_progress=on_progress)
        report = _report(pool, listing, scan)
        report.stale_chunks = repair_documents(pool, dry_run=True)
        if not repair:
            return report
        if report.stale_chunks:
            repair_documents(pool)
            report.repaired += report.stale_chunks
            listing = _list(pool)
        bad = sorted(scan.bad() & set(listing.ids))
        if not bad and not listing.duplicates:
            report.remaining = 0
            return report
        damaged = scan.index_damaged() or listing.duplicates > 0
        if not damaged:  # re-write the bad records in place; rebuild only if that is not enough
            report.repaired += _rewrite(pool, listing, bad)
            again = _scan(pool, listing, sample=sample, tolerance=tolerance, must_compare=bad)
            if not again.bad():
                report.remaining = 0
                return report
        report.repaired += rebuild_pool(pool)
        report.rebuilt = True
        final = _scan(pool, _list(pool), sample=sample, tolerance=tolerance, must_compare=bad)
        report.remaining = len(final.bad())
        return report


def _rebuild_name(name: str) -> str:
    return f"{name[:490]}.xling-rebuild"


def _hnsw_configuration(collection: Any) -> dict[str, Any]:
    """The HNSW settings of a collection, to give its rebuilt copy the same ones."""
    keys = ("space", "ef_construction", "ef_search", "max_neighbors", "sync_threshold")
    try:
        hnsw = dict((collection.configuration or {}).get("hnsw") or {})
    except Exception:
        hnsw = {}
    config = {k: hnsw[k] for k in keys if hnsw.get(k) is not None}
    if "batch_size" in hnsw and hnsw["batch_size"] is not None:
        config["batch_size"] = hnsw["batch_size"]
    config.setdefault("space", "cosine")
    return {"hnsw": config}


def rebuild_pool(pool: Pool, *, on_progress: ProgressCallback | None = None) -> int:
    """Rewrites a pool from its stored texts and metadata, with fresh vectors, in a new index.

    The records are written to a new collection ``NAME.xling-rebuild`` first; only when it holds
    them all is the old collection deleted and the new one renamed, so an interrupted rebuild
    leaves the old pool in place (and the next rebuild starts over). The write lock is held
    throughout; re-embedding is cheap for texts in the embedding cache.

    Args:
        pool: The pool.
        on_progress: Called with (records written, records).

    Returns:
        The number of records written.

    Raises:
        PoolLockedError: If another process is writing and the lock timeout ran out.
    """
    tmp_name = _rebuild_name(pool.name)
    with pool.db.calls(f"rebuilding pool {pool.name!r}"), pool.writing():
        listing = _list(pool)
        with pool.reading() as old:
            if old is None:
                raise InvalidInputError(f"pool {pool.name!r} has nothing to rebuild")
            if (old.metadata or {}).get(SHARDS_KEY):
                raise InvalidInputError(
                    f"pool {pool.name!r} is sharded and cannot be rebuilt in place; ingest its "
                    "documents into a new pool"
                )
            configuration, metadata = _hnsw_configuration(old), dict(old.metadata or {})
        with pool.db.committing() as client:
            if tmp_name in collection_names(client):
                client.delete_collection(tmp_name)
            client.create_collection(
                tmp_name, configuration=configuration, metadata=metadata, embedding_function=None
            )
        step = min(pool.max_batch, 256)
        total = len(listing.ids)
        for start in range(0, total, step):
            part = listing.ids[start : start + step]
            vectors = pool.embedder.embed_documents([listing.embedded(rid) for rid in part])
            with pool.db.committing() as client:
                client.get_collection(tmp_name, embedding_function=None).upsert(
                    ids=part,
                    embeddings=vectors,
                    documents=[listing.documents[rid] for rid in part],
                    metadatas=[listing.metadatas[rid] or None for rid in part],
                )
            if on_progress:
                on_progress(start + len(part), total)
        with pool.db.committing() as client:
            fresh = client.get_collection(tmp_name, embedding_function=None)
            if fresh.count() != total:
                raise InvalidInputError(
                    f"rebuilding pool {pool.name!r} wrote {fresh.count()} of {total} records; "
                    "the old pool is kept, run the repair again"
                )
            client.delete_collection(pool.name)
            fresh.modify(name=pool.name)
            pool.reload()
    return total
