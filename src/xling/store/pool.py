"""Pools: Chroma collections of texts with metadata and vectors from an xling embedder.

A pool records the embedder that filled it; opening it with another embedder is refused.
Record ids derive from content, so indexing is an idempotent upsert: an interrupted run is
resumed by running it again, and an unchanged pool re-embeds nothing.

A pool's collection is created by its first write, after every input was checked, so a refused
run leaves nothing behind. An embedded pool (a ``PersistentClient`` folder) may be used by
several processes of one machine: writers take the folder's write lock in turn, and readers
reopen their view when a writer committed (see :mod:`xling.store.lock`). To share a pool
between machines, serve the folder with ``chroma run`` and open it by URL: the server serialises
writes itself and needs no lock.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.languages import normalize_code
from xling.core.progress import ProgressCallback
from xling.core.records import Hit
from xling.core.validation import check_positive_int, check_texts
from xling.embedders import DEFAULT_EMBEDDER, Embedder, Task, get_embedder
from xling.store.chroma_client import Database
from xling.store.lock import OnWait
from xling.store.records import (
    Record,
    check_metadata,
    merge_metadata,
    pair_keys,
    public_metadata,
)

if TYPE_CHECKING:
    from xling.store.verify import VerifyReport

__all__ = [
    "Pool",
    "Hit",
    "IndexReport",
    "Progress",
    "check_records",
    "stored_metadata",
]

Progress = ProgressCallback  # the former name, kept for imports
_EMBEDDER_KEY = "xling:embedder"
_DIM_KEY = "xling:dim"
# Pools written since one text became one record (pairs as xling:pair:* keys) say so.
_LAYOUT_KEY = "xling:layout"
_LAYOUT = "passages"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_UNSET: Any = object()
_QUERY_CELLS = 30_000  # queries × results per Chroma query call (SQLite's limit is 32,766)


@dataclass(frozen=True)
class IndexReport:
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

    def to_dict(self) -> dict[str, int]:
        """``{"total", "added", "skipped", "updated"}``."""
        return {
            "total": self.total,
            "added": self.added,
            "skipped": self.skipped,
            "updated": self.updated,
        }


def _row(record: Record, fallback: int) -> int:
    return int(record.row) if record.row is not None else fallback


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


def _get_collection(client: Any, name: str) -> Any:
    """The collection, or ``None`` if there is none of that name."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except (NotFoundError, ValueError):
        return None


def _lang(metadata: dict[str, Any]) -> str | None:
    """A stored record's language (``None`` in collections other tools made)."""
    lang = metadata.get("lang")
    return str(lang) if isinstance(lang, str) and lang else None


def _space(collection: Any) -> str:
    """The collection's HNSW distance: ``cosine`` (xling's), ``l2`` (Chroma's default) or ``ip``."""
    try:
        config = collection.configuration or {}
        space = (config.get("hnsw") or {}).get("space")
    except Exception:  # an older server without configurations
        space = None
    return str(space or (collection.metadata or {}).get("hnsw:space") or "l2")


def _similarity(collection: Any) -> Callable[[float], float]:
    """Chroma distance → cosine similarity, for unit vectors in any of Chroma's spaces.

    ``cosine``: d = 1 − cos; ``l2`` (squared): d = 2 − 2 cos, so cos = 1 − d / 2; ``ip``:
    d = 1 − u·v.
    """
    if _space(collection) == "l2":
        return lambda d: 1.0 - d / 2.0
    return lambda d: 1.0 - d


class Pool:
    """A Chroma collection filled through an xling embedder.

    Use :meth:`open` rather than the constructor.

    Args:
        db: The database handle.
        name: The collection name.
        embedder: The embedder matching the collection's recorded embedder id.
        lock_timeout: How long a write waits for another process's write lock on an
            embedded folder: ``None`` as long as it takes, ``0`` not at all, else seconds.
        on_wait: Called with a one-line message when a write starts waiting for that lock.
        foreign: Accept a collection that xling did not make (no embedder record), read-only,
            with ``embedder`` as named by the caller.
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
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.foreign = foreign
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        self._name = name
        self._collection: Any = None
        self._epoch = -1
        self.max_batch = int(db.client.get_max_batch_size())

    @property
    def name(self) -> str:
        """The collection name."""
        return self._name

    @classmethod
    def open(
        cls,
        name: str,
        embedder: str | Embedder | None = None,
        *,
        client: Any = None,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        create: bool = True,
        lock_timeout: float | None = None,
        on_wait: OnWait | None = None,
    ) -> Pool:
        """Opens a pool; nothing is written until the first :meth:`index`.

        Args:
            name: Collection name (3–512 characters of ``[A-Za-z0-9._-]``).
            embedder: Spec string or embedder; must match the one the pool was built with.
                ``None``: the one the pool records, or :data:`DEFAULT_EMBEDDER` for a new
                pool, so a change of the default never breaks existing pools.
            client: A Chroma client; else one from ``path``/``url`` (see
                :func:`~xling.store.chroma_client.connect`). Of an embedded client only the
                folder is used: the pool opens a client of its own, which it can reopen.
            path: Embedded database folder (one machine; several processes may share it).
            url: Chroma server or cloud URL (to share a pool between machines).
            create: Allow a pool that does not exist yet (it is created by the first write).
            lock_timeout: How long writes wait for another process's write lock on an
                embedded folder: ``None`` as long as it takes, ``0`` not at all (raise
                :class:`~xling.core.errors.PoolLockedError`), else seconds.
            on_wait: Called with "waiting for the write lock on DIR held by pid N (...)" when
                a write starts waiting.

        Raises:
            InvalidInputError: On a bad name, a missing pool with ``create=False``, or an
                embedder other than the pool's.
            ServiceUnavailableError: If the server does not answer.
        """
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InvalidInputError(
                f"pool name {name!r} is not allowed; use 3-512 characters of [A-Za-z0-9._-], "
                "starting and ending with a letter or digit"
            )
        if lock_timeout is not None and (
            isinstance(lock_timeout, bool)
            or not isinstance(lock_timeout, int | float)
            or not lock_timeout >= 0
        ):
            raise InvalidInputError(
                f"lock_timeout={lock_timeout!r} is not allowed; use None (wait), 0 (fail at "
                "once) or a number of seconds"
            )
        db = Database.open(path=path, url=url, client=client)
        named = embedder is not None
        if embedder is None:
            embedder = cls._recorded(db, name) or DEFAULT_EMBEDDER
        emb = get_embedder(embedder) if not isinstance(embedder, Embedder) else embedder
        pool = cls(db, name, emb, lock_timeout=lock_timeout, on_wait=on_wait, foreign=named)
        with pool.reading() as collection:
            if collection is None and not create:
                existing = sorted(
                    c if isinstance(c, str) else c.name for c in db.client.list_collections()
                )
                raise InvalidInputError(
                    f"pool {name!r} does not exist; existing pools: {', '.join(existing) or 'none'}"
                )
        return pool

    @classmethod
    def recorded_embedder(
        cls,
        name: str,
        *,
        client: Any = None,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
    ) -> str | None:
        """The embedder spec a pool records, or ``None`` if there is no such pool.

        Args:
            name: The pool name.
            client: A Chroma client; else one from ``path``/``url``.
            path: Embedded database folder.
            url: Chroma server or cloud URL.
        """
        return cls._recorded(Database.open(path=path, url=url, client=client), name)

    @staticmethod
    def _recorded(db: Database, name: str) -> str | None:
        with db.calls(f"opening pool {name!r}"), db.reading() as client:
            found = _get_collection(client, name)
        recorded = (found.metadata or {}).get(_EMBEDDER_KEY) if found is not None else None
        return str(recorded) if recorded else None

    def _check_embedder(self, name: str, metadata: dict[str, Any], emb: Embedder) -> None:
        recorded, dim = metadata.get(_EMBEDDER_KEY), metadata.get(_DIM_KEY)
        if recorded is None:
            if self.foreign:
                return  # another tool's collection, read with the embedder the caller named
            raise InvalidInputError(
                f"collection {name!r} was not made by xling (no embedder record); open it with "
                "the embedder that filled it named explicitly, e.g. Pool.open(name, "
                "'e5-small-q4') or --embedder, to search it"
            )
        if recorded != emb.id or int(dim or 0) != emb.dim:
            raise InvalidInputError(
                f"pool {name!r} was indexed with embedder {recorded!r} ({dim}-d), not "
                f"{emb.id!r} ({emb.dim}-d); use that embedder or another pool name"
            )

    # -- access to the collection ----------------------------------------------------------

    def _current(self, client: Any) -> Any:
        if self._collection is None or self._epoch != self.db.epoch:
            found = _get_collection(client, self.name)
            if found is not None:
                self._check_embedder(self.name, found.metadata or {}, self.embedder)
            self._collection, self._epoch = found, self.db.epoch
        return self._collection

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
    ) -> Iterator[Pool]:
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
                collection = client.get_or_create_collection(
                    self.name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={
                        _EMBEDDER_KEY: self.embedder.id,
                        _DIM_KEY: self.embedder.dim,
                        _LAYOUT_KEY: _LAYOUT,
                    },
                    embedding_function=None,
                )
                self._check_embedder(self.name, collection.metadata or {}, self.embedder)
                self._collection, self._epoch = collection, self.db.epoch
            yield collection

    @contextmanager
    def _damage_is_named(self) -> Iterator[None]:
        from chromadb.errors import InternalError

        try:
            yield
        except InternalError as exc:
            raise ServiceUnavailableError(
                f"pool {self.name!r} at {self.db.where} is damaged ({exc}); repair it with "
                f"`xling index --pool {self.name} --verify`"
            ) from exc

    # -- writing ----------------------------------------------------------------------------

    def count(self) -> int:
        """Number of records in the pool."""
        with self.reading() as collection:
            return int(collection.count()) if collection is not None else 0

    def _existing(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored metadata of those ids that are in the pool."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), self.max_batch):
            with self.reading() as collection:
                if collection is None:
                    return found
                got = collection.get(ids=ids[start : start + self.max_batch], include=["metadatas"])
            for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
                found[rid] = dict(meta or {})
        return found

    def index(
        self,
        records: Sequence[Record],
        *,
        batch_size: int = 256,
        on_progress: ProgressCallback | None = None,
    ) -> IndexReport:
        """Embeds and upserts the records that are not in the pool yet.

        Everything is checked before the first write (a refused call leaves no pool behind),
        including, for an embedder with ``on_long="refuse"``, the length of every new text.
        Each batch is written as soon as it is embedded; ids come from content, so a run that
        stops half way is resumed by running it again, without duplicates. On an embedded
        folder the write lock is held for the whole call.

        Args:
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
        with self.db.calls(f"indexing pool {self.name!r}", hint), self.writing():
            with self.reading() as collection:
                existed = collection is not None
                if existed:
                    self._check_layout(collection)
            present = self._existing(list(unique))
            todo = [r for rid, r in unique.items() if rid not in present]
            updates = {
                rid: merge_metadata(stored, metas[rid])
                for rid, stored in present.items()
                if not pair_keys(metas[rid]).items() <= pair_keys(stored).items()
            }
            self._check_lengths(todo)
            step = min(batch_size, self.max_batch)
            if on_progress:
                on_progress(0, len(todo))
            done = 0
            try:
                for start in range(0, len(todo), step):
                    chunk = todo[start : start + step]
                    vectors = self.embedder.embed_documents([r.text for r in chunk])
                    with self.committing() as collection:
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
                    with self.committing() as collection:
                        collection.update(ids=part, metadatas=[updates[i] for i in part])
            except BaseException:
                if not existed and done == 0:
                    self._drop_if_empty()
                raise
        return IndexReport(
            total=len(unique), added=len(todo), skipped=len(present), updated=len(updates)
        )

    def _check_layout(self, collection: Any) -> None:
        """Refuses to write into a pool of the older layout (one record per pair side)."""
        metadata = collection.metadata or {}
        if metadata.get(_EMBEDDER_KEY) is None:
            raise InvalidInputError(
                f"collection {self.name!r} was not made by xling (a LlamaIndex or other "
                "collection): xling searches it but does not write to it"
            )
        if metadata.get(_LAYOUT_KEY) == _LAYOUT or collection.count() == 0:
            return
        raise InvalidInputError(
            f"pool {self.name!r} was written by an older xling (one record per side of each "
            "pair, so a text shared by pairs is stored more than once); it can still be read, "
            "but index into a new pool name to add records"
        )

    def _check_lengths(self, records: Sequence[Record]) -> None:
        """Refuses, before the first write, a text the embedder would refuse half way."""
        if getattr(self.embedder, "on_long", None) != "refuse" or not hasattr(self.embedder, "fit"):
            return
        for i, record in enumerate(records):
            try:
                self.embedder.fit(record.text, "document")
            except InvalidInputError as exc:
                raise InvalidInputError(f"{_record_name(record, i)}: {exc}") from None

    def _drop_if_empty(self) -> None:
        """Deletes the collection this run created if its first write failed."""
        try:
            with self.db.committing() as client:
                collection = _get_collection(client, self.name)
                if collection is not None and collection.count() == 0:
                    client.delete_collection(self.name)
                self.reload()
        except Exception:  # the failure being raised matters more (a dead server, ...)
            pass

    def verify(
        self,
        *,
        repair: bool = False,
        sample: int | None = 256,
        tolerance: float = 1e-3,
        on_progress: ProgressCallback | None = None,
    ) -> VerifyReport:
        """Checks the pool against its embedder and, if asked, repairs it.

        Every vector is read (in groups, bisected to find the bad ids when Chroma fails), and
        must be of the embedder's dimension and unit-norm; ``sample`` records are re-embedded
        and looked up. See :func:`xling.store.verify.verify_pool`.

        Args:
            repair: Re-write bad records with fresh vectors (rebuild if the index is damaged).
            sample: Records to re-embed and look up (``None``: all of them).
            tolerance: Allowed distance of a vector's norm from 1.
            on_progress: Called with (records read, records).

        Returns:
            What was found, and what the repair did (``remaining`` problems).

        Raises:
            PoolLockedError: If another process is writing and the lock timeout ran out.
        """
        from xling.store.verify import verify_pool

        return verify_pool(
            self, repair=repair, sample=sample, tolerance=tolerance, on_progress=on_progress
        )

    def rebuild(self, *, on_progress: ProgressCallback | None = None) -> int:
        """Rewrites the pool from its stored texts and metadata with fresh vectors.

        A copy is filled first and replaces the pool only once complete. See
        :func:`xling.store.verify.rebuild_pool`.

        Args:
            on_progress: Called with (records written, records).

        Returns:
            The number of records written.

        Raises:
            InvalidInputError: If the pool has no collection yet.
            PoolLockedError: If another process is writing and the lock timeout ran out.
        """
        from xling.store.verify import rebuild_pool

        return rebuild_pool(self, on_progress=on_progress)

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def _where(langs: Sequence[str] | str | None, where: dict[str, Any] | None) -> Any:
        clauses: list[dict[str, Any]] = []
        if langs:
            codes = [normalize_code(x) for x in ([langs] if isinstance(langs, str) else langs)]
            clauses.append({"lang": codes[0]} if len(codes) == 1 else {"lang": {"$in": codes}})
        if where:
            clauses.append(where)
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        langs: Sequence[str] | str | None = None,
        where: dict[str, Any] | None = None,
        task: Task = "asymmetric",
    ) -> list[list[Hit]]:
        """Finds the pool texts closest to each query, in any language.

        Args:
            queries: Query texts.
            k: Results per query.
            task: ``"asymmetric"`` for questions against passages (e5's ``query:`` role), or
                ``"symmetric"`` for texts like the pool's own, such as finding a sentence's
                translations (the pool's document role); see
                :func:`~xling.embedders.query_role`.
            langs: Only return texts in these languages.
            where: A further Chroma metadata filter.

        Returns:
            For each query, up to ``k`` hits by decreasing cosine similarity.

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k")
        if not texts:
            return []
        filters = self._where(langs, where)
        vectors = self.embedder.embed_queries(texts, task=task)
        result: dict[str, list[Any]] = {
            "ids": [],
            "documents": [],
            "metadatas": [],
            "distances": [],
        }
        # Embedded Chroma binds queries × k variables in one SQLite statement, which refuses
        # more than 32,766: query in slices under that.
        step = max(1, _QUERY_CELLS // k)
        for start in range(0, len(texts), step):
            with self._damage_is_named(), self.reading() as collection:
                if collection is None:
                    return [[] for _ in texts]
                part = collection.query(
                    query_embeddings=vectors[start : start + step],
                    n_results=k,
                    where=filters,
                    include=["documents", "metadatas", "distances"],
                )
            for key in result:
                result[key].extend(part[key])
        similarity = _similarity(collection)
        hits: list[list[Hit]] = []
        for ids, docs, metas, dists in zip(
            result["ids"], result["documents"], result["metadatas"], result["distances"],
            strict=True,
        ):  # fmt: skip
            hits.append(
                [
                    Hit(i, d, similarity(float(dist)), _lang(m), public_metadata(m))
                    for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
                ]
            )
        return hits

    def listing(
        self, where: dict[str, Any] | None = None, with_vectors: bool = False
    ) -> tuple[list[str], list[str], list[dict[str, Any]], np.ndarray | None]:
        """Ids, texts, stored metadata and (optionally) vectors, ordered by (source, row).

        The raw view derived indexes are built from (BM25, margin statistics).

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        got: dict[str, list[Any]] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
        # Pages of at most max_batch records: one get of a whole large pool exceeds SQLite's
        # limit on query variables ("too many SQL variables").
        offset = 0
        while True:
            with self._damage_is_named(), self.reading() as collection:
                if collection is None:
                    empty = np.zeros((0, self.embedder.dim), dtype=np.float32)
                    return [], [], [], (empty if with_vectors else None)
                page = collection.get(
                    where=where, include=include, limit=self.max_batch, offset=offset
                )
            for key in include + ["ids"]:
                values = page[key]
                got[key].extend(list(values) if values is not None else [])
            offset += len(page["ids"])
            if len(page["ids"]) < self.max_batch:
                break
        metas = [dict(m or {}) for m in got["metadatas"]]
        order = sorted(
            range(len(got["ids"])),
            key=lambda i: (
                str(metas[i].get("source", "")),
                int(metas[i].get("row", -1)),
                str(metas[i].get("side", "")),
                got["ids"][i],
            ),
        )
        vectors = None
        if with_vectors:
            stored = np.asarray(got["embeddings"], dtype=np.float32)
            vectors = stored[order] if len(order) else stored.reshape(0, self.embedder.dim)
        return (
            [got["ids"][i] for i in order],
            [got["documents"][i] for i in order],
            [metas[i] for i in order],
            vectors,
        )

    def state(self) -> tuple[str, int]:
        """``(collection id, record count)``: what derived indexes are keyed by.

        Ids come from content and records are only added, so an unchanged count means unchanged
        contents; a pool rebuilt in place gets a new collection id. ``("", 0)`` before the first
        write.
        """
        with self.reading() as collection:
            if collection is None:
                return "", 0
            return str(collection.id), int(collection.count())

    def get(self, ids: Sequence[str]) -> list[Hit | None]:
        """The pool's passages of these ids (``None`` for an id not in the pool), unscored.

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        wanted = list(dict.fromkeys(check_texts(ids, "ids")))
        found: dict[str, Hit] = {}
        for start in range(0, len(wanted), self.max_batch):
            with self._damage_is_named(), self.reading() as collection:
                if collection is None:
                    break
                got = collection.get(
                    ids=wanted[start : start + self.max_batch], include=["documents", "metadatas"]
                )
            for rid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                meta = dict(meta or {})
                found[rid] = Hit(rid, doc, None, _lang(meta), public_metadata(meta))
        return [found.get(i) for i in ids]

    def records(
        self, where: dict[str, Any] | None = None, *, with_vectors: bool = False
    ) -> tuple[list[Record], np.ndarray | None]:
        """Reads records (and optionally their vectors) back, ordered by (source, row).

        A text is one record whatever the number of pairs it belongs to, so records read back
        carry no ``side`` or ``pair_id`` (:func:`xling.selectors.aligned_pool` reads the
        pairs); the metadata holds the user's fields.

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        _, texts, metas, vectors = self.listing(where, with_vectors)
        records = []
        for text, meta in zip(texts, metas, strict=True):
            base = {k: meta.pop(k, None) for k in ("lang", "side", "pair_id", "row", "source")}
            user = {k: v for k, v in meta.items() if not k.startswith("xling:")}
            records.append(
                Record(text, str(base["lang"]), None, None, base["row"], str(base["source"] or ""),
                       user)
            )  # fmt: skip
        return records, vectors
