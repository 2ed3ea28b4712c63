"""The Chroma side of a pool: how xling marks the collections it makes, finds them, reads a
stored record back as a hit, and holds a pool's collection under the folder's locks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self

from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.records import Hit
from xling.embedders import Embedder, same_embedder
from xling.store.chroma_client import Database
from xling.store.lock import OnWait
from xling.store.records import public_metadata
from xling.store.shards import SHARDS_KEY, ShardedCollection, ShardRule, is_shard_name

__all__ = [
    "DIM_KEY",
    "EMBEDDER_KEY",
    "GENERATION_KEY",
    "LAYOUT",
    "LAYOUT_KEY",
    "PoolCollection",
    "collection_names",
    "get_collection",
    "pool_names",
    "write_batch_limit",
    "stored_hit",
]

EMBEDDER_KEY = "xling:embedder"
"""Collection metadata: the id of the embedder that filled the pool."""
DIM_KEY = "xling:dim"
"""Collection metadata: that embedder's dimension."""
LAYOUT_KEY = "xling:layout"
"""Collection metadata: pools written since one text became one record say so."""
GENERATION_KEY = "xling:generation"
"""Collection metadata: deletions so far, so that a pool's state changes with each of them."""
LAYOUT = "passages"
"""The value of :data:`LAYOUT_KEY` (pairs as ``xling:pair:*`` keys of one record per text)."""
_UNSET: Any = object()
CLOUD_HOST = "api.trychroma.com"
"""Where :func:`chromadb.CloudClient` connects (Chroma's own telemetry tells Cloud so too)."""
CLOUD_MAX_WRITE = 300
"""Chroma Cloud's cap on the records of one write (docs.trychroma.com/cloud/quotas-limits)."""


def write_batch_limit(client: Any) -> int:
    """The most records one write may carry: the client's ``get_max_batch_size()``, and at most
    300 on Chroma Cloud.

    A client is taken for Cloud's when its settings are those :func:`chromadb.CloudClient`
    makes: Cloud's host, or Cloud's token sent in the ``X-Chroma-Token`` header (a server of
    one's own reached that way merely gets smaller writes).
    """
    limit = int(client.get_max_batch_size())
    if limit <= 0:  # a server that does not say
        return CLOUD_MAX_WRITE
    return min(limit, CLOUD_MAX_WRITE) if _is_cloud(client) else limit


def _is_cloud(client: Any) -> bool:
    settings = client.get_settings() if hasattr(client, "get_settings") else None
    if settings is None:
        return False
    header = getattr(settings, "chroma_auth_token_transport_header", None)
    provider = str(getattr(settings, "chroma_client_auth_provider", None) or "")
    return getattr(settings, "chroma_server_host", None) == CLOUD_HOST or (
        str(getattr(header, "value", header)).lower() == "x-chroma-token"
        and provider.endswith("TokenAuthClientProvider")
    )


def get_collection(client: Any, name: str) -> Any:
    """The collection, or ``None`` if there is none of that name."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except (NotFoundError, ValueError):
        return None


def collection_names(client: Any) -> list[str]:
    """The names of the client's collections, sorted (Chroma returns names or objects)."""
    return sorted(c if isinstance(c, str) else c.name for c in client.list_collections())


def pool_names(client: Any) -> list[str]:
    """The names of the client's collections that are pools, sorted (a sharded pool once, its
    shards not)."""
    return [name for name in collection_names(client) if not is_shard_name(name)]


def stored_hit(rid: str, text: str, metadata: Mapping[str, Any] | None, score: float | None) -> Hit:
    """A stored record as a hit: its language (``None`` in collections other tools made) and
    the user's metadata, without xling's bookkeeping keys."""
    meta = dict(metadata or {})
    lang = meta.get("lang")
    return Hit(rid, text, score, str(lang) if isinstance(lang, str) and lang else None,
               public_metadata(meta))  # fmt: skip


class PoolCollection:
    """Locked access to the Chroma collection of one pool, checked against its embedder.

    The base of :class:`~xling.store.pool.Pool`: it holds the collection handle (reopened when
    another process committed), creates the collection on the first write, and takes the
    folder's write lock. Use :meth:`Pool.open <xling.store.pool.Pool.open>` rather than the
    constructor.

    Args:
        db: The database handle.
        name: The collection name.
        embedder: The embedder matching the collection's recorded embedder id.
        lock_timeout: How long a write waits for another process's write lock on an
            embedded folder: ``None`` as long as it takes, ``0`` not at all, else seconds.
        on_wait: Called with a one-line message when a write starts waiting for that lock.
        foreign: Accept a collection that xling did not make (no embedder record), read-only,
            with ``embedder`` as named by the caller.
        shards: The shard rule of a pool this object creates (see :mod:`xling.store.shards`);
            an existing pool's own rule is read from its collection.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        embedder: Embedder,
        *,
        lock_timeout: float | None = None,
        on_wait: OnWait | None = None,
        foreign: bool = False,
        shards: ShardRule | None = None,
    ) -> None:
        self.db = db
        self.shards = shards
        self.embedder = embedder
        self.foreign = foreign
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        self._name = name
        self._collection: Any = None
        self._epoch = -1
        self.max_batch = write_batch_limit(db.client)

    @property
    def name(self) -> str:
        """The collection name."""
        return self._name

    def _check_embedder(self, name: str, metadata: dict[str, Any], emb: Embedder) -> None:
        recorded, dim = metadata.get(EMBEDDER_KEY), metadata.get(DIM_KEY)
        if recorded is None:
            if self.foreign:
                return  # another tool's collection, read with the embedder the caller named
            raise InvalidInputError(
                f"collection {name!r} was not made by xling (no embedder record); open it with "
                "the embedder that filled it named explicitly, e.g. Pool.open(name, "
                "'e5-small-q4') or --embedder, to search it"
            )
        if not same_embedder(str(recorded), emb.id) or int(dim or 0) != emb.dim:
            raise InvalidInputError(
                f"pool {name!r} was indexed with embedder {recorded!r} ({dim}-d), not "
                f"{emb.id!r} ({emb.dim}-d); use that embedder or another pool name"
            )

    # -- access to the collection ----------------------------------------------------------

    def _current(self, client: Any) -> Any:
        if self._collection is None or self._epoch != self.db.epoch:
            found = get_collection(client, self.name)
            if found is not None:
                self._check_embedder(self.name, found.metadata or {}, self.embedder)
                found = self._sharded(client, found)
            self._collection, self._epoch = found, self.db.epoch
        elif isinstance(self._collection, ShardedCollection):
            self._collection.refresh()  # another writer may have added a language's shard
        return self._collection

    def _metadata(self) -> dict[str, Any]:
        """The metadata of a collection this pool creates."""
        return {EMBEDDER_KEY: self.embedder.id, DIM_KEY: self.embedder.dim, LAYOUT_KEY: LAYOUT}

    def _sharded(self, client: Any, collection: Any) -> Any:
        """The collection, or for a sharded pool the fan-out over its shards."""
        rule = (collection.metadata or {}).get(SHARDS_KEY)
        if not rule:
            return collection
        return ShardedCollection(client, collection, ShardRule.parse(rule), self._metadata())

    def reload(self) -> None:
        """Forgets the cached Chroma collection; the next call fetches it again."""
        self._collection, self._epoch = None, -1

    @property
    def collection(self) -> Any:
        """The Chroma collection as of now (``None`` until the first write)."""
        with self.reading() as collection:
            return collection

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """Yields the collection (or ``None``) for reads that see every committed write.

        On an embedded folder this holds the short commit lock, so keep the block to a few
        Chroma calls.
        """
        with self.db.calls(f"reading pool {self.name!r}"), self.db.reading() as client:
            yield self._current(client)

    @contextmanager
    def writing(
        self, lock_timeout: float | None = _UNSET, on_wait: OnWait | None = _UNSET
    ) -> Iterator[Self]:
        """Holds the embedded folder's write lock for several writes (re-entrant).

        :meth:`index` and :meth:`verify` take it themselves; hold it around several of them to
        keep other writers out in between. A server pool needs no lock.

        Args:
            lock_timeout: Overrides the pool's ``lock_timeout`` for this block.
            on_wait: Overrides the pool's ``on_wait`` for this block.

        Raises:
            PoolLockedError: If another process holds the lock and the timeout ran out.
        """
        timeout = self.lock_timeout if lock_timeout is _UNSET else lock_timeout
        with self.db.writing(timeout, self.on_wait if on_wait is _UNSET else on_wait):
            yield self

    @contextmanager
    def committing(self) -> Iterator[Any]:
        """Yields the collection, created if needed, for one write; call it inside :meth:`writing`.

        Other processes' pools see the write from their next read on.
        """
        with self.db.committing() as client:
            collection = self._current(client)
            if collection is None:
                rule = {SHARDS_KEY: str(self.shards)} if self.shards is not None else {}
                collection = client.get_or_create_collection(
                    self.name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={**self._metadata(), **rule},
                    embedding_function=None,
                )
                self._check_embedder(self.name, collection.metadata or {}, self.embedder)
                collection = self._sharded(client, collection)
                self._collection, self._epoch = collection, self.db.epoch
            yield collection

    @contextmanager
    def damage_is_named(self) -> Iterator[None]:
        """Turns Chroma's internal error on a damaged index into one line saying how to repair."""
        from chromadb.errors import InternalError

        try:
            yield
        except InternalError as exc:
            raise ServiceUnavailableError(
                f"pool {self.name!r} at {self.db.where} is damaged ({exc}); repair it with "
                f"`xling index --pool {self.name} --verify`"
            ) from exc
