"""Pools: Chroma collections of texts with metadata and vectors from an xling embedder.

A pool records the embedder that filled it; opening it with another embedder is refused. The
pool is the store: it opens the collection, checks the embedder, and reads and writes under
the folder's lock. Indexing is :mod:`xling.store.indexer`, verification and rebuilding
:mod:`xling.store.verify`, and the dense query :class:`xling.retrieval.DenseRetriever`.

A pool's collection is created by its first write, after every input was checked, so a refused
run leaves nothing behind. An embedded pool (a ``PersistentClient`` folder) may be used by
several processes of one machine: writers take the folder's write lock in turn, and readers
reopen their view when a writer committed (see :mod:`xling.store.lock`). To share a pool
between machines, serve the folder with ``chroma run`` and open it by URL: the server serialises
writes itself and needs no lock. A pool past one collection's limits spans shards (several
collections, by language or by document), queried in parallel and merged: see
:mod:`xling.store.shards`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.records import Hit
from xling.core.validation import check_texts
from xling.embedders import DEFAULT_EMBEDDER, Embedder, get_embedder
from xling.store.chroma_client import Database
from xling.store.collection import (
    EMBEDDER_KEY,
    GENERATION_KEY,
    PoolCollection,
    get_collection,
    pool_names,
    stored_hit,
)
from xling.store.indexer import IndexReport, index_pool
from xling.store.lock import OnWait
from xling.store.records import Record
from xling.store.shards import MAX_SHARDED_NAME, ShardedCollection, ShardRule, is_shard_name

if TYPE_CHECKING:
    from xling.documents.chunking import Chunker
    from xling.documents.records import Document
    from xling.store.documents import DeleteReport, DocumentInfo
    from xling.store.ingest import ErrorPolicy, IngestReport
    from xling.store.verify import VerifyReport

__all__ = ["Pool"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def _check_open(name: Any, lock_timeout: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInputError(
            f"pool name {name!r} is not allowed; use 3-512 characters of [A-Za-z0-9._-], "
            "starting and ending with a letter or digit"
        )
    if is_shard_name(name):
        raise InvalidInputError(
            f"pool name {name!r} is not allowed: it names a shard of pool "
            f"{name.split('.xling-shard-')[0]!r}; open that pool"
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


class Pool(PoolCollection):
    """A pool: a Chroma collection filled through an xling embedder.

    Use :meth:`open` rather than the constructor (see :class:`PoolCollection` for its
    arguments).
    """

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
        shards: str | None = None,
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
            shards: For a new pool: ``"lang"`` (a collection per language) or ``"count:N"``
                (N collections, by document), see :mod:`xling.store.shards`; ``None``: one
                collection. An existing pool keeps its layout (give ``None`` or the same).

        Raises:
            InvalidInputError: On a bad name or ``shards``, a missing pool with
                ``create=False``, an embedder other than the pool's, or ``shards`` other
                than an existing pool's.
            ServiceUnavailableError: If the server does not answer.
        """
        _check_open(name, lock_timeout)
        rule = ShardRule.parse(shards) if shards is not None else None
        if rule is not None and len(name) > MAX_SHARDED_NAME:
            raise InvalidInputError(
                f"pool name {name[:40]!r}... is too long for a sharded pool; use at most "
                f"{MAX_SHARDED_NAME} characters"
            )
        db = Database.open(path=path, url=url, client=client)
        named = embedder is not None
        if embedder is None:
            embedder = cls._recorded(db, name) or DEFAULT_EMBEDDER
        emb = get_embedder(embedder) if not isinstance(embedder, Embedder) else embedder
        pool = cls(db, name, emb, lock_timeout=lock_timeout, on_wait=on_wait, foreign=named,
                   shards=rule)  # fmt: skip
        with pool.reading() as collection:
            if collection is None and not create:
                existing = pool_names(db.client)
                raise InvalidInputError(
                    f"pool {name!r} does not exist; existing pools: {', '.join(existing) or 'none'}"
                )
            recorded = collection.rule if isinstance(collection, ShardedCollection) else None
            if collection is not None and rule is not None and rule != recorded:
                layout = f"shards {str(recorded)!r}" if recorded else "one collection"
                raise InvalidInputError(
                    f"pool {name!r} exists with {layout}; shards={str(rule)!r} applies only "
                    "when a pool is created (open it without shards, or use another name)"
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
            found = get_collection(client, name)
        recorded = (found.metadata or {}).get(EMBEDDER_KEY) if found is not None else None
        return str(recorded) if recorded else None

    @property
    def shard_rule(self) -> ShardRule | None:
        """The pool's shard rule (``None``: one collection, or no pool yet and none asked)."""
        with self.reading() as collection:
            if isinstance(collection, ShardedCollection):
                return collection.rule
            return self.shards if collection is None else None

    def count(self) -> int:
        """Number of records in the pool."""
        with self.reading() as collection:
            return int(collection.count()) if collection is not None else 0

    def index(
        self,
        records: Sequence[Record],
        *,
        batch_size: int = 256,
        on_progress: ProgressCallback | None = None,
    ) -> IndexReport:
        """Embeds and upserts the records that are not in the pool yet.

        See :func:`xling.store.indexer.index_pool` (everything checked before the first
        write; re-running resumes an interrupted run without duplicates).

        Args:
            records: Records to add (duplicates by id are kept once).
            batch_size: Records embedded and written per step (capped by Chroma's maximum).
            on_progress: Called with (records done, records to do) after each step.

        Raises:
            InvalidInputError: On a bad batch size or record.
            PoolLockedError: If another process is writing and the lock timeout ran out.
            ServiceUnavailableError: If the server stops answering (re-running resumes).
        """
        return index_pool(self, records, batch_size=batch_size, on_progress=on_progress)

    def ingest(
        self,
        documents: Iterable[Document],
        *,
        chunk_tokens: int | None = None,
        overlap: int | None = None,
        heading_prefix: bool | None = None,
        chunker: Chunker | None = None,
        sync: bool = False,
        sync_where: Mapping[str, Any] | None = None,
        errors: ErrorPolicy = "raise",
        batch_size: int = 256,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Adds new documents, replaces changed ones and skips unchanged ones.

        See :func:`xling.store.ingest.ingest_documents` (what is guaranteed to readers, and
        after a crash).

        Args:
            documents: The documents (distinct ``doc_id`` s).
            chunk_tokens: Chunk budget in the embedder's tokens (``None``: the chunker's
                default for this embedder).
            overlap: Tokens of the previous chunk repeated at the start of the next.
            heading_prefix: Embed each chunk with its heading path before it.
            chunker: A chunker to use instead of the three options above.
            sync: Also delete the documents of the pool (matching ``sync_where``) not given.
            sync_where: Limits ``sync`` to documents whose chunks match this filter.
            errors: ``"raise"`` (a refused document raises, nothing is written) or ``"skip"``
                (refused documents are listed in the report).
            batch_size: Chunks embedded per step.
            on_progress: Called with (chunks done, chunks to embed) after each step.

        Raises:
            InvalidInputError: On a bad option, or a refused document with ``errors="raise"``.
            PoolLockedError: If another process is writing and the lock timeout ran out.
            ServiceUnavailableError: If the server stops answering (running it again finishes).
        """
        from xling.documents.chunking import Chunker
        from xling.store.ingest import ingest_documents

        if chunker is None:
            given = {"chunk_tokens": chunk_tokens, "overlap": overlap,
                     "heading_prefix": heading_prefix}  # fmt: skip
            options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
            chunker = Chunker(self.embedder, **options)
        elif (chunk_tokens, overlap, heading_prefix) != (None, None, None):
            raise InvalidInputError(
                "give chunker= or chunk_tokens/overlap/heading_prefix, not both"
            )
        return ingest_documents(self, documents, chunker=chunker, sync=sync,
                                sync_where=sync_where, errors=errors, batch_size=batch_size,
                                on_progress=on_progress)  # fmt: skip

    def delete(
        self,
        doc_ids: Sequence[str] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
    ) -> DeleteReport:
        """Deletes documents by id, or every chunk matching a metadata filter.

        Derived indexes (BM25, margin statistics) are rebuilt on their next use.

        Raises:
            InvalidInputError: On neither or both of ``doc_ids`` and ``where``, or an empty filter.
            PoolLockedError: If another process is writing and the lock timeout ran out.
        """
        from xling.store.documents import delete_documents

        return delete_documents(self, doc_ids=doc_ids, where=where)

    def documents(self, where: Mapping[str, Any] | None = None) -> list[DocumentInfo]:
        """The pool's documents (those with a chunk matching ``where``), sorted by ``doc_id``."""
        from xling.store.documents import list_documents

        return list_documents(self, where)

    def with_neighbours(self, hits: Sequence[Hit], n: int) -> list[Hit]:
        """Each hit with up to ``n`` chunks of its document before and after it, merged.

        The text is the document's text from the first chunk's start to the last one's end
        (overlaps written once); ``start``, ``end`` and ``chunks`` (the merged chunk indexes)
        are set in its metadata. Hits that are not chunks are returned as they are.

        Raises:
            InvalidInputError: If ``n`` is not an integer ≥ 0.
        """
        from xling.store.neighbours import with_neighbours

        return with_neighbours(self, hits, n)

    def verify(
        self,
        *,
        repair: bool = False,
        sample: int | None = 256,
        tolerance: float = 1e-3,
        on_progress: ProgressCallback | None = None,
    ) -> VerifyReport:
        """Checks the pool against its embedder and, if asked, repairs it.

        See :func:`xling.store.verify.verify_pool` for the arguments and checks.
        """
        from xling.store.verify import verify_pool

        return verify_pool(
            self, repair=repair, sample=sample, tolerance=tolerance, on_progress=on_progress
        )

    def rebuild(self, *, on_progress: ProgressCallback | None = None) -> int:
        """Rewrites the pool from its stored texts and metadata with fresh vectors.

        See :func:`xling.store.verify.rebuild_pool`; returns the number of records written.
        """
        from xling.store.verify import rebuild_pool

        return rebuild_pool(self, on_progress=on_progress)

    # -- reading ----------------------------------------------------------------------------

    def listing(
        self, where: dict[str, Any] | None = None, with_vectors: bool = False
    ) -> tuple[list[str], list[str], list[dict[str, Any]], np.ndarray | None]:
        """Ids, texts, stored metadata and (optionally) vectors, ordered by (source, row) and,
        for chunks, (doc_id, chunk).

        The raw view derived indexes are built from (BM25, margin statistics).

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        from xling.store.documents import read_stored

        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        with self.reading() as collection:
            if collection is None:
                empty = np.zeros((0, self.embedder.dim), dtype=np.float32)
                return [], [], [], (empty if with_vectors else None)
        got = read_stored(self, where, include)
        metas = [dict(m or {}) for m in got["metadatas"]]
        order = sorted(
            range(len(got["ids"])),
            key=lambda i: (
                str(metas[i].get("source", "")),
                int(metas[i].get("row", -1)),
                str(metas[i].get("doc_id", "")),
                int(metas[i].get("chunk", -1)),
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
        """``(collection id and deletions, record count)``: what derived indexes are keyed by.

        Ids come from content, and every deletion (of a document, or of a document's old
        chunks when it is updated) is counted in the collection's metadata, so an unchanged
        state means unchanged contents; a pool rebuilt in place gets a new collection id.
        ``("", 0)`` before the first write.
        """
        with self.reading() as collection:
            if collection is None:
                return "", 0
            deletions = int((collection.metadata or {}).get(GENERATION_KEY, 0))
            return f"{collection.id}/{deletions}", int(collection.count())

    def get(self, ids: Sequence[str]) -> list[Hit | None]:
        """The pool's passages of these ids (``None`` for an id not in the pool), unscored.

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        wanted = list(dict.fromkeys(check_texts(ids, "ids")))
        found: dict[str, Hit] = {}
        for start in range(0, len(wanted), self.max_batch):
            with self.damage_is_named(), self.reading() as collection:
                if collection is None:
                    break
                got = collection.get(
                    ids=wanted[start : start + self.max_batch], include=["documents", "metadatas"]
                )
            for rid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                found[rid] = stored_hit(rid, doc, meta, None)
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
            lang, source = str(base["lang"] or "und"), str(base["source"] or "")
            records.append(Record(text, lang, None, None, base["row"], source, user))
        return records, vectors
