"""The retrieval seam: one interface over a pool's passages, vectorised over many queries.

Every method (``dense``, ``bm25``, ``hybrid``, ``margin``) takes a list of queries and returns
one :class:`~xling.core.records.QueryHits` per query, hits best first, each keeping the passage's
pool id, text, language, score and metadata, so the result goes into a reranker as it is.
Async inside (the embedder and Chroma calls run on a worker thread); :meth:`Retriever.retrieve`
is the blocking edge.
"""

from __future__ import annotations

import asyncio
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from xling.core.aio import blocking_method
from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.records import Hit, QueryHits
from xling.core.validation import (
    check_non_negative_int,
    check_positive_int,
    check_texts,
    check_unicode,
    preview,
)
from xling.embedders import Task
from xling.store.pool import Pool

__all__ = ["Filter", "Retriever"]


def _codes(value: str | Sequence[str] | None, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"{name} holds {preview(item)}; use language codes")
    return tuple(dict.fromkeys(normalize_code(x) for x in items))


@dataclass(frozen=True)
class Filter:
    """Which passages a query may find.

    Attributes:
        langs: Only passages in these languages (empty: any).
        exclude_langs: Never passages in these languages.
        where: A further Chroma metadata filter (``{"source": "news"}``, ``{"$and": [...]}``).
    """

    langs: tuple[str, ...] = ()
    exclude_langs: tuple[str, ...] = ()
    where: Mapping[str, Any] | None = None

    @classmethod
    def of(
        cls,
        langs: str | Sequence[str] | None = None,
        exclude_langs: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> Filter:
        """A validated filter; codes are normalised (``fr`` → ``fra``).

        Raises:
            InvalidInputError: On an unknown language, a language both included and excluded,
                or a ``where`` that is not a mapping.
        """
        inc, exc = _codes(langs, "langs"), _codes(exclude_langs, "exclude_langs")
        both = sorted(set(inc) & set(exc))
        if both:
            raise InvalidInputError(f"language(s) {', '.join(both)} both included and excluded")
        if where is not None and (not isinstance(where, Mapping) or not where):
            raise InvalidInputError(
                f"where={preview(where)} is not allowed; use a Chroma metadata filter such as "
                '{"source": "news"}'
            )
        if where:
            _check_where(where)
        return cls(inc, exc, dict(where) if where else None)

    def chroma_where(self) -> dict[str, Any] | None:
        """The filter as a Chroma ``where`` clause (``None``: no filter)."""
        clauses: list[dict[str, Any]] = []
        if self.langs:
            clauses.append(
                {"lang": self.langs[0]}
                if len(self.langs) == 1
                else {"lang": {"$in": list(self.langs)}}
            )
        if self.exclude_langs:
            clauses.append({"lang": {"$nin": list(self.exclude_langs)}})
        if self.where:
            clauses.append(dict(self.where))
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    @property
    def key(self) -> str:
        """A stable text of the filter (caches of filtered masks are keyed by it)."""
        return json.dumps(self.chroma_where(), sort_keys=True, ensure_ascii=False)


class Retriever(ABC):
    """Finds the passages of a pool for many queries at once.

    Args:
        pool: The pool (its recorded embedder embeds the queries).
        task: ``"asymmetric"`` for questions against passages (e5's ``query:`` role) or
            ``"symmetric"`` for texts like the passages themselves (a sentence's translations),
            embedded in the query-side role of :data:`~xling.embedders.POOL_SYMMETRIC_ROLES`
            (the pool's stored vectors are passages).
    """

    method: ClassVar[str] = ""

    def __init__(self, pool: Pool, *, task: Task = "asymmetric") -> None:
        if not isinstance(pool, Pool):
            raise InvalidInputError(
                f"pool must be an xling Pool (Pool.open(name)), got {pool!r:.60}"
            )
        if task not in ("asymmetric", "symmetric"):
            raise InvalidInputError(
                f"task={task!r} is not allowed; use 'asymmetric' (question → passage) or "
                "'symmetric' (text → similar text)"
            )
        self.pool = pool
        self.task: Task = task
        # One search at a time per retriever: the pool's client and the derived indexes are
        # shared state; concurrent queries are batched by the caller instead.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool={self.pool.name!r}, task={self.task!r})"

    @abstractmethod
    def search(self, queries: list[str], k: int, where: Filter) -> list[list[Hit]]:
        """Blocking search: up to ``k`` hits per query, best first (no validation)."""

    async def aretrieve(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        langs: str | Sequence[str] | None = None,
        exclude_langs: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        query_lang: str | Sequence[str | None] | None = None,
        qids: Sequence[str] | None = None,
        exclude_ids: Sequence[Sequence[str]] | None = None,
        neighbours: int = 0,
    ) -> list[QueryHits]:
        """Retrieves the ``k`` best passages of each query (async).

        Args:
            queries: Query texts.
            k: Hits per query (fewer when the filtered pool is smaller).
            langs: Only passages in these languages.
            exclude_langs: Never passages in these languages.
            where: A further Chroma metadata filter.
            query_lang: The queries' language (one code for all, or one per query): a hint
                carried into the results for rerankers and the answer pipeline.
            qids: Query ids (default ``"0"``, ``"1"``, ...).
            exclude_ids: Per query, passage ids it must not find (its own line, say).
            neighbours: Return each chunk hit with up to this many adjacent chunks of its
                document on each side, merged into its text, for context (see
                :meth:`xling.store.pool.Pool.with_neighbours`).

        Returns:
            One :class:`QueryHits` per query, in input order.

        Raises:
            InvalidInputError: On an empty query, ``k < 1``, a bad filter or mismatched lists.
            ServiceUnavailableError: If the Chroma server does not answer.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k")
        filt = Filter.of(langs, exclude_langs, where)
        ids = self._qids(qids, len(texts))
        qlangs = self._query_langs(query_lang, len(texts))
        excluded = self._excluded(exclude_ids, len(texts))
        check_non_negative_int(neighbours, "neighbours")
        if not texts:
            return []
        extra = max((len(x) for x in excluded), default=0)
        found = await asyncio.to_thread(self._locked_search, texts, k + extra, filt, qlangs)
        pairs = zip(found, excluded, strict=True)
        kept = [[h for h in hits if h.id not in skip][:k] for hits, skip in pairs]
        if neighbours:
            kept = await asyncio.to_thread(
                lambda: [self.pool.with_neighbours(hits, neighbours) for hits in kept]
            )
        return [
            QueryHits(qid, text, tuple(hits), lang)
            for qid, text, hits, lang in zip(ids, texts, kept, qlangs, strict=True)
        ]

    retrieve = blocking_method(aretrieve)

    def prepare(self) -> None:  # noqa: B027 - most methods derive nothing
        """Builds (or loads) what the method derives from the pool, ahead of the first query."""

    def search_languages(
        self, queries: list[str], k: int, where: Filter, langs: list[str | None]
    ) -> list[list[Hit]]:
        """Blocking search that knows the queries' languages where given (``None``: unknown).

        Methods that use the languages (centering) override it; the others search as is.
        """
        return self.search(queries, k, where)

    def _locked_search(
        self, texts: list[str], k: int, filt: Filter, langs: list[str | None]
    ) -> list[list[Hit]]:
        with self._lock:
            return self.search_languages(texts, k, filt, langs)

    @staticmethod
    def _qids(qids: Sequence[str] | None, n: int) -> list[str]:
        if qids is None:
            return [str(i) for i in range(n)]
        items = check_texts(qids, "qids")
        if len(items) != n:
            raise InvalidInputError(f"qids has {len(items)} items but there are {n} queries")
        if len(set(items)) != n:
            raise InvalidInputError("qids must be unique")
        return items

    @staticmethod
    def _query_langs(value: str | Sequence[str | None] | None, n: int) -> list[str | None]:
        if value is None or isinstance(value, str):
            return [normalize_code(value) if value else None] * n
        items = list(value)
        if len(items) != n:
            raise InvalidInputError(f"query_lang has {len(items)} items but there are {n} queries")
        return [normalize_code(x) if x else None for x in items]

    @staticmethod
    def _excluded(value: Sequence[Sequence[str]] | None, n: int) -> list[frozenset[str]]:
        if value is None:
            return [frozenset()] * n
        items = list(value)
        if len(items) != n:
            raise InvalidInputError(f"exclude_ids has {len(items)} items but there are {n} queries")
        return [frozenset([x] if isinstance(x, str) else x) for x in items]


def _check_where(where: Mapping[str, Any]) -> None:
    """Rejects a ``where`` Chroma would refuse, before any search (so one bad request does not
    fail the requests merged with it, and is answered as bad input, not as a failure)."""
    from chromadb.api.types import validate_where

    def strings(node: Any) -> None:
        if isinstance(node, str):
            check_unicode(node, "where")
        elif isinstance(node, Mapping):
            for key, value in node.items():
                strings(key)
                strings(value)
        elif isinstance(node, list):
            for item in node:
                strings(item)

    def clause(node: Any) -> None:  # Chroma's own check lets an unknown "$op" clause through
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key in ("$and", "$or") and isinstance(value, list):
                for item in value:
                    clause(item)
            elif isinstance(key, str) and key.startswith("$"):
                raise ValueError(f"unknown operator {key!r} where a field name, $and or $or "
                                 "belongs")  # fmt: skip

    try:
        strings(where)
        clause(where)
        validate_where(dict(where))
    except ValueError as exc:
        message = str(exc).removesuffix(" in query.").removesuffix(".")
        raise InvalidInputError(
            f"where={preview(dict(where), 80)} is not a valid Chroma filter ({message}); use "
            'one such as {"source": "news"} or {"$and": [{"source": "news"}, {"year": 2020}]}'
        ) from None
