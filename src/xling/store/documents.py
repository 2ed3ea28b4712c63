"""Documents as a pool holds them: their chunks' metadata, listing, deletion and repair.

Each chunk of a document stores, beside the fields users see (``doc_id``, ``title``, ``source``,
``section``, ``page``, ``start``, ``end``, ``chunk``, ``lang``, ``doc_hash``), the version of its
document (a hash of its content and chunking), how many chunks that version has, the hash of
its embedded text, its heading prefix and when it was written (``xling:`` keys, hidden from
hits). With those a reader can tell a complete version from a partial one, and
:func:`repair_documents` can clean up after a process killed during an update (see
:mod:`xling.store.ingest` for the guarantees).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xling.core.errors import InvalidInputError
from xling.core.records import FieldsDict
from xling.core.validation import preview
from xling.documents.records import Chunk, ParsedDocument

if TYPE_CHECKING:
    from xling.store.pool import Pool

__all__ = [
    "DeleteReport",
    "DocumentInfo",
    "delete_documents",
    "embedded_text",
    "list_documents",
    "repair_documents",
]

VERSION_KEY = "xling:version"
"""Chunk metadata: the hash of its document's content and chunking (one per document version)."""
CHUNKS_KEY = "xling:chunks"
"""Chunk metadata: how many chunks its document version has (a version with fewer is partial)."""
TEXT_HASH_KEY = "xling:text_hash"
"""Chunk metadata: SHA-256 of the embedded text, to reuse its vector in the next version."""
PREFIX_KEY = "xling:prefix"
"""Chunk metadata: the text embedded before the chunk's text (its heading path), if any."""
WRITTEN_KEY = "xling:written"
"""Chunk metadata: when its version was written (nanoseconds since the epoch)."""


@dataclass(frozen=True)
class DeleteReport(FieldsDict):
    """What one deletion did.

    Attributes:
        documents: Distinct documents whose chunks were deleted.
        chunks: Chunks deleted.
    """

    documents: int
    chunks: int


@dataclass(frozen=True)
class DocumentInfo(FieldsDict):
    """A document as its pool holds it.

    Attributes:
        doc_id: Its id.
        title: Its title, or ``""``.
        source: Where it came from, or ``""``.
        chunks: Chunks stored.
        langs: Its chunks' languages, most frequent first.
        doc_hash: SHA-256 of the content it was parsed from.
        complete: Whether every chunk of its version is stored (``False`` after a crash,
            until ``--verify --repair``).
    """

    doc_id: str
    title: str
    source: str
    chunks: int
    langs: tuple[str, ...]
    doc_hash: str
    complete: bool = True


def embedded_text(text: str, metadata: Mapping[str, Any] | None) -> str:
    """What was embedded for a stored record: its heading prefix (chunks), then its text."""
    prefix = (metadata or {}).get(PREFIX_KEY)
    return f"{prefix}{text}" if isinstance(prefix, str) else text


def chunk_metadata(
    chunk: Chunk, parsed: ParsedDocument, total: int, written: int
) -> dict[str, Any]:
    doc = parsed.document
    meta: dict[str, Any] = dict(doc.metadata)
    meta.update(
        doc_id=chunk.doc_id,
        title=parsed.title or "",
        source=doc.source or "",
        section=chunk.section_path,
        start=chunk.start,
        end=chunk.end,
        chunk=chunk.index,
        doc_hash=parsed.hash,
    )
    if chunk.page is not None:
        meta["page"] = chunk.page
    if chunk.lang:
        meta["lang"] = chunk.lang
    meta[VERSION_KEY] = chunk.version
    meta[CHUNKS_KEY] = total
    meta[TEXT_HASH_KEY] = chunk.text_hash
    meta[WRITTEN_KEY] = written
    if chunk.prefix:
        meta[PREFIX_KEY] = chunk.prefix
    return meta


def read_stored(
    pool: Pool, where: Mapping[str, Any] | None, include: list[str]
) -> dict[str, list[Any]]:
    """Every stored record matching ``where``, read in pages (one get of many records exceeds
    SQLite's limit on query variables)."""
    got: dict[str, list[Any]] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        with pool.damage_is_named(), pool.reading() as collection:
            if collection is None:
                return got
            page = collection.get(
                where=dict(where) if where else None,
                include=include,
                limit=pool.max_batch,
                offset=offset,
            )
        for key in got:
            values = page[key]
            got[key].extend(list(values) if values is not None else [])
        offset += len(page["ids"])
        if len(page["ids"]) < pool.max_batch:
            return got


def stored_versions(
    pool: Pool, doc_ids: Sequence[str]
) -> dict[str, dict[str, list[tuple[str, dict[str, Any]]]]]:
    """doc_id → version → (chunk id, metadata), for the given documents."""
    found: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]] = {}
    for start in range(0, len(doc_ids), 100):
        part = list(doc_ids[start : start + 100])
        got = read_stored(pool, {"doc_id": {"$in": part}}, ["metadatas"])
        for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
            meta = meta or {}
            versions = found.setdefault(str(meta.get("doc_id")), {})
            versions.setdefault(str(meta.get(VERSION_KEY, "")), []).append((rid, meta))
    return found


def is_complete(chunks: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether every chunk of one stored version is there."""
    return len({m.get("chunk") for _, m in chunks}) == int(chunks[0][1].get(CHUNKS_KEY, -1))


def document_counts(pool: Pool, where: Mapping[str, Any] | None) -> dict[str, int]:
    """doc_id → chunks, for every document (matching ``where``) in the pool."""
    got = read_stored(pool, where or {"doc_id": {"$ne": ""}}, ["metadatas"])
    counts: dict[str, int] = {}
    for meta in got["metadatas"]:
        doc_id = (meta or {}).get("doc_id")
        if isinstance(doc_id, str):
            counts[doc_id] = counts.get(doc_id, 0) + 1
    return counts


def count_deletion(collection: Any) -> None:
    """Counts a deletion in the collection's metadata, so derived indexes see the change even
    when the number of records stayed the same."""
    from xling.store.collection import GENERATION_KEY

    metadata = dict(collection.metadata or {})
    metadata[GENERATION_KEY] = int(metadata.get(GENERATION_KEY, 0)) + 1
    collection.modify(metadata=metadata)


def delete_documents(
    pool: Pool,
    *,
    doc_ids: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
) -> DeleteReport:
    """Deletes documents by id, or every chunk matching a metadata filter.

    Args:
        pool: The pool.
        doc_ids: Documents to delete (ids not in the pool are ignored).
        where: A Chroma metadata filter (``{"source": "old/manual.pdf"}``,
            ``{"lang": {"$in": ["deu", "fra"]}}``); an empty filter is refused.

    Returns:
        How many documents and chunks were deleted.

    Raises:
        InvalidInputError: On neither or both of ``doc_ids`` and ``where``, or an empty filter.
        PoolLockedError: If another process is writing and the lock timeout ran out.
    """
    if (doc_ids is None) == (where is None):
        raise InvalidInputError("give exactly one of doc_ids and where to delete documents")
    if where is not None:
        if not isinstance(where, Mapping) or not where:
            raise InvalidInputError(
                f"where={preview(where)} is not allowed; use a non-empty Chroma metadata filter "
                'such as {"doc_id": "manual.pdf"} (deleting everything is deleting the pool)'
            )
        filters = [dict(where)]
    else:
        if isinstance(doc_ids, str) or not isinstance(doc_ids, Sequence):
            raise InvalidInputError(f"doc_ids must be a list of strings, got {preview(doc_ids)}")
        ids = list(dict.fromkeys(doc_ids))
        if not ids or not all(isinstance(d, str) and d for d in ids):
            raise InvalidInputError(
                f"doc_ids {preview(doc_ids)} is not allowed; use a non-empty list of doc ids"
            )
        filters = [{"doc_id": {"$in": ids[s : s + 100]}} for s in range(0, len(ids), 100)]
    with pool.db.calls(f"deleting from pool {pool.name!r}"), pool.writing():
        chunk_ids: list[str] = []
        docs: set[str] = set()
        for flt in filters:
            got = read_stored(pool, flt, ["metadatas"])
            chunk_ids.extend(got["ids"])
            docs.update(str((m or {}).get("doc_id", rid)) for rid, m in
                        zip(got["ids"], got["metadatas"], strict=True))  # fmt: skip
        if chunk_ids:
            with pool.committing() as collection:
                for start in range(0, len(chunk_ids), pool.max_batch):
                    collection.delete(ids=chunk_ids[start : start + pool.max_batch])
                count_deletion(collection)
    return DeleteReport(len(docs), len(chunk_ids))


def list_documents(pool: Pool, where: Mapping[str, Any] | None = None) -> list[DocumentInfo]:
    """The pool's documents (of chunks matching ``where``), sorted by ``doc_id``."""
    got = read_stored(pool, where or {"doc_id": {"$ne": ""}}, ["metadatas"])
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for meta in got["metadatas"]:
        meta = dict(meta or {})
        if isinstance(meta.get("doc_id"), str):
            by_doc.setdefault(meta["doc_id"], []).append(meta)
    infos = []
    for doc_id in sorted(by_doc):
        metas = by_doc[doc_id]
        newest = max(metas, key=lambda m: int(m.get(WRITTEN_KEY, 0)))
        langs: dict[str, int] = {}
        for m in metas:
            if isinstance(m.get("lang"), str):
                langs[m["lang"]] = langs.get(m["lang"], 0) + 1
        versions = {m.get(VERSION_KEY) for m in metas}
        infos.append(
            DocumentInfo(
                doc_id=doc_id,
                title=str(newest.get("title", "")),
                source=str(newest.get("source", "")),
                chunks=len(metas),
                langs=tuple(sorted(langs, key=lambda k: (-langs[k], k))),
                doc_hash=str(newest.get("doc_hash", "")),
                complete=VERSION_KEY not in newest
                or (len(versions) == 1 and len(metas) == int(newest.get(CHUNKS_KEY, 0))),
            )
        )
    return infos


def repair_documents(pool: Pool, *, dry_run: bool = False) -> int:
    """Keeps the newest complete version of each document and deletes the other chunks.

    What a process killed during an update leaves: the old version and the new one, of which
    the new one may be partial. A document with no complete version (killed while it was first
    written) is deleted.

    Returns:
        The number of chunks deleted (or, with ``dry_run``, that would be).
    """
    got = read_stored(pool, {"doc_id": {"$ne": ""}}, ["metadatas"])
    versions: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]] = {}
    for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
        meta = dict(meta or {})
        if VERSION_KEY not in meta:
            continue
        doc = versions.setdefault(str(meta["doc_id"]), {})
        doc.setdefault(str(meta[VERSION_KEY]), []).append((rid, meta))
    stale: list[str] = []
    for doc in versions.values():
        complete = [
            (max(int(m.get(WRITTEN_KEY, 0)) for _, m in chunks), v)
            for v, chunks in doc.items()
            if is_complete(chunks)
        ]
        keep = max(complete)[1] if complete else None
        stale.extend(rid for v, chunks in doc.items() if v != keep for rid, _ in chunks)
    if stale and not dry_run:
        with pool.writing(), pool.committing() as collection:
            for start in range(0, len(stale), pool.max_batch):
                collection.delete(ids=stale[start : start + pool.max_batch])
            count_deletion(collection)
    return len(stale)
