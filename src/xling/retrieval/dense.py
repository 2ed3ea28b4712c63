"""``dense``: Chroma's HNSW index over the pool's vectors; scores are cosine similarities.

The one place a pool is queried by vector: the margin and hybrid methods take their dense
candidates from a :class:`DenseRetriever`. With ``center=True`` a ``shortlist`` of the nearest
passages is rescored by the cosine of language-centred vectors (:mod:`.centering`), which
takes away most of a multilingual embedder's pull towards the query's own language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.records import Hit
from xling.core.validation import check_choice, check_positive_int
from xling.embedders import Task
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.centering import (
    QUERY_MEAN_SOURCES,
    LanguageMeans,
    QueryMeans,
    QueryMeanSource,
)
from xling.store.collection import stored_hit
from xling.store.pool import Pool

__all__ = ["DenseRetriever"]

_QUERY_CELLS = 30_000  # queries × results per Chroma query call (SQLite's limit is 32,766)
_FIELDS = ("ids", "documents", "metadatas", "distances")


def _space(collection: Any) -> str:
    """The collection's HNSW distance: ``cosine`` (xling's), ``l2`` (Chroma's default) or ``ip``."""
    try:
        config = collection.configuration or {}
        space = (config.get("hnsw") or {}).get("space")
    except Exception:  # an older server without configurations
        space = None
    return str(space or (collection.metadata or {}).get("hnsw:space") or "l2")


def cosine_of(collection: Any) -> Callable[[float], float]:
    """Chroma distance → cosine similarity, for unit vectors in any of Chroma's spaces.

    ``cosine``: d = 1 − cos; ``l2`` (squared): d = 2 − 2 cos, so cos = 1 − d / 2; ``ip``:
    d = 1 − u·v.
    """
    if _space(collection) == "l2":
        return lambda d: 1.0 - d / 2.0
    return lambda d: 1.0 - d


def check_flag(value: object, name: str) -> bool:
    """``value`` if it is a bool, else an :class:`InvalidInputError` naming it."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name}={value!r:.40} is not allowed; use True or False")
    return value


def rescored(hits: list[Hit], scores: np.ndarray, k: int) -> list[Hit]:
    """The ``k`` best hits by new scores (ties: the earlier hit first), carrying the scores."""
    order = np.lexsort((np.arange(len(hits)), -scores))[:k]
    return [
        Hit(hits[i].id, hits[i].text, float(scores[i]), hits[i].lang, hits[i].metadata)
        for i in order
    ]


class DenseRetriever(Retriever):
    """Nearest passages by cosine similarity (the pool's HNSW index, cosine space).

    Args:
        pool: The pool.
        task: ``"asymmetric"`` (question → passage, e5's ``query:`` role) or ``"symmetric"``
            (texts like the pool's own, such as a sentence's translations: the query role
            against the pool's document-role vectors,
            :data:`~xling.embedders.POOL_SYMMETRIC_ROLES`);
            see :func:`~xling.embedders.query_role`.
        center: Rescore by the cosine of language-centred vectors (see :mod:`.centering`).
        query_means: With ``center``: where the queries' language means come from first,
            ``batch``, ``pool`` or ``sample`` (see :class:`~.centering.QueryMeans`).
        shortlist: With ``center``: nearest passages rescored per query (at least ``k``).
    """

    method = "dense"

    def __init__(
        self,
        pool: Pool,
        *,
        task: Task = "asymmetric",
        center: bool = False,
        query_means: QueryMeanSource = "batch",
        shortlist: int = 100,
    ) -> None:
        super().__init__(pool, task=task)
        self.center = check_flag(center, "center")
        source = check_choice(query_means, "query_means", QUERY_MEAN_SOURCES)
        self.shortlist = check_positive_int(shortlist, "shortlist")
        self.language_means = LanguageMeans(pool)
        self.query_means = QueryMeans(
            pool.embedder, self.task, source, pool_means=self.language_means
        )

    def prepare(self) -> None:
        """With ``center``: loads or computes the pool's language means."""
        if self.center:
            self.language_means.prepare()

    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Up to ``k`` hits per query by decreasing cosine similarity.

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        return self.search_languages(queries, k, where, [None] * len(queries))

    def search_languages(
        self, queries: list[str], k: int, where: Filter, langs: list[str | None]
    ) -> list[list[Hit]]:
        """Up to ``k`` hits per query (centred cosines with ``center``; languages detected
        where not given)."""
        vectors = self.pool.embedder.embed_queries(queries, task=self.task)
        if not self.center:
            return self.nearest(vectors, k, where)[0]
        self.prepare()
        hits, found = self.nearest(vectors, max(k, self.shortlist), where, with_vectors=True)
        centred = self.query_means.center(vectors, self.query_means.languages(queries, langs))
        out: list[list[Hit]] = []
        for query, these, passages in zip(centred, hits, found, strict=True):
            if not these:
                out.append([])
                continue
            rows = self.language_means.center(passages, [h.lang for h in these])
            out.append(rescored(these, rows @ query, k))
        return out

    def nearest(
        self, vectors: np.ndarray, k: int, where: Filter, *, with_vectors: bool = False
    ) -> tuple[list[list[Hit]], list[np.ndarray]]:
        """The ``k`` nearest passages of each query vector by cosine (the HNSW index).

        Args:
            vectors: ``(n, d)`` unit query vectors.
            k: Hits per query.
            where: The filter.
            with_vectors: Also return the hits' stored vectors.

        Returns:
            Hits per query, best first, and (with ``with_vectors``) their ``(hits, d)``
            vectors per query (else an empty list).

        Raises:
            ServiceUnavailableError: If the server does not answer or the pool is damaged.
        """
        pool = self.pool
        clause = where.chroma_where()
        include = ["documents", "metadatas", "distances"]
        result: dict[str, list[Any]] = {key: [] for key in _FIELDS}
        # Embedded Chroma binds queries × k variables in one SQLite statement, which refuses
        # more than 32,766: query in slices under that.
        step = max(1, _QUERY_CELLS // k)
        for start in range(0, len(vectors), step):
            with pool.damage_is_named(), pool.reading() as collection:
                if collection is None:
                    empty = np.zeros((0, pool.embedder.dim), np.float32)
                    return [[] for _ in vectors], [empty for _ in vectors]
                part = collection.query(
                    query_embeddings=vectors[start : start + step],
                    n_results=k,
                    where=clause,
                    include=include,
                )
            for key in _FIELDS:
                result[key].extend(part[key])
        similarity = cosine_of(collection)
        hits = [
            [
                stored_hit(i, d, m, similarity(float(dist)))
                for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
            ]
            for ids, docs, metas, dists in zip(*(result[key] for key in _FIELDS), strict=True)
        ]
        if not with_vectors:
            return hits, []
        # The shortlists of a batch overlap: read each passage's vector once.
        table = self._vectors(list(dict.fromkeys(h.id for these in hits for h in these)))
        found = [
            np.asarray([table[h.id] for h in these], dtype=np.float32).reshape(len(these), -1)
            for these in hits
        ]
        return hits, found

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors by passage id."""
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), _QUERY_CELLS):
            with self.pool.damage_is_named(), self.pool.reading() as collection:
                if collection is None:
                    return out
                got = collection.get(ids=ids[start : start + _QUERY_CELLS], include=["embeddings"])
            vectors = np.asarray(got["embeddings"], dtype=np.float32)
            out.update(zip(got["ids"], vectors, strict=True))
        return out
