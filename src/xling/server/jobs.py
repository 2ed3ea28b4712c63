"""Background ingestion jobs: in-process, one writer per pool, a bounded queue.

A job wraps one blocking write (an ingestion) that runs on a worker thread. Jobs of one pool
run one after another, in the order they were submitted, so a pool has one writer in this
process (the embedded Chroma folder's write lock, :mod:`xling.store.lock`, orders writers of
different processes). At most ``max_queued`` jobs may wait; one more is refused with 503 and
``Retry-After``. Finished jobs are kept (the newest ``keep``) so their callers can poll them;
a job is visible only to callers who may read its pool. Jobs live in the process: a restart
forgets them (an ingestion cut short is finished by uploading again: documents already written
are then unchanged).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xling.core.errors import NotFoundError, ServiceUnavailableError, XlingError
from xling.core.progress import ProgressCallback
from xling.server.access import Caller
from xling.store.ingest import IngestReport

__all__ = ["Job", "JobRunner", "JobStatus"]

JobStatus = Literal["queued", "running", "succeeded", "failed"]
Work = Callable[[ProgressCallback], IngestReport]


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


class JobRunner:
    """Runs jobs in the background of the service's event loop.

    Args:
        max_queued: Jobs allowed to wait (not yet running); more are refused with 503.
        keep: Finished jobs kept for polling (the oldest are forgotten first).
    """

    def __init__(self, max_queued: int, keep: int = 2048) -> None:
        self.max_queued = max_queued
        self.keep = keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queued(self) -> int:
        """Jobs waiting to run."""
        return sum(1 for job in self.jobs.values() if job.status == "queued")

    def lock(self, pool: str) -> asyncio.Lock:
        """The lock writers of ``pool`` in this process take in turn (a deletion takes it too)."""
        return self._locks.setdefault(pool, asyncio.Lock())

    def submit(self, pool: str, doc_ids: Sequence[str], work: Work) -> Job:
        """Queues ``work`` (called on a worker thread with a progress callback) behind the
        other jobs of ``pool``.

        Raises:
            ServiceUnavailableError: When ``max_queued`` jobs are waiting already (503).
        """
        if self.queued >= self.max_queued:
            raise ServiceUnavailableError(
                f"{self.queued} ingestion jobs are waiting, this server's cap; try again shortly"
            )
        job = Job(uuid.uuid4().hex, pool, tuple(doc_ids))
        self.jobs[job.id] = job
        self._forget_old()
        task = asyncio.get_running_loop().create_task(self._run(job, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, work: Work) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            async with self.lock(job.pool):
                job.status, job.started = "running", time.time()
                job.report = await asyncio.to_thread(work, progress)
            job.status = "succeeded"
        except Exception as exc:  # every failure is reported on the job, none is lost
            job.status, job.exception = "failed", exc
            job.error = str(exc) if isinstance(exc, XlingError) else "internal error"
            if not isinstance(exc, XlingError):
                import logging

                logging.getLogger("xling.server").exception("job %s failed", job.id)
        finally:
            job.finished = time.time()
            job.ended.set()

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
