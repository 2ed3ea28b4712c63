"""Ingestion as a Ray Data job: the stages of :mod:`xling.store.ingest` on a Ray cluster.

The job is the same pipeline as :func:`~xling.store.ingest.ingest_documents`, spread over
processes and machines:

- the documents are a dataset of small rows (the document, and which versions of it the pool
  holds), made on the driver from one :func:`~xling.store.documents.stored_versions` query;
- reading, parsing and chunking run as Ray tasks (``flat_map``): a document whose complete
  version is stored is skipped there, before anything is embedded, and a chunk whose embedded
  text did not change takes its stored vector;
- embedding runs in an actor pool (``map_batches`` with a callable class): each actor builds
  the pool's embedder from its spec once, on a GPU when ``gpus_per_actor`` asks for one;
- writing runs in writer actors that write each document whole with
  :func:`~xling.store.ingest.write_stage` into a Chroma server or Chroma Cloud (an embedded
  folder cannot be written by other processes' workers, so it is refused).

Chunk ids derive from the document's content and chunking, so a retried task upserts the same
ids (nothing is written twice), and a job that was interrupted resumes when run again: the
documents written whole are then unchanged, and only the rest is embedded. The driver collects
one outcome per document into the same :class:`~xling.store.ingest.IngestReport` the local
ingest returns.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from xling.core.errors import InvalidInputError, missing_extra_error
from xling.core.progress import ProgressCallback
from xling.core.validation import check_choice, check_finite, check_positive_int
from xling.documents.records import Document
from xling.embedders import Embedder, get_embedder
from xling.embedders.registry import parse_spec
from xling.store.documents import (
    DeleteReport,
    is_complete,
    stored_versions,
)
from xling.store.indexer import check_layout
from xling.store.ingest import (
    DocumentOutcome,
    ErrorPolicy,
    IngestReport,
    Outcome,
    Refusal,
    check_documents,
    chunk_stage,
    document_version,
    embed_stage,
    ingest_report,
    new_counts,
    read_stage,
    reuse_vectors,
    sync_documents,
    write_stage,
)

if TYPE_CHECKING:
    from xling.documents.chunking import Chunker
    from xling.store.pool import Pool

__all__ = ["ingest_with_ray"]

_CHUNK_TASK_CPUS = 0.5
"""Logical CPUs of one read-and-chunk task: below one, so that tasks still run beside embedding
actors that hold every other CPU of a small machine."""
_WRITER_CPUS = 0.25
"""Logical CPUs of a writer actor: it mostly waits on Chroma."""


@dataclass(frozen=True)
class RayJob:
    """What every worker needs to rebuild the pool's side of the pipeline (picklable, small).

    Attributes:
        url: The Chroma server or Cloud URL.
        pool: The pool name.
        embedder: The pool embedder's spec (its ``id``).
        max_tokens: The embedder's length limit.
        on_long: What the embedder does with a longer text.
        chunk_tokens: The chunker's budget.
        overlap: The chunker's overlap.
        heading_prefix: Whether chunks are embedded after their heading path.
        lid_backend: The chunker's language-identification backend.
        batch_size: Chunks per call to the embedder.
        env: Environment variables the workers need (``CHROMA_API_KEY`` for Chroma Cloud).
    """

    url: str
    pool: str
    embedder: str
    max_tokens: int | None
    on_long: str
    chunk_tokens: int
    overlap: int
    heading_prefix: bool
    lid_backend: str | None
    batch_size: int
    env: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=4)
def _embedder(job: RayJob) -> Embedder:
    """The pool's embedder, built once per worker process (no cache: workers share no disk)."""
    return get_embedder(job.embedder, cache=False, max_tokens=job.max_tokens,
                        on_long=job.on_long)  # type: ignore[arg-type]  # fmt: skip


@lru_cache(maxsize=4)
def _pool(job: RayJob) -> Pool:
    """The pool, opened once per worker process."""
    from xling.store.pool import Pool

    os.environ.update(dict(job.env))  # the worker's own environment, for Chroma Cloud's key
    return Pool.open(job.pool, _embedder(job), url=job.url, create=True)


@lru_cache(maxsize=4)
def _chunker(job: RayJob) -> Chunker:
    from xling.documents.chunking import Chunker

    return Chunker(_embedder(job), chunk_tokens=job.chunk_tokens, overlap=job.overlap,
                   heading_prefix=job.heading_prefix, lid_backend=job.lid_backend)  # fmt: skip


_COLUMNS = (("doc_id", "string"), ("kind", "string"), ("reason", "string"), ("item", "binary"),
            ("replacing", "bool_"), ("embedded", "int64"), ("written", "int64"),
            ("deleted", "int64"))  # fmt: skip
"""The rows between the stages: one per document. ``kind`` is ``todo``, ``unchanged`` or
``refused`` (with its ``reason``); ``item`` is the pickled
:class:`~xling.store.ingest.ChunkedDocument` of a ``todo`` document until it is written."""


def _row(doc_id: str, kind: str, *, reason: str = "", item: bytes = b"",
         replacing: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"doc_id": doc_id, "kind": kind, "reason": reason, "item": item,
            "replacing": replacing, "embedded": 0, "written": 0, "deleted": 0}  # fmt: skip


def chunk_task(row: dict[str, Any], job: RayJob) -> list[dict[str, Any]]:
    """Reads, parses and chunks one document (a Ray ``flat_map`` task); one row out.

    The row out is ``unchanged`` (the pool holds this version whole), ``refused`` (with the
    one-line reason) or ``todo`` with the pickled :class:`~xling.store.ingest.ChunkedDocument`,
    whose unchanged chunks already carry their stored vectors.
    """
    doc = Document.from_dict(json.loads(row["doc"]))
    complete: dict[str, bool] = json.loads(row["versions"])
    try:
        raw = read_stage(doc)
        version = document_version(raw, _chunker(job))
        if set(complete) == {version} and complete[version]:
            return [_row(doc.doc_id, "unchanged")]
        item = chunk_stage(raw, _chunker(job), old_ids=json.loads(row["old_ids"]))
    except InvalidInputError as exc:
        return [_row(doc.doc_id, "refused", reason=str(exc))]
    reuse_vectors(_pool(job), item)
    return [_row(doc.doc_id, "todo", item=pickle.dumps(item), replacing=bool(complete))]


def _rows(batch: Any) -> list[dict[str, Any]]:
    return list(batch.to_pylist())


def _table(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in _COLUMNS])
    return pa.table({name: [r[name] for r in rows] for name, _ in _COLUMNS}, schema=schema)


class EmbedActor:
    """Embeds the chunks of a batch of documents (a Ray actor: the embedder is built once)."""

    def __init__(self, job: RayJob) -> None:
        self.job = job
        self.embedder = _embedder(job)

    def __call__(self, batch: Any) -> Any:
        """Fills in the vectors of the ``todo`` rows of a pyarrow batch."""
        rows = _rows(batch)
        todo = [(row, pickle.loads(row["item"])) for row in rows if row["kind"] == "todo"]
        for row, item in todo:
            row["embedded"] = len(item.missing)
        embed_stage(self.embedder, [item for _, item in todo], batch_size=self.job.batch_size)
        for row, item in todo:
            row["item"] = pickle.dumps(item)
        return _table(rows)


class WriteActor:
    """Writes each document of a batch whole into the pool (a Ray actor: the pool is opened
    once); the rows go on with the chunks written and deleted, without their ``item``."""

    def __init__(self, job: RayJob) -> None:
        self.pool = _pool(job)

    def __call__(self, batch: Any) -> Any:
        """Writes the ``todo`` rows of a pyarrow batch; returns the outcome rows."""
        rows = _rows(batch)
        with self.pool.writing():  # a server pool needs no lock: this only keeps the contract
            for row in rows:
                if row["kind"] == "todo":
                    item = pickle.loads(row["item"])
                    row["written"], row["deleted"] = write_stage(self.pool, item)
                    row["item"] = b""
        return _table(rows)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the extra's data part
    except ImportError as exc:
        raise missing_extra_error("ray", "ray", "ingesting with Ray (--ray)") from exc
    return ray


def _server_url(pool: Pool) -> str:
    """The Chroma URL workers can open, or a one-line refusal."""
    url = pool.db.url
    if pool.db.embedded or not url:
        raise InvalidInputError(
            f"an embedded Chroma folder ({pool.db.where}) cannot be written by Ray workers "
            "(other processes, maybe other machines); serve it with `chroma run --path DIR "
            "--host HOST --port PORT` and give its URL (--chroma-url), or use Chroma Cloud"
        )
    if urlparse(url).scheme not in {"http", "https", "chroma-cloud"}:
        raise InvalidInputError(
            f"pool {pool.name!r} was opened from a Chroma client; open it by URL "
            "(Pool.open(name, url=...)) so that Ray workers can reach the same server"
        )
    return url


def _job(pool: Pool, chunker: Chunker, url: str, batch_size: int) -> RayJob:
    embedder = pool.embedder
    try:
        parse_spec(embedder.id)
    except InvalidInputError:
        raise InvalidInputError(
            f"the pool's embedder {embedder.id!r} cannot be rebuilt from its spec on Ray "
            "workers; use an embedder given by a spec string (xling.embedders.get_embedder)"
        ) from None
    env: tuple[tuple[str, str], ...] = ()
    if url.startswith("chroma-cloud:") and os.environ.get("CHROMA_API_KEY"):
        env = (("CHROMA_API_KEY", os.environ["CHROMA_API_KEY"]),)
    assert chunker.chunk_tokens is not None  # set by the chunker's __post_init__
    return RayJob(url, pool.name, embedder.id, embedder.max_tokens, embedder.on_long,
                  chunker.chunk_tokens, chunker.overlap, chunker.heading_prefix,
                  chunker.lid_backend, batch_size, env)  # fmt: skip


def _connect(ray: Any, address: str | None, object_store_memory: int | None) -> bool:
    """Connects to Ray; returns whether this call started it (and so should stop it)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if address is None:  # a Ray of its own, even where `ray start` runs a cluster here
        address = "local"
        options.update(num_cpus=os.cpu_count() or 1, object_store_memory=object_store_memory)
    ray.init(address=address, **options)
    return True


def _actor_cpus(ray: Any, actors: int) -> float:
    """One CPU per embedding actor, less where the cluster is too small to leave room for the
    chunking tasks and the writer beside them."""
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.25, min(1.0, (cpus - _CHUNK_TASK_CPUS - _WRITER_CPUS) / actors))


def _inputs(pool: Pool, docs: list[Document]) -> list[dict[str, Any]]:
    """The dataset's rows: each document with the versions of it the pool holds."""
    stored = stored_versions(pool, [d.doc_id for d in docs])
    rows = []
    for doc in docs:
        versions = stored.get(doc.doc_id, {})
        complete = {v: is_complete(chunks) for v, chunks in versions.items()}
        old = [rid for chunks in versions.values() for rid, _ in chunks]
        rows.append({"doc": json.dumps(doc.to_dict(), ensure_ascii=False),
                     "versions": json.dumps(complete), "old_ids": json.dumps(old)})  # fmt: skip
    return rows


def _outcome(row: Mapping[str, Any]) -> DocumentOutcome:
    kind, doc_id = str(row["kind"]), str(row["doc_id"])
    if kind in ("unchanged", "refused"):
        return DocumentOutcome(doc_id, kind, reason=str(row["reason"]))  # type: ignore[arg-type]
    outcome: Outcome = "updated" if row["replacing"] else "added"
    return DocumentOutcome(doc_id, outcome, int(row["written"]), int(row["embedded"]),
                           int(row["deleted"]))  # fmt: skip


def ingest_with_ray(
    pool: Pool,
    documents: Iterable[Document],
    *,
    chunker: Chunker | None = None,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0,
    cpus_per_actor: float | None = None,
    writers: int = 1,
    batch_size: int = 256,
    documents_per_batch: int = 16,
    object_store_memory: int | None = None,
    sync: bool = False,
    sync_where: Mapping[str, Any] | None = None,
    errors: ErrorPolicy = "skip",
    on_progress: ProgressCallback | None = None,
    on_document: Callable[[DocumentOutcome], None] | None = None,
) -> IngestReport:
    """Ingests documents into a Chroma server or Cloud pool with a Ray Data job.

    The same stages and outcomes as :func:`~xling.store.ingest.ingest_documents` (added,
    updated, unchanged, refused; chunks written, embedded, deleted), run as Ray tasks and actors
    (see the module). Connects to the Ray cluster at ``address``, or to the one this process is
    already connected to, else starts a local Ray for the call.

    Args:
        pool: The pool, opened by URL (a Chroma server or Chroma Cloud).
        documents: The documents (distinct ``doc_id`` s); files must be readable by the
            workers (the same path on every machine, e.g. a shared file system).
        chunker: How to cut them; ``None``: the pool embedder's defaults.
        address: A Ray cluster (``ray://HOST:10001``, ``HOST:6379`` or ``auto``); ``None``: the
            connected one, else a local Ray with this machine's CPUs.
        actors: Embedding actors (each builds the embedder once).
        gpus_per_actor: GPUs per embedding actor (fractions share a GPU); 0 for CPU.
        cpus_per_actor: Logical CPUs per embedding actor; ``None``: 1, less on a cluster too
            small to leave room for the chunking tasks and the writer.
        writers: Writer actors.
        batch_size: Chunks per call to the embedder.
        documents_per_batch: Documents per batch handed to an embedding or writer actor.
        object_store_memory: Bytes of Ray's object store, for a local Ray started here.
        sync: Also delete the pool's documents (matching ``sync_where``) that are not given.
        sync_where: Limits ``sync`` to documents whose chunks match this Chroma filter.
        errors: ``"skip"``: refused documents are listed in the report; ``"raise"``: the first
            refused document stops the job with its reason (documents written before it stay).
        on_progress: Called with (documents settled, documents given) as outcomes arrive.
        on_document: Called on the driver with each document's outcome once it is settled;
            an exception it raises stops the job (run it again to resume).

    Returns:
        What was done.

    Raises:
        InvalidInputError: On a bad argument, an embedded pool, or a refused document with
            ``errors="raise"``.
        MissingDependencyError: If Ray is not installed (``pip install 'xling[ray]'``).
        ServiceUnavailableError: If the Chroma server stops answering (run it again to finish).
    """
    from xling.documents.chunking import Chunker

    began = time.perf_counter()
    check_choice(errors, "errors", ("raise", "skip"))
    for value, name in ((actors, "actors"), (writers, "writers"), (batch_size, "batch_size"),
                        (documents_per_batch, "documents_per_batch")):  # fmt: skip
        check_positive_int(value, name)
    check_finite(gpus_per_actor, "gpus_per_actor", minimum=0)
    if cpus_per_actor is not None:
        check_finite(cpus_per_actor, "cpus_per_actor", minimum=0.01)
    docs = check_documents(documents)
    url = _server_url(pool)
    job = _job(pool, chunker or Chunker(pool.embedder), url, batch_size)
    ray = _import_ray()
    hint = "; run it again to finish: documents already written are then unchanged"
    with pool.db.calls(f"ingesting into pool {pool.name!r} with Ray", hint):
        with pool.reading() as collection:
            if collection is not None:
                check_layout(pool.name, collection)
        rows = _inputs(pool, docs)
    counts = new_counts()
    refused: list[Refusal] = []
    sources = {d.doc_id: d.source or "" for d in docs}
    started = _connect(ray, address, object_store_memory)
    outcomes = _run(ray, rows, job, actors, gpus_per_actor, cpus_per_actor, writers,
                    documents_per_batch)  # fmt: skip
    try:
        for n, row in enumerate(outcomes, start=1):
            outcome = _outcome(row)
            if outcome.outcome == "refused":
                if errors == "raise":
                    raise InvalidInputError(outcome.reason)
                refused.append(Refusal(outcome.doc_id, sources[outcome.doc_id], outcome.reason))
            else:
                counts[outcome.outcome] += 1
                counts["written"] += outcome.chunks_written
                counts["embedded"] += outcome.chunks_embedded
                counts["deleted"] += outcome.chunks_deleted
            if on_document:
                on_document(outcome)
            if on_progress:
                on_progress(n, len(docs))
    finally:
        outcomes.close()  # stops the job now when the driver stopped early
        if started:
            ray.shutdown()
    deleted = DeleteReport(0, 0)
    if sync:
        with pool.db.calls(f"deleting documents from pool {pool.name!r}"):
            deleted = sync_documents(pool, docs, sync_where)
    return ingest_report(docs, counts, deleted, refused, began)


def _run(
    ray: Any,
    rows: list[dict[str, Any]],
    job: RayJob,
    actors: int,
    gpus_per_actor: float,
    cpus_per_actor: float | None,
    writers: int,
    documents_per_batch: int,
) -> Generator[dict[str, Any], None, None]:
    """Builds the dataset and yields its outcome rows as they arrive."""
    if not rows:
        return
    cpus = cpus_per_actor if cpus_per_actor is not None else _actor_cpus(ray, actors)
    # Small jobs get smaller batches, so that every actor has work.
    per_batch = max(1, min(documents_per_batch, -(-len(rows) // (2 * actors))))
    context = ray.data.DataContext.get_current()
    shown = context.enable_progress_bars
    context.enable_progress_bars = False  # the driver reports progress per document
    try:
        dataset = (
            ray.data.from_items(rows, override_num_blocks=-(-len(rows) // per_batch))
            .flat_map(chunk_task, fn_kwargs={"job": job}, num_cpus=_CHUNK_TASK_CPUS)
            .map_batches(EmbedActor, fn_constructor_kwargs={"job": job}, batch_format="pyarrow",
                         batch_size=per_batch, num_cpus=cpus,
                         compute=ray.data.ActorPoolStrategy(size=actors),
                         num_gpus=gpus_per_actor or None)
            .map_batches(WriteActor, fn_constructor_kwargs={"job": job}, batch_format="pyarrow",
                         batch_size=per_batch, compute=ray.data.ActorPoolStrategy(size=writers),
                         num_cpus=_WRITER_CPUS)
        )  # fmt: skip
        yield from dataset.iter_rows()
    finally:
        context.enable_progress_bars = shown
