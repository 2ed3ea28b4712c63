"""Ingestion: documents read, parsed, chunked, embedded and written into a pool.

The stages (read → parse → chunk → embed → write) pass typed records: :class:`Document` →
:class:`RawDocument` → :class:`ParsedDocument` → :class:`ChunkedDocument` (its chunks, and
what the pool holds of it) → the same with its vectors → the pool. Each stage is a function of
its own (:func:`read_stage`, :func:`chunk_stage`, :func:`embed_stage`, :func:`write_stage`), so
they can run pipelined or on other machines; :func:`ingest_documents` runs them in one process,
pipelined: reading, parsing and chunking, embedding, and writing run on threads of their own
(the writes on the calling thread), handing groups of about ``batch_size`` chunks over through
queues of ``queue_batches`` groups each, so at most about ``2 * queue_batches + 3`` groups of
chunks (texts and vectors) are held at once beyond the documents' list. A failure in any stage
stops the others (a batch being embedded finishes first) and is raised as it was; what was
written is whole documents, so running the ingestion again finishes the job.
The lifecycle of a document in a pool:

- **add**: a document whose ``doc_id`` is not in the pool gets its chunks written;
- **update**: a document whose content or chunking changed gets its new chunks written, then
  its old chunks deleted; a chunk whose embedded text did not change takes its stored vector
  instead of being embedded again;
- **unchanged**: a document of the same content hash and chunking is skipped (nothing read
  back but its version);
- **delete**: by ``doc_id`` or metadata filter (:mod:`xling.store.documents`).

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
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from xling.embedders import Embedder
from xling.store.documents import (
    TEXT_HASH_KEY,
    DeleteReport,
    chunk_metadata,
    count_deletion,
    delete_documents,
    document_counts,
    is_complete,
    stored_versions,
)
from xling.store.indexer import check_layout

if TYPE_CHECKING:
    from xling.documents.chunking import Chunker
    from xling.store.pool import Pool

__all__ = [
    "ChunkedDocument",
    "DocumentOutcome",
    "IngestReport",
    "Refusal",
    "chunk_stage",
    "embed_stage",
    "ingest_documents",
    "read_stage",
    "write_stage",
]

ErrorPolicy = Literal["raise", "skip"]
Outcome = Literal["added", "updated", "unchanged", "refused"]


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
class DocumentOutcome(FieldsDict):
    """What one ingestion did to one document (see ``on_document`` of
    :func:`ingest_documents`).

    Attributes:
        doc_id: The document's id.
        outcome: ``added``, ``updated``, ``unchanged`` or ``refused``.
        chunks_written: Its chunks written.
        chunks_embedded: Of those, chunks embedded (the others took their old vector).
        chunks_deleted: Its old chunks deleted.
        reason: Why it was refused (one line), else ``""``.
    """

    doc_id: str
    outcome: Outcome
    chunks_written: int = 0
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    reason: str = ""


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


@dataclass
class ChunkedDocument:
    """A document after the chunk stage, on its way to the embed and write stages.

    Attributes:
        parsed: The parsed document.
        chunks: Its chunks, each carrying the document's version.
        old_ids: The ids of the chunks the pool holds of it now (replaced by the write stage).
        vectors: Vectors by chunk position: those reused from the old version after
            :func:`chunk_stage` (chunks whose embedded text did not change), all of them after
            :func:`embed_stage`.
    """

    parsed: ParsedDocument
    chunks: list[Chunk]
    old_ids: list[str] = field(default_factory=list)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def missing(self) -> list[int]:
        """Positions of the chunks that still need a vector."""
        return [i for i in range(len(self.chunks)) if i not in self.vectors]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the document, its chunks and which have vectors (not the vectors)."""
        return {
            "parsed": self.parsed.to_dict(),
            "chunks": [c.to_dict() for c in self.chunks],
            "old_ids": list(self.old_ids),
            "with_vectors": sorted(self.vectors),
        }


def document_version(raw: RawDocument, chunker: Chunker) -> str:
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


def read_stage(document: Document) -> RawDocument:
    """Stage 1: a document's bytes and their hash, its format chosen by type or extension.

    Raises:
        InvalidInputError: On an unsupported format or an unreadable file.
    """
    from xling.documents.parsers import format_for

    return read_document(document, format_for(document.path, document.content_type))


def chunk_stage(
    raw: RawDocument, chunker: Chunker, *, old_ids: Sequence[str] = ()
) -> ChunkedDocument:
    """Stages 2 and 3: parse a document and cut it into chunks of its version.

    Args:
        raw: The read document.
        chunker: How to cut it.
        old_ids: The ids of the chunks the pool holds of it now.

    Raises:
        InvalidInputError: If the document cannot be parsed or gives no chunk.
    """
    from xling.documents.parsers import parse

    parsed = parse(raw)
    version = document_version(raw, chunker)
    chunks = [replace(c, version=version) for c in chunker.chunk(parsed)]
    if not chunks:
        where = raw.document.source or raw.document.doc_id
        raise InvalidInputError(f"document {where!r} gives no chunk to index")
    return ChunkedDocument(parsed, chunks, list(old_ids))


def reuse_vectors(pool: Pool, item: ChunkedDocument) -> None:
    """Gives the chunks whose embedded text did not change the vector the pool stores."""
    if not item.old_ids:
        return
    stored: dict[str, np.ndarray] = {}
    ids = item.old_ids
    for start in range(0, len(ids), pool.max_batch):
        with pool.damage_is_named(), pool.reading() as collection:
            got = collection.get(
                ids=list(ids[start : start + pool.max_batch]),
                include=["metadatas", "embeddings"],
            )
        for meta, vector in zip(got["metadatas"], got["embeddings"], strict=True):
            key = (meta or {}).get(TEXT_HASH_KEY)
            if isinstance(key, str):
                stored[key] = np.asarray(vector, dtype=np.float32)
    for i, chunk in enumerate(item.chunks):
        if chunk.text_hash in stored:
            item.vectors[i] = stored[chunk.text_hash]


def embed_stage(
    embedder: Embedder,
    items: Sequence[ChunkedDocument],
    *,
    batch_size: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Stage 4: embeds the chunks that have no vector yet, in batches across documents.

    Args:
        embedder: The pool's embedder.
        items: Chunked documents; their ``vectors`` are filled in place.
        batch_size: Chunks per call to the embedder.
        on_batch: Called with the number of chunks embedded after each batch.

    Returns:
        The number of chunks embedded.
    """
    wanted = [(item, i) for item in items for i in item.missing]
    for start in range(0, len(wanted), batch_size):
        part = wanted[start : start + batch_size]
        vectors = embedder.embed_documents([item.chunks[i].embedded_text for item, i in part])
        for (item, i), vector in zip(part, vectors, strict=True):
            item.vectors[i] = np.asarray(vector, dtype=np.float32)
        if on_batch:
            on_batch(len(part))
    return len(wanted)


def write_stage(pool: Pool, item: ChunkedDocument) -> tuple[int, int]:
    """Stage 5: writes a document's chunks, then deletes its old ones, under one commit-lock
    hold (call it inside :meth:`Pool.writing <xling.store.pool.Pool.writing>`).

    Returns:
        (chunks written, old chunks deleted).
    """
    written = time.time_ns()
    chunks = item.chunks
    metas = [chunk_metadata(c, item.parsed, len(chunks), written) for c in chunks]
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
            count_deletion(collection)
    return len(chunks), len(stale)


def check_documents(documents: Any) -> list[Document]:
    """The documents as a list, checked: xling Documents with distinct ``doc_id`` s.

    Raises:
        InvalidInputError: On anything else, naming it.
    """
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
    queue_batches: int = 2,
    on_progress: ProgressCallback | None = None,
    on_document: Callable[[DocumentOutcome], None] | None = None,
) -> IngestReport:
    """Adds new documents, replaces changed ones and skips unchanged ones, pipelined.

    With ``errors="raise"`` every document is read (and, unless the pool holds its version
    already, parsed and chunked) before anything is written, so a refused document leaves the
    pool as it was; embedding and writing then overlap. With ``errors="skip"`` reading,
    chunking, embedding and writing all overlap. Chunks are embedded in batches across
    documents; each document is written whole (see the module's guarantees), on the calling
    thread.

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
        queue_batches: Groups of about ``batch_size`` chunks waiting between two stages (the
            memory bound, see the module); ``0`` runs the stages one after another on the
            calling thread.
        on_progress: Called with (chunks embedded, chunks to embed known so far) after each
            step, on the calling thread; the second number grows while documents are still
            being chunked (``errors="skip"``).
        on_document: Called with each document's outcome once it is settled (skipped,
            refused, or written whole), in the order of ``documents``, on the calling thread,
            so a caller ingesting several users' documents in one call can answer each of them.

    Returns:
        What was done.

    Raises:
        InvalidInputError: On a bad argument, or a refused document with ``errors="raise"``.
        PoolLockedError: If another process is writing and the lock timeout ran out.
        ServiceUnavailableError: If the server stops answering (running it again finishes the
            job: finished documents are unchanged then).
    """
    from xling.documents.chunking import Chunker

    began = time.perf_counter()
    check_choice(errors, "errors", ("raise", "skip"))
    check_positive_int(batch_size, "batch_size")
    if isinstance(queue_batches, bool) or not isinstance(queue_batches, int) or queue_batches < 0:
        raise InvalidInputError(
            f"queue_batches={queue_batches!r} is not allowed; use 0 (no pipelining) or more"
        )
    docs = check_documents(documents)
    chunker = chunker or Chunker(pool.embedder)
    refused: list[Refusal] = []
    counts = new_counts()
    hint = "; run it again to finish: documents already written are then unchanged"
    with pool.db.calls(f"ingesting into pool {pool.name!r}", hint), pool.writing():
        with pool.reading() as collection:
            if collection is not None:
                check_layout(pool.name, collection)
        stored = stored_versions(pool, [d.doc_id for d in docs])
        steps: Iterable[_Step] = _read_and_chunk(docs, stored, chunker, errors)
        if errors == "raise":
            steps = list(steps)  # every document read and chunked before anything is written
        tally = _Tally()
        with _Pipeline(queue_batches) as pipeline:
            grouped = pipeline.stage(_grouped(pool, steps, batch_size, tally), "xling-chunk")
            embedded = pipeline.stage(_embedded(pool.embedder, grouped, batch_size), "xling-embed")
            for group in embedded:
                tally.done += group.embedded
                counts["embedded"] += group.embedded
                if on_progress:
                    on_progress(tally.done, tally.total)
                for step in group.steps:
                    outcome = _write(pool, step, counts)
                    if step.refusal is not None:
                        refused.append(step.refusal)
                    if on_document:
                        on_document(outcome)
        deleted = sync_documents(pool, docs, sync_where) if sync else DeleteReport(0, 0)
    return ingest_report(docs, counts, deleted, refused, began)


def new_counts() -> dict[str, int]:
    """The tallies an ingest keeps, all 0: documents by outcome, and chunks."""
    return dict.fromkeys(("added", "updated", "unchanged", "written", "embedded", "deleted"), 0)


def sync_documents(
    pool: Pool, docs: Sequence[Document], where: Mapping[str, Any] | None
) -> DeleteReport:
    """Deletes the pool's documents (matching ``where``) that are not among ``docs``."""
    gone = sorted(set(document_counts(pool, where)) - {d.doc_id for d in docs})
    return delete_documents(pool, doc_ids=gone) if gone else DeleteReport(0, 0)


def ingest_report(
    docs: Sequence[Document],
    counts: Mapping[str, int],
    deleted: DeleteReport,
    refused: Sequence[Refusal],
    began: float,
) -> IngestReport:
    """The report of an ingest from its tallies (:func:`new_counts`), ``began`` by
    :func:`time.perf_counter`."""
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


@dataclass
class _Step:
    """One document after the chunk stage: settled (``outcome``: unchanged or refused), or
    ``item`` to embed and write (``replacing`` an old version or not)."""

    doc_id: str
    outcome: DocumentOutcome | None = None
    refusal: Refusal | None = None
    item: ChunkedDocument | None = None
    replacing: bool = False
    to_embed: int = 0


@dataclass
class _Group:
    """Steps of about a batch of chunks to embed, in the documents' order."""

    steps: list[_Step] = field(default_factory=list)
    to_embed: int = 0
    embedded: int = 0


@dataclass
class _Tally:
    """Progress: chunks embedded, and chunks to embed known so far."""

    done: int = 0
    total: int = 0


def _read_and_chunk(
    docs: Sequence[Document],
    stored: Mapping[str, Mapping[str, Any]],
    chunker: Chunker,
    errors: ErrorPolicy,
) -> Iterator[_Step]:
    """Stages 1 to 3 over the documents: unchanged ones settled, refused ones settled (or
    raised), the others chunked."""
    for doc in docs:
        versions = stored.get(doc.doc_id, {})
        try:
            raw = read_stage(doc)
            version = document_version(raw, chunker)
            if set(versions) == {version} and is_complete(versions[version]):
                yield _Step(doc.doc_id, DocumentOutcome(doc.doc_id, "unchanged"))
                continue
            old = [rid for ids in versions.values() for rid, _ in ids]
            item = chunk_stage(raw, chunker, old_ids=old)
        except InvalidInputError as exc:
            if errors == "raise":
                raise
            outcome = DocumentOutcome(doc.doc_id, "refused", reason=str(exc))
            yield _Step(doc.doc_id, outcome, Refusal(doc.doc_id, doc.source or "", str(exc)))
            continue
        yield _Step(doc.doc_id, item=item, replacing=bool(versions))


def _grouped(
    pool: Pool, steps: Iterable[_Step], batch_size: int, tally: _Tally
) -> Iterator[_Group]:
    """Gives changed documents their unchanged chunks' stored vectors, and groups the steps
    into groups of about a batch of chunks to embed, so the embedder gets full batches."""
    group = _Group()
    for step in steps:
        if step.item is not None:
            reuse_vectors(pool, step.item)
            step.to_embed = len(step.item.missing)
            tally.total += step.to_embed
            group.to_embed += step.to_embed
        group.steps.append(step)
        if group.to_embed >= batch_size or len(group.steps) >= batch_size:
            yield group
            group = _Group()
    if group.steps:
        yield group


def _embedded(embedder: Embedder, groups: Iterable[_Group], batch_size: int) -> Iterator[_Group]:
    """Stage 4 over groups."""
    for group in groups:
        items = [step.item for step in group.steps if step.item is not None]
        group.embedded = embed_stage(embedder, items, batch_size=batch_size)
        yield group


def _write(pool: Pool, step: _Step, counts: dict[str, int]) -> DocumentOutcome:
    """Stage 5 for one step (nothing for a settled one); its outcome, counted."""
    if step.item is None:
        assert step.outcome is not None
        if step.outcome.outcome == "unchanged":
            counts["unchanged"] += 1
        return step.outcome
    written, deleted = write_stage(pool, step.item)
    counts["updated" if step.replacing else "added"] += 1
    counts["written"] += written
    counts["deleted"] += deleted
    outcome: Outcome = "updated" if step.replacing else "added"
    return DocumentOutcome(step.doc_id, outcome, written, step.to_embed, deleted)


_END: Any = object()
_POLL = 0.05  # seconds between checks of the stop flag by a thread waiting on a queue


class _Pipeline:
    """Stages on threads of their own, joined by bounded queues; the last one is read on the
    calling thread. Leaving the ``with`` block (done, or a failure anywhere) stops every
    stage and waits for its thread; a stage's failure is raised where its output is read,
    as the very exception it was.

    Args:
        size: Items each queue holds; ``0``: no threads, the stages run as plain iterators.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def stage(self, source: Iterator[_Group], name: str) -> Iterator[_Group]:
        """``source`` run on a thread of its own, read through a queue."""
        if self.size == 0:
            return source
        handover: queue.Queue[Any] = queue.Queue(maxsize=self.size)
        thread = threading.Thread(target=self._run, args=(source, handover), name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        return self._read(handover)

    def _put(self, handover: queue.Queue[Any], entry: Any) -> bool:
        while not self.stop.is_set():
            try:
                handover.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[_Group], handover: queue.Queue[Any]) -> None:
        try:
            for item in source:
                if not self._put(handover, (item, None)):
                    return
        except BaseException as exc:  # handed to the reader, who raises it
            self._put(handover, (None, exc))
            return
        self._put(handover, _END)

    def _read(self, handover: queue.Queue[Any]) -> Iterator[_Group]:
        while not self.stop.is_set():
            try:
                entry = handover.get(timeout=_POLL)
            except queue.Empty:
                continue
            if entry is _END:
                return
            item, exc = entry
            if exc is not None:
                raise exc
            yield item
