"""Connecting to Chroma: embedded (persistent), a ``chroma run`` server, or Chroma Cloud.

:func:`connect` opens a plain Chroma client. :class:`Database` is what pools use: one handle per
database per process, which for an embedded folder also takes the folder's locks (see
:mod:`xling.store.lock`) and reopens its client when another process committed new data,
and which turns a server that stops answering into a one-line
:class:`~xling.core.errors.ServiceUnavailableError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from xling.core.errors import InvalidInputError, ServiceUnavailableError, XlingError
from xling.core.paths import default_cache_dir
from xling.store.lock import FolderGuard, OnWait

__all__ = ["connect", "default_chroma_path", "Database"]


def default_chroma_path() -> Path:
    """The default folder of the embedded Chroma database."""
    return default_cache_dir() / "chroma"


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def _embedded_folder(path: str | os.PathLike[str] | None) -> Path:
    """The resolved database folder, created if missing.

    Raises:
        InvalidInputError: If the path is a file or cannot be made a folder.
    """
    folder = (Path(path) if path is not None else default_chroma_path()).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(
            f"Chroma path {str(folder)!r} is a file, not a folder; give a folder for the "
            "embedded database (it is created if missing)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"Chroma path {str(folder)!r} cannot be made a folder ({exc.strerror or exc}); "
            "give a writable folder for the embedded database"
        ) from None
    return folder.resolve()


def connect(path: str | os.PathLike[str] | None = None, url: str | None = None) -> Any:
    """Opens a Chroma client.

    Args:
        path: Folder of an embedded ``PersistentClient`` (default :func:`default_chroma_path`).
            Embedded databases are for one machine; serve them with ``chroma run`` to share
            them between machines.
        url: ``http(s)://host:port`` of a ``chroma run`` server, or
            ``chroma-cloud://TENANT/DATABASE`` for Chroma Cloud (API key from
            ``CHROMA_API_KEY``). Overrides ``path``.

    Returns:
        A Chroma client; every later call goes through the same collection API.

    Raises:
        ServiceUnavailableError: If the server does not answer.
        InvalidInputError: If the URL has an unsupported scheme, or the path is a file.
    """
    import chromadb

    settings = _settings()
    if url is None:
        folder = _embedded_folder(path)
        return chromadb.PersistentClient(path=str(folder), settings=settings)
    parsed = urlparse(url)
    try:
        if parsed.scheme in {"http", "https"} and parsed.hostname:
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
            )
        elif parsed.scheme == "chroma-cloud" and parsed.hostname:
            client = chromadb.CloudClient(
                tenant=parsed.hostname,
                database=parsed.path.strip("/") or "default_database",
                api_key=os.environ.get("CHROMA_API_KEY"),
                settings=settings,
            )
        else:
            raise InvalidInputError(
                f"Chroma URL {url!r} is not allowed; use http(s)://host:port or "
                "chroma-cloud://TENANT/DATABASE"
            )
        client.heartbeat()
    except InvalidInputError:
        raise
    except Exception as exc:
        raise ServiceUnavailableError(
            f"Chroma at {url} is unreachable ({type(exc).__name__}); start it with "
            "`chroma run --path DIR --host 127.0.0.1 --port PORT` or fix the URL"
        ) from exc
    return client


def _private_client(folder: Path) -> Any:
    """A ``PersistentClient`` of ``folder`` with a Chroma system of its own.

    Chroma caches one system (and with it each collection's in-memory HNSW index) per path and
    process, and hands it to every later client of that path, so a new client would still not
    see what another process wrote. The new client's system is therefore taken out of that cache
    (a client keeps its system through ``client._server``, not through the cache); any cached
    system of other clients is put back untouched.
    """
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    systems: dict[str, Any] | None = getattr(SharedSystemClient, "_identifier_to_system", None)
    counts: dict[str, int] | None = getattr(SharedSystemClient, "_identifier_to_refcount", None)
    key = str(folder)
    if systems is None or counts is None:  # another chromadb layout: fall back to the cache
        SharedSystemClient.clear_system_cache()
        return chromadb.PersistentClient(path=key, settings=_settings())
    with _CACHE_LOCK:
        other = (systems.pop(key, None), counts.pop(key, None))
        try:
            client = chromadb.PersistentClient(path=key, settings=_settings())
        finally:
            systems.pop(key, None)
            counts.pop(key, None)
            if other[0] is not None:
                systems[key] = other[0]
            if other[1] is not None:
                counts[key] = other[1]
    return client


_CACHE_LOCK = threading.Lock()


def _server_url(client: Any) -> str:
    try:
        settings = client.get_settings()
        host, port = settings.chroma_server_host, settings.chroma_server_http_port
        scheme = "https" if settings.chroma_server_ssl_enabled else "http"
        return f"{scheme}://{host}:{port}" if host else "the Chroma server"
    except Exception:
        return "the Chroma server"


def _transport_errors() -> tuple[type[BaseException], ...]:
    import httpx

    return (httpx.TransportError, ConnectionError)


class Database:
    """This process's handle on one Chroma database, shared by the pools that use it.

    For an embedded folder it holds a client of its own (see :func:`_private_client`) and the
    folder's :class:`~xling.store.lock.FolderGuard`: :meth:`reading` and :meth:`committing`
    reopen the client when another process committed since, and :meth:`writing` keeps other
    writers out. A server needs none of that (it serialises writes itself), so those are no-ops
    there.

    Use :meth:`open` rather than the constructor.

    Args:
        client: The Chroma client.
        url: The server URL, ``None`` for an embedded folder.
        folder: The embedded folder, ``None`` for a server.
    """

    _embedded: dict[Path, Database] = {}
    _embedded_lock = threading.Lock()

    def __init__(self, client: Any, *, url: str | None = None, folder: Path | None = None):
        self._client = client
        self.url = url
        self.folder = folder
        self.guard = FolderGuard.of(folder) if folder is not None else None
        self.epoch = 0
        self._seen = self.guard.generation() if self.guard is not None else 0

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        client: Any = None,
    ) -> Database:
        """The handle of a database given by a client, a URL or a folder (in that order).

        Of an embedded client only its folder is used; every pool of one folder in this
        process shares one handle and one client of its own.

        Raises:
            ServiceUnavailableError: If the server does not answer.
            InvalidInputError: On a bad URL or a path that is a file.
        """
        if client is not None:
            settings = client.get_settings() if hasattr(client, "get_settings") else None
            if settings is None or not getattr(settings, "is_persistent", False):
                return cls(client, url=_server_url(client))
            path = settings.persist_directory
        elif url is not None:
            return cls(connect(url=url), url=url)
        folder = _embedded_folder(path)
        with cls._embedded_lock:
            db = cls._embedded.get(folder)
            if db is None:
                guard = FolderGuard.of(folder)
                with guard.commit_lock():  # a new folder's tables are made by the first client
                    db = cls(_private_client(folder), folder=folder)
                cls._embedded[folder] = db
            return db

    @property
    def embedded(self) -> bool:
        """Whether this is an embedded (``PersistentClient``) folder."""
        return self.folder is not None

    @property
    def where(self) -> str:
        """The URL or folder, for messages."""
        return str(self.folder) if self.folder is not None else str(self.url)

    @property
    def client(self) -> Any:
        """The current Chroma client (replaced when another process committed)."""
        return self._client

    def _refresh(self) -> None:
        assert self.guard is not None and self.folder is not None
        generation = self.guard.generation()
        if generation != self._seen:
            self._client = _private_client(self.folder)
            self.epoch += 1
            self._seen = generation

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """Holds the commit lock for one read and yields a client that sees every commit."""
        if self.guard is None:
            yield self._client
            return
        with self.guard.commit_lock():
            self._refresh()
            yield self._client

    @contextmanager
    def writing(
        self, timeout: float | None = None, on_wait: OnWait | None = None
    ) -> Iterator[None]:
        """Holds the write lock of an embedded folder for the ``with`` block.

        Args:
            timeout: ``None`` waits, ``0`` fails at once, else seconds to wait at most.
            on_wait: Called once with a message naming the holder when waiting starts.

        Raises:
            PoolLockedError: If another process holds it and the timeout ran out.
        """
        with self.guard.write_lock(timeout, on_wait) if self.guard is not None else nullcontext():
            yield

    @contextmanager
    def committing(self) -> Iterator[Any]:
        """Holds the commit lock for one write, then counts it so other processes reopen.

        Call it inside :meth:`writing`.
        """
        if self.guard is None:
            yield self._client
            return
        if not self.guard.writing:
            raise RuntimeError("committing() needs the write lock; use it inside writing()")
        with self.guard.commit_lock():
            self._refresh()
            try:
                yield self._client
            finally:
                # Counted even when the call failed: part of it may have been written.
                self._seen = self.guard.bump()

    @contextmanager
    def calls(self, doing: str, hint: str = "") -> Iterator[None]:
        """Turns a server that stops answering into a one-line error.

        Args:
            doing: What was being done ("indexing pool 'x'"), for the message.
            hint: A sentence added to the message (how to resume).

        Raises:
            ServiceUnavailableError: Naming the URL, instead of a transport error.
        """
        try:
            yield
        except XlingError:
            raise
        except _transport_errors() as exc:
            raise ServiceUnavailableError(
                f"Chroma at {self.where} stopped answering while {doing} "
                f"({type(exc).__name__}: {str(exc) or 'no details'}){hint}"
            ) from exc
