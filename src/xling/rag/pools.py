"""Pools: Chroma collections of texts with metadata and vectors from an xling embedder.

A pool records the embedder that filled it; opening it with another embedder is refused.
Record ids derive from content, so indexing is an idempotent upsert: an interrupted run is
resumed by running it again, and an unchanged pool re-embeds nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xling._validation import check_positive_int, check_texts
from xling.errors import InvalidInputError
from xling.prompts.languages import normalize_code
from xling.rag.chroma_client import connect
from xling.rag.embedders import DEFAULT_EMBEDDER, Embedder, get_embedder
from xling.rag.records import Record

__all__ = ["Pool", "Hit", "IndexReport", "AlignedPool", "Progress"]

Progress = Callable[[int, int], None]
_EMBEDDER_KEY = "xling:embedder"
_DIM_KEY = "xling:dim"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


@dataclass(frozen=True)
class Hit:
    """A search result.

    Attributes:
        id: Record id in the pool.
        text: The text.
        score: Cosine similarity to the query.
        lang: The text's language.
        metadata: Everything stored with it (``side``, ``pair_id``, ``row``, ``source``, ...).
    """

    id: str
    text: str
    score: float
    lang: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexReport:
    """What one indexing run did.

    Attributes:
        total: Distinct records given.
        added: Records embedded and written in this run.
        skipped: Records already in the pool.
    """

    total: int
    added: int
    skipped: int


@dataclass
class AlignedPool:
    """Translation pairs of one direction, in pool row order, held in memory.

    Attributes:
        sources: Source-side texts.
        targets: Target-side texts.
        rows: Each pair's 0-based row in the file it came from.
        src_lang: Canonical source language code.
        tgt_lang: Canonical target language code.
        source_vectors: Unit-norm vectors of the sources, if loaded.
        target_vectors: Unit-norm vectors of the targets, if loaded.
        embedder_id: The embedder that made the vectors.
    """

    sources: list[str]
    targets: list[str]
    rows: list[int]
    src_lang: str
    tgt_lang: str
    source_vectors: np.ndarray | None = None
    target_vectors: np.ndarray | None = None
    embedder_id: str | None = None

    def __post_init__(self) -> None:
        if not (len(self.sources) == len(self.targets) == len(self.rows)):
            raise InvalidInputError(
                f"aligned pool is misaligned: {len(self.sources)} sources, "
                f"{len(self.targets)} targets, {len(self.rows)} rows"
            )

    def __len__(self) -> int:
        return len(self.sources)


def _row(record: Record, fallback: int) -> int:
    return int(record.row) if record.row is not None else fallback


class Pool:
    """A Chroma collection filled through an xling embedder.

    Use :meth:`open` rather than the constructor.

    Args:
        collection: The Chroma collection.
        embedder: The embedder matching the collection's recorded embedder id.
        max_batch: Largest batch the Chroma client accepts.
    """

    def __init__(self, collection: Any, embedder: Embedder, max_batch: int) -> None:
        self.collection = collection
        self.embedder = embedder
        self.max_batch = max_batch

    @property
    def name(self) -> str:
        """The collection name."""
        return str(self.collection.name)

    @classmethod
    def open(
        cls,
        name: str,
        embedder: str | Embedder = DEFAULT_EMBEDDER,
        *,
        client: Any = None,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        create: bool = True,
    ) -> Pool:
        """Opens (or creates) a pool.

        Args:
            name: Collection name (3–512 characters of ``[A-Za-z0-9._-]``).
            embedder: Spec string or embedder; must match the one the pool was built with.
            client: A Chroma client; else one from ``path``/``url`` (see :func:`connect`).
            path: Embedded database folder.
            url: Chroma server or cloud URL.
            create: Create the pool if it does not exist.

        Raises:
            InvalidInputError: On a bad name, a missing pool with ``create=False``, or an
                embedder other than the pool's.
        """
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InvalidInputError(
                f"pool name {name!r} is not allowed; use 3-512 characters of [A-Za-z0-9._-], "
                "starting and ending with a letter or digit"
            )
        emb = get_embedder(embedder) if not isinstance(embedder, Embedder) else embedder
        client = client if client is not None else connect(path=path, url=url)
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        if name in existing:
            collection = client.get_collection(name, embedding_function=None)
            cls._check_embedder(name, collection.metadata or {}, emb)
        elif create:
            collection = client.create_collection(
                name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={_EMBEDDER_KEY: emb.id, _DIM_KEY: emb.dim},
                embedding_function=None,
            )
        else:
            raise InvalidInputError(
                f"pool {name!r} does not exist; existing pools: "
                f"{', '.join(sorted(existing)) or 'none'}"
            )
        return cls(collection, emb, int(client.get_max_batch_size()))

    @staticmethod
    def _check_embedder(name: str, metadata: dict[str, Any], emb: Embedder) -> None:
        recorded, dim = metadata.get(_EMBEDDER_KEY), metadata.get(_DIM_KEY)
        if recorded is None:
            raise InvalidInputError(f"collection {name!r} was not made by xling (no embedder id)")
        if recorded != emb.id or int(dim or 0) != emb.dim:
            raise InvalidInputError(
                f"pool {name!r} was indexed with embedder {recorded!r} ({dim}-d), not "
                f"{emb.id!r} ({emb.dim}-d); use that embedder or another pool name"
            )

    def count(self) -> int:
        """Number of records in the pool."""
        return int(self.collection.count())

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), self.max_batch):
            got = self.collection.get(ids=ids[start : start + self.max_batch], include=[])
            found.update(got["ids"])
        return found

    def index(
        self,
        records: Sequence[Record],
        *,
        batch_size: int = 256,
        on_progress: Progress | None = None,
    ) -> IndexReport:
        """Embeds and upserts the records that are not in the pool yet.

        Each batch is written as soon as it is embedded; ids come from content, so a run that
        stops half way is resumed by running it again, without duplicates.

        Args:
            records: Records to add (duplicates by id are kept once).
            batch_size: Records embedded and written per step (capped by Chroma's maximum).
            on_progress: Called with (records done, records to do) after each step.

        Returns:
            Counts of what was added and skipped.
        """
        check_positive_int(batch_size, "batch_size")
        unique: dict[str, Record] = {}
        for record in records:
            if not isinstance(record, Record):
                raise InvalidInputError(f"records must be xling Record objects, got {record!r:.60}")
            unique.setdefault(record.id, record)
        check_texts([r.text for r in unique.values()], "record texts")
        present = self._existing_ids(list(unique))
        todo = [r for rid, r in unique.items() if rid not in present]
        step = min(batch_size, self.max_batch)
        if on_progress:
            on_progress(0, len(todo))
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            vectors = self.embedder.embed_documents([r.text for r in chunk])
            self.collection.upsert(
                ids=[r.id for r in chunk],
                embeddings=vectors,
                documents=[r.text for r in chunk],
                metadatas=[r.chroma_metadata() for r in chunk],
            )
            if on_progress:
                on_progress(start + len(chunk), len(todo))
        return IndexReport(total=len(unique), added=len(todo), skipped=len(present))

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
    ) -> list[list[Hit]]:
        """Finds the pool texts closest to each query, in any language.

        Args:
            queries: Query texts (embedded in the query role).
            k: Results per query.
            langs: Only return texts in these languages.
            where: A further Chroma metadata filter.

        Returns:
            For each query, up to ``k`` hits by decreasing cosine similarity.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k")
        if not texts:
            return []
        vectors = self.embedder.embed_queries(texts)
        result = self.collection.query(
            query_embeddings=vectors,
            n_results=k,
            where=self._where(langs, where),
            include=["documents", "metadatas", "distances"],
        )
        hits: list[list[Hit]] = []
        for ids, docs, metas, dists in zip(
            result["ids"], result["documents"], result["metadatas"], result["distances"],
            strict=True,
        ):  # fmt: skip
            hits.append(
                [
                    Hit(i, d, 1.0 - float(dist), str(m.get("lang", "")), dict(m))
                    for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
                ]
            )
        return hits

    def records(
        self, where: dict[str, Any] | None = None, *, with_vectors: bool = False
    ) -> tuple[list[Record], np.ndarray | None]:
        """Reads records (and optionally their vectors) back, ordered by (source, row, side)."""
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        got = self.collection.get(where=where, include=include)
        order = sorted(
            range(len(got["ids"])),
            key=lambda i: (
                str(got["metadatas"][i].get("source", "")),
                int(got["metadatas"][i].get("row", -1)),
                str(got["metadatas"][i].get("side", "")),
            ),
        )
        records = []
        for i in order:
            meta = dict(got["metadatas"][i])
            base = {k: meta.pop(k, None) for k in ("lang", "side", "pair_id", "row", "source")}
            records.append(
                Record(
                    got["documents"][i], str(base["lang"]), base["side"], base["pair_id"],
                    base["row"], str(base["source"] or ""), meta,
                )
            )  # fmt: skip
        vectors = None
        if with_vectors:
            vectors = np.asarray(got["embeddings"], dtype=np.float32)[order]
        return records, vectors

    def aligned(self, src_lang: str, tgt_lang: str, *, with_vectors: bool = True) -> AlignedPool:
        """The translation pairs of one direction, in row order, for ICL example selection.

        Raises:
            InvalidInputError: If the pool holds no pairs for that direction.
        """
        s, t = normalize_code(src_lang), normalize_code(tgt_lang)
        src_recs, src_vecs = self.records(
            {"$and": [{"lang": s}, {"side": "src"}]}, with_vectors=with_vectors
        )
        tgt_recs, tgt_vecs = self.records(
            {"$and": [{"lang": t}, {"side": "tgt"}]}, with_vectors=with_vectors
        )
        tgt_by_pair = {r.pair_id: i for i, r in enumerate(tgt_recs)}
        keep = [
            (i, tgt_by_pair[r.pair_id]) for i, r in enumerate(src_recs) if r.pair_id in tgt_by_pair
        ]
        if not keep:
            raise InvalidInputError(f"pool {self.name!r} holds no {s}->{t} translation pairs")
        si, ti = [a for a, _ in keep], [b for _, b in keep]
        return AlignedPool(
            sources=[src_recs[i].text for i in si],
            targets=[tgt_recs[i].text for i in ti],
            rows=[_row(src_recs[i], i) for i in si],
            src_lang=s,
            tgt_lang=t,
            source_vectors=src_vecs[si] if src_vecs is not None else None,
            target_vectors=tgt_vecs[ti] if tgt_vecs is not None else None,
            embedder_id=self.embedder.id,
        )
