"""Sharded pools: one pool over several Chroma collections, queried in parallel and merged.

A pool past one collection's limits (Chroma Cloud caps a collection at 5,000,000 records; a
single-node server is meant for under about 10M) spans **shards**, chosen when it is created:

- ``lang``: each language's chunks in a collection of their own (the ``lang`` metadata;
  ``und`` without one), created when the first chunk of that language is written;
- ``count:N``: ``N`` collections; a record goes to shard
  ``int(sha256(doc_id)[:8]) mod N``, where ``doc_id`` is the chunk's document (a record
  without one: its own id), so a document's chunks stay together and its update or deletion
  finds them. ``N`` is fixed: a shard that would pass a collection cap fails its write with
  Chroma's own error; copy the pool into a new one with more shards.

The pool's own collection (its name) holds no records: its metadata records the embedder, the
rule (:data:`SHARDS_KEY`) and the deletions count. Shards are named ``POOL.xling-shard-KEY``
(``KEY``: the language, or the shard's number) and are found by that prefix; pool listings hide
them (:func:`is_shard_name`).

:class:`ShardedCollection` is what a sharded pool's :meth:`reading` and :meth:`committing`
yield instead of a Chroma collection: it implements the collection methods xling calls
(``count``, ``get``, ``query``, ``upsert``, ``update``, ``delete``, ``modify``, ``id``,
``name``, ``metadata``, ``configuration``), so retrievers, ingest and the integrations need no
change. Reads fan out to every shard on threads and are merged:

- ``query``: each shard returns its own ``n_results`` nearest (all ``k`` best may lie in one
  shard, so no fewer), and the union is cut to ``n_results`` by distance. Cloud's cap of 300
  results per query thus caps ``k`` at 300, as on one collection.
- ``get``: the shards' records in shard order (sorted keys); ``limit``/``offset`` page through
  that order (a shard's matches before the offset are counted, and remembered while its
  record count stays the same, so paging through a pool reads each record once).
- ``upsert`` routes each record by the rule and removes its id from any other shard, so an id
  lives in one shard; ``update`` and ``delete`` go to the shards holding the ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from xling.core.errors import InvalidInputError

__all__ = [
    "MAX_SHARDS",
    "SHARD_MARK",
    "SHARDS_KEY",
    "ShardRule",
    "ShardedCollection",
    "is_shard_name",
    "shard_name",
]

SHARDS_KEY = "xling:shards"
"""Pool collection metadata: the shard rule (``lang`` or ``count:N``) of a sharded pool."""
SHARD_OF_KEY = "xling:shard-of"
"""Shard collection metadata: the name of the pool it belongs to."""
SHARD_MARK = ".xling-shard-"
"""What a shard collection's name has between the pool's name and the shard's key."""
MAX_SHARDS = 1000
"""The most shards ``count:N`` allows."""
MAX_SHARDED_NAME = 450
"""The longest name of a sharded pool (its shards' names add a suffix; Chroma allows 512)."""
REFRESH_S = 1.0
"""How old a pool's list of shards may get before it is read again: a language's shard that
another writer (process, or pool object) created is seen by readers within this time."""

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}[A-Za-z0-9]$|^[A-Za-z0-9]$")
_MEMO_MAX = 4096
_T = TypeVar("_T")
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool_executor() -> ThreadPoolExecutor:
    """The threads that shard calls fan out on (made on first use, shared by all pools)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="xling-shard")
        return _executor


def _each(call: Callable[[Any], _T], shards: Sequence[Any]) -> list[_T]:
    """``call(shard)`` for every shard, in parallel, results in shard order."""
    if len(shards) <= 1:
        return [call(s) for s in shards]
    return list(_pool_executor().map(call, shards))


@dataclass(frozen=True)
class ShardRule:
    """How a pool's records are spread over its shards.

    Attributes:
        kind: ``"lang"`` (one shard per language) or ``"count"`` (a fixed number of shards).
        count: With ``count``: the number of shards.
    """

    kind: Literal["lang", "count"]
    count: int = 0

    @classmethod
    def parse(cls, value: Any) -> ShardRule:
        """``"lang"`` or ``"count:N"`` (2 ≤ N ≤ :data:`MAX_SHARDS`) as a rule.

        Raises:
            InvalidInputError: On any other value.
        """
        if isinstance(value, ShardRule):
            return value
        if value == "lang":
            return cls("lang")
        if isinstance(value, str) and value.startswith("count:"):
            n = value[len("count:") :]
            if n.isdecimal() and 2 <= int(n) <= MAX_SHARDS:
                return cls("count", int(n))
        raise InvalidInputError(
            f"shards={value!r:.60} is not allowed; use 'lang' (one shard per language) or "
            f"'count:N' (N shards by document, 2 ≤ N ≤ {MAX_SHARDS})"
        )

    def __str__(self) -> str:
        return "lang" if self.kind == "lang" else f"count:{self.count}"

    def key(self, record_id: str, metadata: Mapping[str, Any] | None) -> str:
        """The key of the shard a record belongs in."""
        meta = metadata or {}
        if self.kind == "lang":
            lang = meta.get("lang")
            if not isinstance(lang, str) or not lang:
                return "und"
            if _KEY_RE.match(lang):
                return lang
            return "x" + hashlib.sha256(lang.encode()).hexdigest()[:12]
        doc_id = meta.get("doc_id")
        owner = doc_id if isinstance(doc_id, str) and doc_id else record_id
        digest = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).digest()
        return str(int.from_bytes(digest[:8], "big") % self.count)


def shard_name(pool: str, key: str) -> str:
    """The collection name of a pool's shard."""
    return f"{pool}{SHARD_MARK}{key}"


def is_shard_name(name: str) -> bool:
    """Whether a collection is a shard of a sharded pool (pool listings leave it out)."""
    return SHARD_MARK in name


def _names(client: Any) -> list[str]:
    return [c if isinstance(c, str) else c.name for c in client.list_collections()]


def _empty(include: Sequence[str]) -> dict[str, Any]:
    return {"ids": [], **{key: [] for key in include}, "included": list(include)}


class ShardedCollection:
    """A sharded pool's collections behind the Chroma collection methods xling uses.

    Made by :class:`~xling.store.collection.PoolCollection` for a pool whose collection
    records a shard rule; see the module's description for how calls fan out.

    Args:
        client: The Chroma client.
        head: The pool's own collection (metadata only).
        rule: Its shard rule.
        shard_metadata: Metadata for a shard collection this pool creates.
    """

    def __init__(
        self, client: Any, head: Any, rule: ShardRule, shard_metadata: Mapping[str, Any]
    ) -> None:
        self._client = client
        self._head = head
        self.rule = rule
        self._shard_metadata = dict(shard_metadata)
        self._shards: dict[str, Any] = {}
        self._memo: dict[tuple[str, str], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._seen = 0.0
        self.discover()

    # -- what a Chroma collection has --------------------------------------------------------

    @property
    def id(self) -> Any:
        """The pool collection's id (a pool made again gets a new one)."""
        return self._head.id

    @property
    def name(self) -> str:
        """The pool's name."""
        return str(self._head.name)

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The pool collection's metadata (embedder, rule, deletions)."""
        return self._head.metadata

    @property
    def configuration(self) -> Any:
        """The pool collection's configuration (every shard is made with its HNSW space)."""
        return self._head.configuration

    @property
    def shards(self) -> dict[str, Any]:
        """The shard collections by key, in key order."""
        return dict(self._shards)

    def discover(self) -> None:
        """Reads the list of shards (and the pool collection's metadata) again."""
        prefix = shard_name(self.name, "")
        found = sorted(n for n in _names(self._client) if n.startswith(prefix))
        shards = {}
        for name in found:
            try:
                shards[name[len(prefix) :]] = self._client.get_collection(
                    name, embedding_function=None
                )
            except Exception:  # deleted since it was listed
                continue
        with self._lock:
            self._shards = dict(sorted(shards.items()))
            self._seen = time.monotonic()

    def refresh(self) -> None:
        """:meth:`discover` if the list is older than :data:`REFRESH_S` (another writer may
        have given the pool a new language)."""
        if time.monotonic() - self._seen > REFRESH_S:
            from xling.store.collection import get_collection

            head = get_collection(self._client, self.name)
            if head is not None:
                self._head = head
            self.discover()

    def count(self) -> int:
        """Records in all shards."""
        return sum(_each(lambda s: int(s.count()), list(self._shards.values())))

    def modify(self, name: str | None = None, metadata: Mapping[str, Any] | None = None) -> None:
        """Replaces the pool collection's metadata (a sharded pool cannot be renamed)."""
        if name is not None:
            raise InvalidInputError(f"sharded pool {self.name!r} cannot be renamed")
        self._head.modify(metadata=dict(metadata) if metadata is not None else None)

    # -- writing ------------------------------------------------------------------------------

    def _shard(self, key: str) -> Any:
        """The shard of a key, created if missing."""
        with self._lock:
            found = self._shards.get(key)
        if found is not None:
            return found
        config = self.configuration or {}
        hnsw = config.get("hnsw") if isinstance(config, Mapping) else None
        space = (hnsw or {}).get("space") or "cosine"
        made = self._client.get_or_create_collection(
            shard_name(self.name, key),
            configuration={"hnsw": {"space": space}},
            metadata={**self._shard_metadata, SHARD_OF_KEY: self.name},
            embedding_function=None,
        )
        with self._lock:
            self._shards = dict(sorted({**self._shards, key: made}.items()))
        return made

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Any = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        documents: Sequence[str] | None = None,
    ) -> None:
        """Writes each record into its shard, and deletes its id from any other shard."""
        ids = list(ids)
        metas = list(metadatas) if metadatas is not None else [None] * len(ids)
        groups: dict[str, list[int]] = {}
        for i, (rid, meta) in enumerate(zip(ids, metas, strict=True)):
            groups.setdefault(self.rule.key(rid, meta), []).append(i)
        targets = {key: self._shard(key) for key in groups}
        elsewhere = [
            (shard, [ids[i] for key, rows in groups.items() if key != own for i in rows])
            for own, shard in self.shards.items()
        ]

        def clear(item: tuple[Any, list[str]]) -> None:
            shard, moved = item
            if moved:
                stray = shard.get(ids=moved, include=[])["ids"]
                if stray:
                    shard.delete(ids=stray)

        _each(clear, [item for item in elsewhere if item[1]])

        def write(key: str) -> None:
            rows = groups[key]
            targets[key].upsert(
                ids=[ids[i] for i in rows],
                embeddings=[embeddings[i] for i in rows] if embeddings is not None else None,
                metadatas=[metas[i] for i in rows] if metadatas is not None else None,
                documents=[documents[i] for i in rows] if documents is not None else None,
            )

        _each(write, list(groups))

    def update(
        self,
        ids: Sequence[str],
        embeddings: Any = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        documents: Sequence[str] | None = None,
    ) -> None:
        """Updates records in the shards that hold them (a record does not change shard)."""
        ids = list(ids)
        row = {rid: i for i, rid in enumerate(ids)}
        held = _each(lambda s: s.get(ids=ids, include=[])["ids"], list(self._shards.values()))

        def write(item: tuple[Any, list[str]]) -> None:
            shard, found = item
            rows = [row[rid] for rid in found]
            shard.update(
                ids=found,
                embeddings=[embeddings[i] for i in rows] if embeddings is not None else None,
                metadatas=[metadatas[i] for i in rows] if metadatas is not None else None,
                documents=[documents[i] for i in rows] if documents is not None else None,
            )

        _each(write, [(s, f) for s, f in zip(self._shards.values(), held, strict=True) if f])

    def delete(
        self, ids: Sequence[str] | None = None, where: Mapping[str, Any] | None = None
    ) -> None:
        """Deletes the ids (or the records matching ``where``) from every shard."""
        if ids is not None and not list(ids):
            return
        _each(
            lambda s: s.delete(ids=list(ids) if ids is not None else None, where=where),
            list(self._shards.values()),
        )

    # -- reading ------------------------------------------------------------------------------

    def query(
        self,
        query_embeddings: Any,
        n_results: int = 10,
        where: Mapping[str, Any] | None = None,
        ids: Sequence[str] | None = None,
        include: Sequence[str] = ("metadatas", "documents", "distances"),
    ) -> dict[str, Any]:
        """Each shard's ``n_results`` nearest, merged by distance and cut to ``n_results``."""
        wanted = list(include)
        asked = wanted if "distances" in wanted else [*wanted, "distances"]
        queries = len(query_embeddings)
        shards = list(self._shards.values())
        parts = _each(
            lambda s: s.query(
                query_embeddings=query_embeddings, n_results=n_results, where=where,
                ids=list(ids) if ids else None, include=asked,
            ),
            shards,
        )  # fmt: skip
        out: dict[str, Any] = {"ids": [], **{key: [] for key in wanted}, "included": wanted}
        for q in range(queries):
            found = [
                (float(part["distances"][q][j]), s, j)
                for s, part in enumerate(parts)
                for j in range(len(part["ids"][q]))
            ]
            best = sorted(found)[:n_results]
            out["ids"].append([parts[s]["ids"][q][j] for _, s, j in best])
            for key in wanted:
                out[key].append([parts[s][key][q][j] for _, s, j in best])
        return out

    def get(
        self,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: Sequence[str] = ("metadatas", "documents"),
    ) -> dict[str, Any]:
        """The matching records of the shards, in shard order (``limit``/``offset`` page it)."""
        include = list(include)
        ids = list(ids) if ids is not None else None
        shards = list(self._shards.items())
        if not limit and not offset:
            parts = _each(lambda s: s[1].get(ids=ids, where=where, include=include), shards)
            return self._joined(parts, include)
        skip, left = int(offset or 0), limit
        parts = []
        for key, shard in shards:
            if left is not None and left <= 0:
                break
            if skip > 0:
                matches = self._matches(key, shard, ids, where)
                if matches <= skip:
                    skip -= matches
                    continue
            part = shard.get(ids=ids, where=where, include=include, limit=left, offset=skip)
            got = len(part["ids"])
            if left is None or got < left:  # the shard's last match was read
                self._remember(key, shard, ids, where, skip + got)
            parts.append(part)
            skip = 0
            left = None if left is None else left - got
        return self._joined(parts, include)

    def _memo_key(self, key: str, ids: list[str] | None, where: Any) -> tuple[str, str]:
        text = json.dumps([where, ids], sort_keys=True, default=str)
        return key, hashlib.sha256(text.encode()).hexdigest()

    def _remember(
        self, key: str, shard: Any, ids: list[str] | None, where: Any, matches: int
    ) -> None:
        if ids is None and where is None:
            return
        with self._lock:
            if len(self._memo) > _MEMO_MAX:
                self._memo.clear()
            self._memo[self._memo_key(key, ids, where)] = (int(shard.count()), matches)

    def _matches(self, key: str, shard: Any, ids: list[str] | None, where: Any) -> int:
        """The shard's records matching ``ids`` and ``where``."""
        size = int(shard.count())
        if ids is None and where is None:
            return size
        memo_key = self._memo_key(key, ids, where)
        with self._lock:
            known = self._memo.get(memo_key)
        if known is not None and known[0] == size:
            return known[1]
        matches = len(shard.get(ids=ids, where=where, include=[])["ids"])
        with self._lock:
            self._memo[memo_key] = (size, matches)
        return matches

    @staticmethod
    def _joined(parts: list[dict[str, Any]], include: list[str]) -> dict[str, Any]:
        out = _empty(include)
        for part in parts:
            out["ids"].extend(part["ids"])
            for key in include:
                values = part.get(key)
                if values is not None:
                    out[key].extend(list(values))
        return out
