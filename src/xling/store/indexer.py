"""Indexing: records checked, embedded and upserted into a pool, with a report of what was done.

Record ids derive from content, so indexing is an idempotent upsert: an interrupted run is
resumed by running it again, and an unchanged pool re-embeds nothing. Everything is checked
before the first write, and the pool's collection is created by that write, so a refused run
leaves nothing behind. Verification and rebuilding live beside it (:mod:`xling.store.verify`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.records import FieldsDict
from xling.core.validation import check_positive_int, check_texts
from xling.store.collection import EMBEDDER_KEY, LAYOUT, LAYOUT_KEY, get_collection
from xling.store.records import Record, check_metadata, merge_metadata, pair_keys

if TYPE_CHECKING:
    from xling.store.pool import Pool

__all__ = ["IndexReport", "check_layout", "check_records", "index_pool", "stored_metadata"]


@dataclass(frozen=True)
class IndexReport(FieldsDict):
    """What one indexing run did.

    Attributes:
        total: Distinct records given (one per text and language).
        added: Records embedded and written in this run.
        skipped: Records already in the pool.
        updated: Of the skipped, records whose metadata gained translation pairs (no
            re-embedding).
    """

    total: int
    added: int
    skipped: int
    updated: int = 0


def _record_name(record: Record, index: int) -> str:
    if record.source and record.row is not None:
        return f"record {record.source}:{record.row + 1}"
    return f"record {index}"


def check_records(records: Sequence[Record]) -> dict[str, Record]:
    """Checks records for indexing, before anything is written.

    Args:
        records: The records.

    Returns:
        The records by id, duplicates kept once (the first; see :func:`stored_metadata` for
        the pairs of all).

    Raises:
        InvalidInputError: On a non-record, an empty text, or metadata that Chroma would
            refuse or xling reserves (see :func:`~xling.store.records.check_metadata`); records
            are checked again here because their metadata dict can change after creation.
    """
    if records is None or isinstance(records, str | bytes | Record):
        raise InvalidInputError(f"records must be a list of xling Records, got {records!r:.60}")
    unique: dict[str, Record] = {}
    for i, record in enumerate(records):
        if not isinstance(record, Record):
            raise InvalidInputError(f"records must be xling Record objects, got {record!r:.60}")
        check_metadata(record.metadata, _record_name(record, i))
        unique.setdefault(record.id, record)
    check_texts([r.text for r in unique.values()], "record texts")
    return unique


def stored_metadata(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """The Chroma metadata of each distinct record: one text met in several pairs lists them all."""
    merged: dict[str, dict[str, Any]] = {}
    for record in records:
        meta = record.chroma_metadata()
        rid = record.id
        merged[rid] = merge_metadata(merged[rid], meta) if rid in merged else meta
    return merged


def index_pool(
    pool: Pool,
    records: Sequence[Record],
    *,
    batch_size: int = 256,
    on_progress: ProgressCallback | None = None,
) -> IndexReport:
    """Embeds and upserts the records that are not in the pool yet.

    Everything is checked before the first write (a refused call leaves no pool behind),
    including, for an embedder with ``on_long="refuse"``, the length of every new text. Each
    batch is written as soon as it is embedded; ids come from content, so a run that stops half
    way is resumed by running it again, without duplicates. On an embedded folder the write
    lock is held for the whole call.

    Args:
        pool: The pool.
        records: Records to add (duplicates by id are kept once).
        batch_size: Records embedded and written per step (capped by Chroma's maximum).
        on_progress: Called with (records done, records to do) after each step.

    Returns:
        Counts of what was added and skipped.

    Raises:
        InvalidInputError: On a bad batch size or record (see :func:`check_records`).
        PoolLockedError: If another process is writing and the lock timeout ran out.
        ServiceUnavailableError: If the server stops answering (re-running resumes).
    """
    check_positive_int(batch_size, "batch_size")
    unique = check_records(records)
    metas = stored_metadata(list(records))
    hint = "; run it again to resume: ids come from content, so nothing is written twice"
    with pool.db.calls(f"indexing pool {pool.name!r}", hint), pool.writing():
        with pool.reading() as collection:
            existed = collection is not None
            if existed:
                check_layout(pool.name, collection)
        present = _existing(pool, list(unique))
        todo = [r for rid, r in unique.items() if rid not in present]
        updates = {
            rid: merge_metadata(stored, metas[rid])
            for rid, stored in present.items()
            if not pair_keys(metas[rid]).items() <= pair_keys(stored).items()
        }
        _check_lengths(pool, todo)
        step = min(batch_size, pool.max_batch)
        if on_progress:
            on_progress(0, len(todo))
        done = 0
        try:
            for start in range(0, len(todo), step):
                chunk = todo[start : start + step]
                vectors = pool.embedder.embed_documents([r.text for r in chunk])
                with pool.committing() as collection:
                    collection.upsert(
                        ids=[r.id for r in chunk],
                        embeddings=vectors,
                        documents=[r.text for r in chunk],
                        metadatas=[metas[r.id] for r in chunk],
                    )
                done += len(chunk)
                if on_progress:
                    on_progress(done, len(todo))
            ids = list(updates)
            for start in range(0, len(ids), step):
                part = ids[start : start + step]
                with pool.committing() as collection:
                    collection.update(ids=part, metadatas=[updates[i] for i in part])
        except BaseException:
            if not existed and done == 0:
                _drop_if_empty(pool)
            raise
    return IndexReport(
        total=len(unique), added=len(todo), skipped=len(present), updated=len(updates)
    )


def _existing(pool: Pool, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored metadata of those ids that are in the pool."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), pool.max_batch):
        with pool.reading() as collection:
            if collection is None:
                return found
            got = collection.get(ids=ids[start : start + pool.max_batch], include=["metadatas"])
        for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
            found[rid] = dict(meta or {})
    return found


def check_layout(name: str, collection: Any) -> None:
    """Refuses to write into a pool of the older layout (one record per pair side)."""
    metadata = collection.metadata or {}
    if metadata.get(EMBEDDER_KEY) is None:
        raise InvalidInputError(
            f"collection {name!r} was not made by xling (a LlamaIndex or other "
            "collection): xling searches it but does not write to it"
        )
    if metadata.get(LAYOUT_KEY) == LAYOUT or collection.count() == 0:
        return
    raise InvalidInputError(
        f"pool {name!r} was written by an older xling (one record per side of each "
        "pair, so a text shared by pairs is stored more than once); it can still be read, "
        "but index into a new pool name to add records"
    )


def _check_lengths(pool: Pool, records: Sequence[Record]) -> None:
    """Refuses, before the first write, a text the embedder would refuse half way."""
    embedder = pool.embedder
    if getattr(embedder, "on_long", None) != "refuse" or not hasattr(embedder, "fit"):
        return
    for i, record in enumerate(records):
        try:
            embedder.fit(record.text, "document")
        except InvalidInputError as exc:
            raise InvalidInputError(f"{_record_name(record, i)}: {exc}") from None


def _drop_if_empty(pool: Pool) -> None:
    """Deletes the collection this run created if its first write failed."""
    try:
        with pool.db.committing() as client:
            collection = get_collection(client, pool.name)
            if collection is not None and collection.count() == 0:
                client.delete_collection(pool.name)
            pool.reload()
    except Exception:  # the failure being raised matters more (a dead server, ...)
        pass
