"""``XlingVectorStore``: an xling pool as LlamaIndex's vector store (add, delete, query).

A LlamaIndex pipeline writes its nodes into an xling pool as chunks of their documents
(``node.ref_doc_id`` becomes the chunk's ``doc_id``), deletes documents with
``index.delete_ref_doc``, and queries the pool by vector; xling's own retrievers (hybrid,
margin, BM25) and the CLI then see the same documents.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import check_choice, check_positive_int, preview
from xling.documents.records import CHUNK_METADATA_KEYS, DOC_ID_MAX_CHARS, content_hash
from xling.embedders import Embedder, Task
from xling.integrations.llamaindex.embedding import XlingEmbedding
from xling.integrations.llamaindex.retriever import hit_node
from xling.lid import DEFAULT_LID_BACKEND, UNDETERMINED, LanguageIdentifier, get_identifier
from xling.retrieval.dense import cosine_of
from xling.store import Pool
from xling.store.collection import stored_hit
from xling.store.documents import PREFIX_KEY, TEXT_HASH_KEY, WRITTEN_KEY, count_deletion
from xling.store.indexer import check_layout
from xling.store.records import RESERVED_METADATA_KEYS, RESERVED_METADATA_PREFIXES

__all__ = ["XlingVectorStore"]

# Keys a node's own metadata never sets: the chunk's fields and the record's (xling writes
# them), and LlamaIndex's bookkeeping in collections it builds.
_RESERVED = CHUNK_METADATA_KEYS | RESERVED_METADATA_KEYS | {"_node_content", "_node_type"}
_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
}
_INT64 = 2**63


def _scalar(value: Any) -> bool:
    """Whether Chroma stores the value faithfully (as :func:`~xling.core.validation.check_scalars`
    requires)."""
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, float) and math.isfinite(value)


def _int(value: Any) -> int | None:
    """A non-negative integer, or ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _chroma_where(filters: MetadataFilters) -> dict[str, Any]:
    """LlamaIndex metadata filters as a Chroma ``where`` clause.

    Raises:
        InvalidInputError: On an operator or condition Chroma cannot express on metadata.
    """
    clauses: list[dict[str, Any]] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            clauses.append(_chroma_where(item))
            continue
        op = _OPERATORS.get(item.operator)
        if op is None:
            allowed = ", ".join(o.value for o in _OPERATORS)
            raise InvalidInputError(
                f"filter operator {item.operator.value!r} on {item.key!r} is not supported; "
                f"use one of: {allowed}"
            )
        clauses.append({item.key: {op: item.value}})
    condition = filters.condition or FilterCondition.AND
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise InvalidInputError(
            f"filter condition {condition.value!r} is not supported; use 'and' or 'or'"
        )
    if not clauses:
        raise InvalidInputError("metadata filters are empty; give at least one filter")
    return clauses[0] if len(clauses) == 1 else {f"${condition.value}": clauses}


class XlingVectorStore(BasePydanticVectorStore):
    """An xling pool as a LlamaIndex vector store.

    ``add`` writes each node as a chunk of its document (``node.ref_doc_id``, else the node's
    own id) with xling's chunk metadata (``doc_id``, ``title``, ``source``, ``section``,
    ``page``, ``start``/``end``, ``chunk``, ``lang``, ``doc_hash``) beside the node's own flat
    metadata; ``delete(ref_doc_id)`` deletes every chunk of a document; ``query`` searches by
    cosine similarity. The pool's embedder defines its vectors: embed with an
    :class:`~xling.integrations.llamaindex.XlingEmbedding` of the same embedder (a node vector of
    another dimension is refused), or leave ``node.embedding`` empty and the store embeds the
    node's text (with its metadata, as LlamaIndex does) itself.

    Args:
        pool: The pool name, or an open :class:`~xling.store.Pool`.
        chroma_path: The embedded Chroma folder (default: xling's).
        chroma_url: A Chroma server or Cloud URL instead.
        embedder: The pool's embedder (spec, embedder or :class:`XlingEmbedding`); ``None``:
            the one the pool records, or xling's default for a new pool.
        lid: The language-identification backend for nodes whose metadata gives no ``lang``
            (default: xling's, lingua, which loads in about 10 s once per process; pycld2
            loads at once but called the short French chunk "Le score de Nadal en
            confrontations directes face au Canadien est de 7-2." English), or ``None`` to
            store such nodes without a language.
        task: How ``query_str`` is embedded when no query vector is given: ``asymmetric``
            (questions) or ``symmetric``.

    A node's offsets (``start_char_idx`` / ``end_char_idx``, set by LlamaIndex's splitters) are
    stored as ``start``/``end`` with its position ``chunk`` in its document (among the document's
    nodes of one ``add`` call, or the node's own ``chunk`` metadata); a node without offsets gets
    neither, so xling never merges it with neighbours it cannot place. ``doc_hash`` is the
    hash LlamaIndex gives the source document, else the node text's SHA-256.
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    flat_metadata: bool = True

    pool_name: str = Field(description="The xling pool (Chroma collection) name.")
    chroma_path: str | None = Field(default=None, description="The embedded Chroma folder.")
    chroma_url: str | None = Field(default=None, description="A Chroma server or Cloud URL.")
    lid: str | None = Field(
        default=DEFAULT_LID_BACKEND,
        description="LID backend for nodes without a lang; None: store them without one.",
    )
    task: Task = Field(default="asymmetric", description="How query strings are embedded.")
    _pool: Pool = PrivateAttr()
    _identifier: LanguageIdentifier | None = PrivateAttr(default=None)

    def __init__(
        self,
        pool: str | Pool,
        *,
        chroma_path: str | os.PathLike[str] | None = None,
        chroma_url: str | None = None,
        embedder: str | Embedder | XlingEmbedding | None = None,
        lid: str | None = DEFAULT_LID_BACKEND,
        task: Task = "asymmetric",
        **kwargs: Any,
    ) -> None:
        check_choice(task, "task", ("asymmetric", "symmetric"))
        identifier = get_identifier(lid) if lid is not None else None
        if isinstance(pool, Pool):
            if (chroma_path, chroma_url, embedder) != (None, None, None):
                raise InvalidInputError(
                    "give an open Pool or chroma_path/chroma_url/embedder, not both"
                )
            opened = pool
        else:
            spec = embedder.embedder if isinstance(embedder, XlingEmbedding) else embedder
            opened = Pool.open(pool, spec, path=chroma_path, url=chroma_url)
        folder = opened.db.folder
        fields: dict[str, Any] = {
            "pool_name": opened.name,
            "chroma_path": str(folder) if folder is not None else None,
            "chroma_url": opened.db.url,
            "lid": lid,
            "task": task,
        }
        super().__init__(**fields, **kwargs)
        self._pool = opened
        self._identifier = identifier

    @classmethod
    def from_pool(cls, pool: Pool, *, lid: str | None = DEFAULT_LID_BACKEND) -> XlingVectorStore:
        """A store over an open pool (its embedder, folder or server, and lock settings)."""
        return cls(pool, lid=lid)

    @classmethod
    def class_name(cls) -> str:
        """The LlamaIndex class name."""
        return "XlingVectorStore"

    @property
    def client(self) -> Pool:
        """The xling pool underneath."""
        return self._pool

    @property
    def pool(self) -> Pool:
        """The xling pool underneath."""
        return self._pool

    # -- writing -----------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Writes the nodes into the pool as chunks of their documents.

        Every node is checked (and embedded when it carries no vector) before anything is
        written; a node id already in the pool is overwritten.

        Returns:
            The nodes' ids, which are their pool ids.

        Raises:
            InvalidInputError: On a node without text, a bad document id or ``lang``, or a
                vector of another dimension than the pool's.
            PoolLockedError: If another process is writing and the lock timeout ran out.
        """
        if not nodes:
            return []
        pool = self._pool
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        vectors: list[np.ndarray | None] = []
        to_embed: list[tuple[int, str]] = []
        positions: dict[str, int] = {}
        written = time.time_ns()
        for n, node in enumerate(nodes):
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(
                    f"node {node.node_id!r} has no text; XlingVectorStore stores text nodes"
                )
            embedded = node.get_content(metadata_mode=MetadataMode.EMBED)
            meta = self._metadata(node, text, embedded, positions)
            meta[WRITTEN_KEY] = written
            ids.append(node.node_id)
            texts.append(text)
            metas.append(meta)
            vectors.append(self._vector(node))
            if node.embedding is None:
                to_embed.append((n, embedded))
        if to_embed:
            embedded_vectors = pool.embedder.embed_documents([t for _, t in to_embed])
            for (n, _), vector in zip(to_embed, embedded_vectors, strict=True):
                vectors[n] = np.asarray(vector, dtype=np.float32)
        matrix = np.stack([v for v in vectors if v is not None])
        step = pool.max_batch
        with pool.db.calls(f"writing into pool {pool.name!r}"), pool.writing():
            with pool.reading() as collection:
                if collection is not None:
                    check_layout(pool.name, collection)
            with pool.committing() as collection:
                for start in range(0, len(ids), step):
                    collection.upsert(
                        ids=ids[start : start + step],
                        embeddings=matrix[start : start + step],
                        documents=texts[start : start + step],
                        metadatas=metas[start : start + step],
                    )
        return ids

    def _vector(self, node: BaseNode) -> np.ndarray | None:
        """The node's own vector, checked against the pool's dimension."""
        if node.embedding is None:
            return None
        embedder = self._pool.embedder
        if len(node.embedding) != embedder.dim:
            raise InvalidInputError(
                f"node {node.node_id!r} carries a {len(node.embedding)}-d embedding, but pool "
                f"{self._pool.name!r} holds {embedder.dim}-d vectors of embedder {embedder.id!r}; "
                f"embed with XlingEmbedding({embedder.id!r}) or leave node.embedding empty"
            )
        return np.asarray(node.embedding, dtype=np.float32)

    def _metadata(
        self, node: BaseNode, text: str, embedded: str, positions: dict[str, int]
    ) -> dict[str, Any]:
        """The chunk metadata of a node, then its own flat fields (reserved ones never)."""
        source_node = node.source_node
        doc_id = source_node.node_id if source_node is not None else node.node_id
        if not isinstance(doc_id, str) or not doc_id.strip() or len(doc_id) > DOC_ID_MAX_CHARS:
            raise InvalidInputError(
                f"node {node.node_id!r}: document id {preview(doc_id)} is not allowed; use a "
                f"non-empty string of at most {DOC_ID_MAX_CHARS} characters"
            )
        given = node.metadata
        meta: dict[str, Any] = {
            k: v
            for k, v in given.items()
            if isinstance(k, str)
            and k.strip()
            and k not in _RESERVED
            and not k.startswith(RESERVED_METADATA_PREFIXES)
            and _scalar(v)
        }
        doc_hash = source_node.hash if source_node is not None else None
        meta.update(
            doc_id=doc_id,
            title=_text(given, "title"),
            source=_text(given, "source", "file_path", "url"),
            section=_text(given, "section"),
            doc_hash=doc_hash or content_hash(text),
        )
        # Text nodes have offsets; other BaseNodes (images) not.
        start = _int(getattr(node, "start_char_idx", None))
        end = _int(getattr(node, "end_char_idx", None))
        if start is not None and end is not None and end >= start:
            position = positions.get(doc_id, 0)
            positions[doc_id] = position + 1
            chunk = _int(given.get("chunk"))
            meta.update(start=start, end=end, chunk=chunk if chunk is not None else position)
        page = _int(given.get("page"))
        label = given.get("page_label")
        if page is None and isinstance(label, str) and label.isdecimal():
            page = int(label)
        if page is not None:
            meta["page"] = page
        lang = self._lang(node, given.get("lang"), text)
        if lang is not None:
            meta["lang"] = lang
        if embedded != text and embedded.endswith(text):
            # What LlamaIndex embeds before the text (its metadata lines): stored as the
            # chunk's prefix, so that `xling index --verify` re-embeds what was embedded.
            meta[PREFIX_KEY] = embedded[: len(embedded) - len(text)]
        meta[TEXT_HASH_KEY] = content_hash(embedded)
        return meta

    def _lang(self, node: BaseNode, given: Any, text: str) -> str | None:
        if isinstance(given, str) and given:
            try:
                return normalize_code(given)
            except InvalidInputError as exc:
                raise InvalidInputError(f"node {node.node_id!r}: {exc}") from exc
        if self._identifier is None:
            return None
        found = self._identifier.detect(text).lang
        return None if found == UNDETERMINED else found

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Deletes every chunk of the document ``ref_doc_id`` (nothing if it is not there).

        Derived indexes (BM25, margin statistics) are rebuilt on their next use.
        """
        self._pool.delete([ref_doc_id])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Deletes the nodes of these ids and/or matching these filters (both: those of the ids
        that match).

        Raises:
            InvalidInputError: With neither ids nor filters, or on an unsupported filter.
        """
        where = _chroma_where(filters) if filters is not None else None
        if not node_ids:
            if where is None:
                raise InvalidInputError(
                    "give node_ids or filters to delete nodes (clear() deletes them all)"
                )
            self._pool.delete(where=where)
            return
        self._delete(list(node_ids), where)

    def clear(self) -> None:
        """Deletes every record of the pool (the empty pool keeps its embedder)."""
        self._delete(None, None)

    def _delete(self, ids: list[str] | None, where: dict[str, Any] | None) -> None:
        """Deletes the matching records and counts the deletion in the pool's state."""
        pool = self._pool
        with pool.db.calls(f"deleting from pool {pool.name!r}"), pool.writing():
            found: list[str] = []
            for part in _parts(ids, pool.max_batch):
                with pool.reading() as collection:
                    if collection is None:
                        return
                    found.extend(collection.get(ids=part, where=where, include=[])["ids"])
            if not found:
                return
            with pool.committing() as collection:
                for start in range(0, len(found), pool.max_batch):
                    collection.delete(ids=found[start : start + pool.max_batch])
                count_deletion(collection)

    # -- reading -----------------------------------------------------------------------------

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nearest nodes by cosine similarity.

        The query vector is ``query.query_embedding`` (of the pool's embedder) or, without
        one, ``query.query_str`` embedded by the pool's embedder as a query. ``filters``,
        ``doc_ids`` and ``node_ids`` restrict the search.

        Raises:
            InvalidInputError: On a mode other than ``default``, no query, a vector of another
                dimension, or an unsupported filter.
        """
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise InvalidInputError(
                f"query mode {query.mode.value!r} is not supported; XlingVectorStore answers "
                "'default' (dense) queries: use XlingRetriever for hybrid, bm25 or margin"
            )
        k = check_positive_int(query.similarity_top_k, "similarity_top_k")
        pool = self._pool
        if query.query_embedding is not None:
            vector = np.asarray(query.query_embedding, dtype=np.float32)
            if vector.shape != (pool.embedder.dim,):
                raise InvalidInputError(
                    f"the query embedding is {vector.size}-d, but pool {pool.name!r} holds "
                    f"{pool.embedder.dim}-d vectors of embedder {pool.embedder.id!r}"
                )
        elif isinstance(query.query_str, str) and query.query_str.strip():
            vector = pool.embedder.embed_queries([query.query_str], task=self.task)[0]
        else:
            raise InvalidInputError("the query has neither query_embedding nor query_str")
        clauses: list[dict[str, Any]] = []
        if query.filters is not None:
            clauses.append(_chroma_where(query.filters))
        if query.doc_ids:
            clauses.append({"doc_id": {"$in": list(query.doc_ids)}})
        where = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None)
        with pool.damage_is_named(), pool.reading() as collection:
            if collection is None:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            got = collection.query(
                query_embeddings=[vector],
                n_results=k,
                where=where,
                ids=list(query.node_ids) if query.node_ids else None,
                include=["documents", "metadatas", "distances"],
            )
        similarity = cosine_of(collection)
        hits = [
            stored_hit(rid, text, meta, similarity(float(dist)))
            for rid, text, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0],
                strict=True,
            )
        ]  # fmt: skip
        nodes = [hit_node(h) for h in hits]
        return VectorStoreQueryResult(
            nodes=[n.node for n in nodes],
            similarities=[float(n.score or 0.0) for n in nodes],
            ids=[h.id for h in hits],
        )

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """The stored nodes of these ids and/or matching these filters (neither: all).

        Raises:
            InvalidInputError: On an unsupported filter.
        """
        pool = self._pool
        where = _chroma_where(filters) if filters is not None else None
        nodes: list[BaseNode] = []
        for part in _parts(list(node_ids) if node_ids else None, pool.max_batch):
            offset = 0
            while True:
                with pool.damage_is_named(), pool.reading() as collection:
                    if collection is None:
                        return []
                    got = collection.get(
                        ids=part, where=where, include=["documents", "metadatas"],
                        limit=pool.max_batch, offset=offset,
                    )  # fmt: skip
                for rid, text, meta in zip(
                    got["ids"], got["documents"], got["metadatas"], strict=True
                ):
                    nodes.append(hit_node(stored_hit(rid, text, meta, None)).node)
                offset += len(got["ids"])
                if len(got["ids"]) < pool.max_batch:
                    break
        return nodes

    # -- async: the sync calls on a worker thread (Chroma has no async client here) -----------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """:meth:`add` on a worker thread."""
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """:meth:`delete` on a worker thread."""
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """:meth:`delete_nodes` on a worker thread."""
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aclear(self) -> None:
        """:meth:`clear` on a worker thread."""
        await asyncio.to_thread(self.clear)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """:meth:`query` on a worker thread."""
        return await asyncio.to_thread(self.query, query, **kwargs)

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """:meth:`get_nodes` on a worker thread."""
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)


def _text(metadata: Mapping[str, Any], *keys: str) -> str:
    """The first of these fields that is a non-empty string, else ``""``."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _parts(ids: list[str] | None, size: int) -> list[list[str] | None]:
    """Ids in parts of at most ``size`` (``[None]``: no ids, every record)."""
    if ids is None:
        return [None]
    return [ids[s : s + size] for s in range(0, len(ids), size)]
