"""One writer at a time, and fresh reads, for an embedded Chroma folder shared by processes.

Chroma's embedded database (``PersistentClient``) keeps each collection's HNSW index in the
memory of the process that opened it and writes it back to the folder now and then. Two
processes writing one folder overwrite each other's index files: records become unreadable
("Error getting embedding"), search returns repeated ids, and a process that has the folder open
never sees what another one added ("Error finding id"). A :class:`FolderGuard` prevents both with
three small files next to the database:

- ``.xling-write.lock``: held by the one writer for its whole run; who holds it (pid, host,
  command, start time) is in ``.xling-write.holder.json``, so a second writer can say whom it
  waits for or fail at once with that name;
- ``.xling-commit.lock``: held briefly around each Chroma call (a writer's batch, a reader's
  search), so a reader never loads index files a writer is halfway through saving;
- ``.xling-generation``: a counter the writer bumps after each committed batch; a reader compares
  it with the one its client was opened at, and reopens the client when it changed.

These are operating-system file locks (``flock``), reliable on one machine. To share a pool
between machines, serve it with ``chroma run`` and use ``--chroma-url``: the server serialises
writes itself and needs no lock.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from xling.core.errors import InvalidInputError, PoolLockedError
from xling.core.files import write_atomic
from xling.core.processes import process_alive

__all__ = ["FolderGuard", "LockHolder", "OnWait", "WRITE_LOCK", "COMMIT_LOCK", "GENERATION"]

WRITE_LOCK = ".xling-write.lock"
HOLDER = ".xling-write.holder.json"
COMMIT_LOCK = ".xling-commit.lock"
GENERATION = ".xling-generation"

_SUBCOMMAND = re.compile(r"^[a-z][a-z0-9-]*$")

OnWait = Callable[[str], None]
"""Called once with a one-line message when a writer starts waiting for the lock."""


def _command_line() -> str:
    """A short name of this process's command: ``xling index``, ``pytest``, ``python -c``."""
    argv = sys.argv or ["python"]
    head = Path(argv[0]).name or "python"
    if head == "__main__.py":  # python -m NAME
        head = Path(argv[0]).parent.name
    if head in {"-c", "-m", ""}:
        head = f"python {head}" if head else "python"
    rest = [a for a in argv[1:2] if _SUBCOMMAND.match(a)]  # "index", not "tests/x.py"
    return " ".join([head, *rest])


@dataclass(frozen=True)
class LockHolder:
    """Who holds a folder's write lock.

    Attributes:
        pid: Process id of the holder.
        host: Host name of the holder.
        command: Short command name (``xling index``).
        started: When it took the lock (seconds since the epoch).
        argv: The holder's full command line, shortened to 300 characters.
    """

    pid: int
    host: str
    command: str
    started: float
    argv: str = ""

    @classmethod
    def current(cls) -> LockHolder:
        """This process, now."""
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            command=_command_line(),
            started=time.time(),
            argv=" ".join(sys.argv)[:300],
        )

    def describe(self) -> str:
        """``pid 123 (xling index, since 14:03)``, naming the host when it is another one."""
        when = time.localtime(self.started)
        since = time.strftime(
            "%H:%M" if when[:3] == time.localtime()[:3] else "%Y-%m-%d %H:%M", when
        )
        host = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{host} ({self.command}, since {since})"


class FolderGuard:
    """The write lock, commit lock and generation counter of one embedded Chroma folder.

    Get it with :meth:`of`: there is one guard per folder per process, so nested and repeated
    uses in one thread share (and re-enter) the same locks.

    Args:
        folder: The database folder (it must exist).
    """

    _guards: dict[Path, FolderGuard] = {}
    _guards_lock = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._write = FileLock(str(folder / WRITE_LOCK))
        self._commit = FileLock(str(folder / COMMIT_LOCK))
        self._holder_path = folder / HOLDER
        self._generation_path = folder / GENERATION

    @classmethod
    def of(cls, folder: str | os.PathLike[str]) -> FolderGuard:
        """The process's guard of ``folder`` (resolved, so two spellings share one guard)."""
        key = Path(folder).resolve()
        with cls._guards_lock:
            guard = cls._guards.get(key)
            if guard is None:
                guard = cls._guards[key] = cls(key)
            return guard

    # -- the write lock ------------------------------------------------------------------------

    @property
    def writing(self) -> bool:
        """Whether this process holds the write lock."""
        return bool(self._write.is_locked)

    def holder(self) -> LockHolder | None:
        """Who holds the write lock, as recorded in the sidecar file (``None`` if unknown)."""
        try:
            holder = LockHolder(**json.loads(self._holder_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if holder.host == socket.gethostname() and not process_alive(holder.pid):
            return None  # a stale record left by a holder that died; the OS freed its lock
        return holder

    def _held_by(self) -> str:
        holder = self.holder()
        return holder.describe() if holder is not None else "another process"

    @contextmanager
    def write_lock(
        self, timeout: float | None = None, on_wait: OnWait | None = None
    ) -> Iterator[None]:
        """Holds the write lock for the ``with`` block (re-entrant in one thread).

        Args:
            timeout: ``None`` waits as long as it takes, ``0`` fails at once, a number of
                seconds waits that long at most.
            on_wait: Called once with "waiting for the write lock on DIR held by ..." when
                another process holds it and waiting was asked for.

        Raises:
            InvalidInputError: On a negative or non-numeric timeout.
            PoolLockedError: If another process holds the lock and ``timeout`` ran out (or
                is 0); the message names the holder.
        """
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
        ):
            raise InvalidInputError(
                f"lock timeout {timeout!r} is not allowed; use None (wait), 0 (fail at once) "
                "or a number of seconds"
            )
        first = not self._write.is_locked
        try:
            self._write.acquire(timeout=0)
        except Timeout:
            if timeout == 0:
                raise PoolLockedError(
                    f"the pool database {self.folder} is being written by {self._held_by()}; "
                    "wait for it (xling index --wait, or lock_timeout=None) or retry later"
                ) from None
            if on_wait is not None:
                on_wait(f"waiting for the write lock on {self.folder} held by {self._held_by()}")
            try:
                self._write.acquire(timeout=-1 if timeout is None else timeout)
            except Timeout:
                raise PoolLockedError(
                    f"gave up after {timeout:g}s waiting for the write lock on {self.folder} "
                    f"held by {self._held_by()}"
                ) from None
        try:
            if first:
                self._write_holder()
            yield
        finally:
            if first:
                self._holder_path.unlink(missing_ok=True)
            self._write.release()

    def _write_holder(self) -> None:
        data = json.dumps(asdict(LockHolder.current()))
        write_atomic(self._holder_path, data)

    # -- the commit lock and the generation ----------------------------------------------------

    @contextmanager
    def commit_lock(self) -> Iterator[None]:
        """Holds the short commit lock for one Chroma call (re-entrant in one thread)."""
        with self._commit:
            yield

    def generation(self) -> int:
        """The folder's generation: 0 before any xling write, -1 if the file is unreadable."""
        try:
            return int(self._generation_path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            return -1

    def bump(self) -> int:
        """Counts one committed batch; call it holding both locks.

        Returns:
            The new generation.
        """
        if not (self._write.is_locked and self._commit.is_locked):
            raise RuntimeError("bump() needs the write and commit locks")
        new = max(self.generation(), 0) + 1
        write_atomic(self._generation_path, str(new))
        return new
