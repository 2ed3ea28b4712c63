"""Background ingestion jobs: in-process, one writer per pool, a bounded queue.

A job is one uploaded document to ingest. Jobs of one pool run in the order they were
submitted, on a worker thread, one ingestion at a time, so a pool has one writer in this
process (the embedded Chroma folder's write lock, :mod:`xling.store.lock`, orders writers of
different processes). The jobs waiting when a pool's writer becomes free are ingested together
(up to :data:`GROUP_DOCUMENTS` documents of distinct ids, :data:`GROUP_BYTES` bytes): one
embedder batch and one lock hold for many small uploads (the bundled e5 embedded a batch of 8
short texts in 2.0-2.3 s against 4.0-4.1 s for 8 calls, on a loaded 2-core machine). Each job
still gets its own document's outcome (``on_document`` of
:func:`~xling.store.ingest.ingest_documents`), and a document refused in a group fails only its
own job. At most ``max_queued`` jobs may wait; one more is
refused with 503 and ``Retry-After``. Finished jobs are kept (the newest ``keep``) so their
callers can poll them; a job is visible only to callers who may read its pool. Jobs live in
the process: a restart forgets them (an ingestion cut short is finished by uploading again:
documents already written are then unchanged).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from xling.core.errors import InvalidInputError, NotFoundError, ServiceUnavailableError, XlingError
from xling.documents.records import Document
from xling.server.access import Caller
from xling.store import Pool
from xling.store.ingest import DocumentOutcome, IngestReport, ingest_documents

__all__ = ["GROUP_BYTES", "GROUP_DOCUMENTS", "Job", "JobRunner", "JobStatus"]

JobStatus = Literal["queued", "running", "succeeded", "failed"]
GROUP_DOCUMENTS = 64
"""The most waiting jobs of one pool ingested together."""
GROUP_BYTES = 16 * 1024 * 1024
"""The most bytes of documents ingested together (a larger document goes alone)."""


@dataclass
class Job:
    """One background write and what became of it.

    Attributes:
        id: Its id (32 hex digits).
        pool: The pool it writes.
        doc_ids: The documents it writes.
        status: ``queued``, ``running``, ``succeeded`` or ``failed``.
        created: When it was submitted (seconds since the epoch).
        started: When it started running, or ``None``.
        finished: When it ended, or ``None``.
        report: What the ingestion did (when it succeeded).
        error: The one-line reason (when it failed).
        done: Chunks embedded so far.
        total: Chunks to embed (known once the documents are parsed).
        exception: The error it failed with (to answer a synchronous upload with its status).
    """

    id: str
    pool: str
    doc_ids: tuple[str, ...]
    status: JobStatus = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    report: IngestReport | None = None
    error: str | None = None
    done: int = 0
    total: int = 0
    exception: BaseException | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``GET /v1/jobs/{id}`` answers."""
        return {
            "id": self.id,
            "status": self.status,
            "pool": self.pool,
            "doc_ids": list(self.doc_ids),
            "report": self.report.to_dict() if self.report is not None else None,
            "error": self.error,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "progress": {"chunks_embedded": self.done, "chunks_total": self.total},
        }


@dataclass
class _Entry:
    job: Job
    pool: Pool
    document: Document
    size: int
    on_end: Callable[[bool], None]


class JobRunner:
    """Runs ingestion jobs in the background of the service's event loop.

    Args:
        max_queued: Jobs allowed to wait (not yet running); more are refused with 503.
        keep: Finished jobs kept for polling (the oldest are forgotten first).
    """

    def __init__(self, max_queued: int, keep: int = 2048) -> None:
        self.max_queued = max_queued
        self.keep = keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, deque[_Entry]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    @property
    def queued(self) -> int:
        """Jobs waiting to run."""
        return sum(len(q) for q in self._waiting.values())

    def lock(self, pool: str) -> asyncio.Lock:
        """The lock writers of ``pool`` in this process take in turn (a deletion takes it too)."""
        return self._locks.setdefault(pool, asyncio.Lock())

    def submit(
        self, pool: Pool, document: Document, size: int, on_end: Callable[[bool], None]
    ) -> Job:
        """Queues the ingestion of ``document`` into ``pool`` behind the pool's other jobs.

        Args:
            pool: The pool.
            document: The document.
            size: Its size in bytes (to bound a group).
            on_end: Called (on a worker thread) with whether it succeeded, once it ended.

        Raises:
            ServiceUnavailableError: When ``max_queued`` jobs are waiting already (503).
        """
        if self.queued >= self.max_queued:
            raise ServiceUnavailableError(
                f"{self.queued} ingestion jobs are waiting, this server's cap; try again shortly"
            )
        job = Job(uuid.uuid4().hex, pool.name, (document.doc_id,))
        self.jobs[job.id] = job
        self._forget_old()
        self._waiting.setdefault(pool.name, deque()).append(
            _Entry(job, pool, document, size, on_end)
        )
        if pool.name not in self._workers:
            worker = asyncio.get_running_loop().create_task(self._drain(pool.name))
            self._workers[pool.name] = worker
        return job

    async def _drain(self, name: str) -> None:
        """Ingests the pool's waiting jobs, a group at a time, until none is left."""
        async with self.lock(name):
            queue = self._waiting[name]
            while queue:
                await self._run_group(self._take(queue))
            # No await between the empty check and this: a job submitted now starts a worker.
            del self._workers[name]

    @staticmethod
    def _take(queue: deque[_Entry]) -> list[_Entry]:
        """The next group: waiting jobs of distinct doc ids and one embedder, within bounds."""
        group = [queue.popleft()]
        ids, size = {group[0].document.doc_id}, group[0].size
        embedder = group[0].pool.embedder.id
        while queue and len(group) < GROUP_DOCUMENTS:
            entry = queue[0]
            if (
                entry.document.doc_id in ids
                or entry.pool.embedder.id != embedder
                or size + entry.size > GROUP_BYTES
            ):
                break
            group.append(queue.popleft())
            ids.add(entry.document.doc_id)
            size += entry.size
        return group

    async def _run_group(self, group: list[_Entry]) -> None:
        started = time.time()
        for entry in group:
            entry.job.status, entry.job.started = "running", started
        outcomes: dict[str, DocumentOutcome] = {}

        def progress(done: int, total: int) -> None:
            for entry in group:
                entry.job.done, entry.job.total = done, total

        def work() -> None:
            ingest_documents(
                group[0].pool, [e.document for e in group], errors="skip", on_progress=progress,
                on_document=lambda o: outcomes.__setitem__(o.doc_id, o),
            )  # fmt: skip

        failure: Exception | None = None
        try:
            await asyncio.to_thread(work)
        except Exception as exc:  # reported on each job not written; none is lost
            failure = exc
            if not isinstance(exc, XlingError):
                logging.getLogger("xling.server").exception("ingestion into %s failed",
                                                            group[0].pool.name)  # fmt: skip
        seconds = time.time() - started
        for entry in group:
            outcome = outcomes.get(entry.document.doc_id)
            if outcome is not None and outcome.outcome != "refused":
                entry.job.report = _report(outcome, seconds)
                entry.job.status = "succeeded"
            else:
                error: Exception = failure or RuntimeError("not ingested")
                if outcome is not None:
                    error = InvalidInputError(outcome.reason)
                entry.job.status, entry.job.exception = "failed", error
                entry.job.error = str(error) if isinstance(error, XlingError) else "internal error"
            try:
                await asyncio.to_thread(entry.on_end, entry.job.status == "succeeded")
            finally:
                entry.job.finished = time.time()
                entry.job.ended.set()

    def _forget_old(self) -> None:
        finished = [j.id for j in self.jobs.values() if j.finished is not None]
        for job_id in finished[: max(0, len(finished) - self.keep)]:
            del self.jobs[job_id]

    def get(self, job_id: str, caller: Caller) -> Job:
        """A job ``caller`` may see (one of a pool it may read).

        Raises:
            NotFoundError: On an unknown job, or one of a pool the caller may not read.
        """
        job = self.jobs.get(job_id)
        if job is None or not caller.can_read(job.pool):
            raise NotFoundError(f"unknown job {job_id[:64]!r}")
        return job


def _report(outcome: DocumentOutcome, seconds: float) -> IngestReport:
    """One document's part of a group's ingestion, as the report of its own job."""
    return IngestReport(
        documents=1,
        added=int(outcome.outcome == "added"),
        updated=int(outcome.outcome == "updated"),
        unchanged=int(outcome.outcome == "unchanged"),
        chunks_written=outcome.chunks_written,
        chunks_embedded=outcome.chunks_embedded,
        chunks_deleted=outcome.chunks_deleted,
        seconds=seconds,
    )
