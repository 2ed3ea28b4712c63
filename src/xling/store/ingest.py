"""Ingestion: documents read, parsed, chunked, embedded and written into a pool, and deleted.

The stages (read → parse → chunk → embed → write) pass the typed records of
:mod:`xling.documents.records`; this module runs them in one process and owns the last two,
and the lifecycle of a document in a pool:

- **add**: a document whose ``doc_id`` is not in the pool gets its chunks written;
- **update**: a document whose content or chunking changed gets its new chunks written, then
  its old chunks deleted; a chunk whose embedded text did not change takes its stored vector
  instead of being embedded again;
- **unchanged**: a document of the same content hash and chunking is skipped (nothing read
  back but its version);
- **delete**: by ``doc_id`` or metadata filter.

Guarantees. On an embedded folder every write holds the folder's write lock, and one
document's new chunks and the deletion of its old ones are written under one hold of the commit
lock, so a reader in any process sees the old version or the new one, never both. On a Chroma
server (``--chroma-url``) a reader may see both versions for the moment between those two
writes. A process killed (``kill -9``) in between leaves both versions, of which the newer may
be incomplete; :func:`repair_documents` (run by ``xling index --verify --repair``) keeps the
newest complete version of each document and deletes the rest, so what remains is the old
version or the new one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.records import FieldsDict
from xling.core.validation import check_choice, check_positive_int, preview
from xling.documents.records import (
    Chunk,
    Document,
    ParsedDocument,
    RawDocument,
    content_hash,
    read_document,
)
from xling.store.indexer import check_layout

if TYPE_CHECKING:
    from xling.documents.chunking import Chunker
    from xling.store.pool import Pool

__all__ = [
    "DeleteReport",
    "DocumentInfo",
    "IngestReport",
    "Refusal",
    "delete_documents",
    "embedded_text",
    "ingest_documents",
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

ErrorPolicy = Literal["raise", "skip"]


@dataclass(frozen=True)
class Refusal(FieldsDict):
    """A document that was refused, and why (one line).

    Attributes:
        doc_id: The document's id.
        source: Where it came from (path or URL), or ``""``.
        reason: The one-line reason.
    """

    doc_id: str
    source: str
    reason: str


@dataclass(frozen=True)
class IngestReport(FieldsDict):
    """What one ingestion did.

    Attributes:
        documents: Documents given.
        added: Documents new to the pool.
        updated: Documents whose content or chunking changed (old chunks replaced).
        unchanged: Documents skipped because the pool holds this version already.
        deleted: Documents deleted (``--sync``: their files are gone).
        chunks_written: Chunks written.
        chunks_embedded: Of those, chunks embedded (the others took their old vector).
        chunks_deleted: Chunks deleted (old versions and deleted documents).
        seconds: Wall time of the call.
        refused: Documents refused, with their reasons.
    """

    documents: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    refused: tuple[Refusal, ...] = ()

    def summary(self) -> str:
        """One line: documents added / updated / deleted / unchanged, chunks, seconds."""
        line = (
            f"documents: {self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged; {self.chunks_written} chunks written "
            f"({self.chunks_embedded} embedded), {self.chunks_deleted} deleted; "
            f"{self.seconds:.1f} s"
        )
        return line + (f"; {len(self.refused)} refused" if self.refused else "")


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


@dataclass
class _Prepared:
    """A document after the read, parse and chunk stages, with what the pool holds of it."""

    document: Document
    parsed: ParsedDocument
    chunks: list[Chunk]
    old_ids: list[str] = field(default_factory=list)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)


def embedded_text(text: str, metadata: Mapping[str, Any] | None) -> str:
    """What was embedded for a stored record: its heading prefix (chunks), then its text."""
    prefix = (metadata or {}).get(PREFIX_KEY)
    return f"{prefix}{text}" if isinstance(prefix, str) else text


def _version(raw: RawDocument, chunker: Chunker) -> str:
    """The hash of what a document's chunks depend on: content, chunking, and given fields."""
    doc = raw.document
    given = {
        "hash": raw.hash,
        "format": raw.format,
        "chunking": chunker.signature(),
        "lang": doc.lang,
        "title": doc.title,
        "source": doc.source,
        "metadata": doc.metadata,
    }
    return content_hash(json.dumps(given, sort_keys=True, ensure_ascii=False))


def _chunk_metadata(
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


def _stored(pool: Pool, where: Mapping[str, Any], include: list[str]) -> dict[str, list[Any]]:
    """Every stored record matching ``where``, read in pages (one get of many records exceeds
    SQLite's limit on query variables)."""
    got: dict[str, list[Any]] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        with pool.damage_is_named(), pool.reading() as collection:
            if collection is None:
                return got
            page = collection.get(
                where=dict(where), include=include, limit=pool.max_batch, offset=offset
            )
        for key in got:
            values = page[key]
            got[key].extend(list(values) if values is not None else [])
        offset += len(page["ids"])
        if len(page["ids"]) < pool.max_batch:
            return got


def _versions(
    pool: Pool, doc_ids: Sequence[str]
) -> dict[str, dict[str, list[tuple[str, dict[str, Any]]]]]:
    """doc_id → version → (chunk id, metadata), for the given documents."""
    found: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]] = {}
    for start in range(0, len(doc_ids), 100):
        part = list(doc_ids[start : start + 100])
        got = _stored(pool, {"doc_id": {"$in": part}}, ["metadatas"])
        for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
            meta = meta or {}
            versions = found.setdefault(str(meta.get("doc_id")), {})
            versions.setdefault(str(meta.get(VERSION_KEY, "")), []).append((rid, meta))
    return found


def _old_vectors(pool: Pool, ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Embedded-text hash → stored vector, for the given chunk ids."""
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), pool.max_batch):
        with pool.damage_is_named(), pool.reading() as collection:
            got = collection.get(
                ids=list(ids[start : start + pool.max_batch]),
                include=["metadatas", "embeddings"],
            )
        for meta, vector in zip(got["metadatas"], got["embeddings"], strict=True):
            key = (meta or {}).get(TEXT_HASH_KEY)
            if isinstance(key, str):
                vectors[key] = np.asarray(vector, dtype=np.float32)
    return vectors


def _parse_and_chunk(raw: RawDocument, chunker: Chunker, version: str) -> _Prepared:
    """Stages parse and chunk of one document."""
    from xling.documents.parsers import parse

    parsed = parse(raw)
    chunks = [replace(c, version=version) for c in chunker.chunk(parsed)]
    if not chunks:
        where = raw.document.source or raw.document.doc_id
        raise InvalidInputError(f"document {where!r} gives no chunk to index")
    return _Prepared(raw.document, parsed, chunks)


def _check_documents(documents: Any) -> list[Document]:
    if documents is None or isinstance(documents, str | bytes | Document):
        raise InvalidInputError(
            f"documents must be a list of xling Documents, got {preview(documents)}"
        )
    docs = list(documents)
    seen: set[str] = set()
    for doc in docs:
        if not isinstance(doc, Document):
            raise InvalidInputError(f"documents must be xling Document objects, got {preview(doc)}")
        if doc.doc_id in seen:
            raise InvalidInputError(
                f"doc_id {doc.doc_id!r} is given twice; each document needs its own id"
            )
        seen.add(doc.doc_id)
    return docs


def ingest_documents(
    pool: Pool,
    documents: Iterable[Document],
    *,
    chunker: Chunker | None = None,
    sync: bool = False,
    sync_where: Mapping[str, Any] | None = None,
    errors: ErrorPolicy = "raise",
    batch_size: int = 256,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Adds new documents, replaces changed ones and skips unchanged ones.

    Every document is read (and, unless the pool holds its version already, parsed and
    chunked) before anything is written, so a refused document (``errors="raise"``) leaves the
    pool as it was. Chunks are embedded in batches across documents; each document is then
    written whole (see the module's guarantees).

    Args:
        pool: The pool.
        documents: The documents (distinct ``doc_id`` s).
        chunker: How to cut them; ``None``: a :class:`~xling.documents.chunking.Chunker` with
            the pool embedder's defaults.
        sync: Also delete the pool's documents that are not given (of those matching
            ``sync_where``, e.g. the documents of one folder).
        sync_where: Limits ``sync`` to documents whose chunks match this Chroma filter.
        errors: ``"raise"``: the first refused document raises and nothing is written;
            ``"skip"``: refused documents are reported in :attr:`IngestReport.refused` and the
            rest is ingested.
        batch_size: Chunks embedded per step.
        on_progress: Called with (chunks done, chunks to embed) after each step.

    Returns:
        What was done.

    Raises:
        InvalidInputError: On a bad argument, or a refused document with ``errors="raise"``.
        PoolLockedError: If another process is writing and the lock timeout ran out.
        ServiceUnavailableError: If the server stops answering (running it again finishes the
            job: finished documents are unchanged then).
    """
    from xling.documents.chunking import Chunker
    from xling.documents.parsers import format_for

    began = time.perf_counter()
    check_choice(errors, "errors", ("raise", "skip"))
    check_positive_int(batch_size, "batch_size")
    docs = _check_documents(documents)
    chunker = chunker or Chunker(pool.embedder)
    refused: list[Refusal] = []
    counts = dict.fromkeys(("added", "updated", "unchanged", "written", "embedded", "deleted"), 0)
    hint = "; run it again to finish: documents already written are then unchanged"
    with pool.db.calls(f"ingesting into pool {pool.name!r}", hint), pool.writing():
        with pool.reading() as collection:
            if collection is not None:
                check_layout(pool.name, collection)
        stored = _versions(pool, [d.doc_id for d in docs])
        todo: list[_Prepared] = []
        for doc in docs:
            versions = stored.get(doc.doc_id, {})
            try:
                raw = read_document(doc, format_for(doc.path, doc.content_type))
                version = _version(raw, chunker)
                if set(versions) == {version} and _complete(versions[version]):
                    counts["unchanged"] += 1
                    continue
                item = _parse_and_chunk(raw, chunker, version)
            except InvalidInputError as exc:
                if errors == "raise":
                    raise
                refused.append(Refusal(doc.doc_id, doc.source or "", str(exc)))
                continue
            item.old_ids = [rid for ids in versions.values() for rid, _ in ids]
            counts["updated" if versions else "added"] += 1
            todo.append(item)
        _write(pool, todo, batch_size, on_progress, counts)
        deleted = DeleteReport(0, 0)
        if sync:
            keep = {d.doc_id for d in docs}
            gone = sorted(set(_versions_of(pool, sync_where)) - keep)
            if gone:
                deleted = delete_documents(pool, doc_ids=gone)
    return IngestReport(
        documents=len(docs),
        added=counts["added"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        deleted=deleted.documents,
        chunks_written=counts["written"],
        chunks_embedded=counts["embedded"],
        chunks_deleted=counts["deleted"] + deleted.chunks,
        seconds=time.perf_counter() - began,
        refused=tuple(refused),
    )


def _complete(chunks: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether every chunk of one stored version is there."""
    return len({m.get("chunk") for _, m in chunks}) == int(chunks[0][1].get(CHUNKS_KEY, -1))


def _versions_of(pool: Pool, where: Mapping[str, Any] | None) -> dict[str, int]:
    """doc_id → chunks, for every document (matching ``where``) in the pool."""
    got = _stored(pool, where or {"doc_id": {"$ne": ""}}, ["metadatas"])
    counts: dict[str, int] = {}
    for meta in got["metadatas"]:
        doc_id = (meta or {}).get("doc_id")
        if isinstance(doc_id, str):
            counts[doc_id] = counts.get(doc_id, 0) + 1
    return counts


def _write(
    pool: Pool,
    todo: list[_Prepared],
    batch_size: int,
    on_progress: ProgressCallback | None,
    counts: dict[str, int],
) -> None:
    """Embeds what needs it (in batches across documents) and writes document by document."""
    for item in todo:
        if item.old_ids:
            reuse = _old_vectors(pool, item.old_ids)
            item.vectors = {
                i: reuse[c.text_hash] for i, c in enumerate(item.chunks) if c.text_hash in reuse
            }
    to_embed = sum(len(p.chunks) - len(p.vectors) for p in todo)
    if on_progress:
        on_progress(0, to_embed)
    done = 0
    pending: list[_Prepared] = []
    waiting = 0
    for n, item in enumerate(todo):
        pending.append(item)
        waiting += len(item.chunks) - len(item.vectors)
        if waiting < batch_size and n + 1 < len(todo):
            continue
        wanted = [(p, i) for p in pending for i in range(len(p.chunks)) if i not in p.vectors]
        for start in range(0, len(wanted), batch_size):
            part = wanted[start : start + batch_size]
            vectors = pool.embedder.embed_documents([p.chunks[i].embedded_text for p, i in part])
            for (p, i), vector in zip(part, vectors, strict=True):
                p.vectors[i] = np.asarray(vector, dtype=np.float32)
            done += len(part)
            if on_progress:
                on_progress(done, to_embed)
        for p in pending:
            written, deleted = _write_document(pool, p)
            counts["written"] += written
            counts["deleted"] += deleted
        counts["embedded"] += waiting
        pending, waiting = [], 0


def _write_document(pool: Pool, item: _Prepared) -> tuple[int, int]:
    """Writes a document's new chunks, then deletes its old ones, under one commit-lock hold."""
    written = time.time_ns()
    chunks = item.chunks
    metas = [_chunk_metadata(c, item.parsed, len(chunks), written) for c in chunks]
    new_ids = [c.id for c in chunks]
    stale = sorted(set(item.old_ids) - set(new_ids))
    step = pool.max_batch
    with pool.committing() as collection:
        for start in range(0, len(chunks), step):
            part = range(start, min(start + step, len(chunks)))
            collection.upsert(
                ids=[new_ids[i] for i in part],
                embeddings=np.stack([item.vectors[i] for i in part]),
                documents=[chunks[i].text for i in part],
                metadatas=[metas[i] for i in part],
            )
        for start in range(0, len(stale), step):
            collection.delete(ids=stale[start : start + step])
        if stale:
            _bump_generation(collection)
    return len(chunks), len(stale)


def _bump_generation(collection: Any) -> None:
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
            got = _stored(pool, flt, ["metadatas"])
            chunk_ids.extend(got["ids"])
            docs.update(str((m or {}).get("doc_id", rid)) for rid, m in
                        zip(got["ids"], got["metadatas"], strict=True))  # fmt: skip
        if chunk_ids:
            with pool.committing() as collection:
                for start in range(0, len(chunk_ids), pool.max_batch):
                    collection.delete(ids=chunk_ids[start : start + pool.max_batch])
                _bump_generation(collection)
    return DeleteReport(len(docs), len(chunk_ids))


def list_documents(pool: Pool, where: Mapping[str, Any] | None = None) -> list[DocumentInfo]:
    """The pool's documents (of chunks matching ``where``), sorted by ``doc_id``."""
    got = _stored(pool, where or {"doc_id": {"$ne": ""}}, ["metadatas"])
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
    got = _stored(pool, {"doc_id": {"$ne": ""}}, ["metadatas"])
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
            if _complete(chunks)
        ]
        keep = max(complete)[1] if complete else None
        stale.extend(rid for v, chunks in doc.items() if v != keep for rid, _ in chunks)
    if stale and not dry_run:
        with pool.writing(), pool.committing() as collection:
            for start in range(0, len(stale), pool.max_batch):
                collection.delete(ids=stale[start : start + pool.max_batch])
            _bump_generation(collection)
    return len(stale)
