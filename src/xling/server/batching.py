"""Micro-batching of concurrent retrieve requests into one vectorised search.

Chatbot clients send one query a request; the retriever embeds and searches a list of queries in
one call, and searches one call at a time. The batcher merges the requests that arrive while a
search runs into the next one, so 32 clients cost a few batched searches instead of 32 single
ones; a request that finds the retriever idle is searched at once, so batching adds no latency
when there is no load. Requests are merged only when they ask the same retriever for the same
``k`` under the same filter.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xling.core.languages import normalize_code
from xling.core.records import QueryHits
from xling.core.validation import check_positive_int, check_texts
from xling.retrieval import Filter, Retriever

__all__ = ["RetrieveBatcher"]

_Key = tuple[int, int, str]


@dataclass
class _Pending:
    queries: list[str]
    query_lang: list[str | None]
    future: asyncio.Future[list[QueryHits]]


@dataclass
class _Lane:
    retriever: Retriever
    k: int
    filt: Filter
    queue: deque[_Pending] = field(default_factory=deque)
    running: bool = False


class RetrieveBatcher:
    """Merges concurrent :meth:`Retriever.aretrieve` calls with the same retriever, k and filter.

    Args:
        max_queries: Most queries in one merged search (a request is never split).
    """

    def __init__(self, max_queries: int = 256) -> None:
        check_positive_int(max_queries, "max_queries")
        self.max_queries = max_queries
        self._lanes: dict[_Key, _Lane] = {}
        self.searches = 0  # merged searches run (for tests and metrics)

    async def aretrieve(
        self,
        retriever: Retriever,
        queries: Sequence[str],
        k: int,
        *,
        langs: str | Sequence[str] | None = None,
        exclude_langs: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        query_lang: str | None = None,
    ) -> list[QueryHits]:
        """The hits of ``queries``, as :meth:`Retriever.aretrieve` returns them (qids 0, 1, …).

        Raises:
            InvalidInputError: On an empty query, ``k < 1`` or a bad filter; checked here, so a
                bad request never fails the others merged with it.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k")
        filt = Filter.of(langs, exclude_langs, where)
        lang = normalize_code(query_lang) if query_lang else None
        if not texts:
            return []
        key = (id(retriever), k, filt.key)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(retriever, k, filt)
        future: asyncio.Future[list[QueryHits]] = asyncio.get_running_loop().create_future()
        lane.queue.append(_Pending(texts, [lang] * len(texts), future))
        if not lane.running:
            lane.running = True
            asyncio.create_task(self._drain(key, lane))
        return await future

    def _take(self, lane: _Lane) -> list[_Pending]:
        batch = [lane.queue.popleft()]
        size = len(batch[0].queries)
        while lane.queue and size + len(lane.queue[0].queries) <= self.max_queries:
            size += len(lane.queue[0].queries)
            batch.append(lane.queue.popleft())
        return batch

    async def _drain(self, key: _Key, lane: _Lane) -> None:
        try:
            while lane.queue:
                batch = self._take(lane)
                try:
                    hits = await self._search(lane, batch)
                except Exception as exc:  # every merged request gets the failure itself
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(exc)
                    continue
                start = 0
                for pending in batch:
                    part = hits[start : start + len(pending.queries)]
                    start += len(pending.queries)
                    if not pending.future.done():  # its client may have gone
                        pending.future.set_result(
                            [replace(h, qid=str(i)) for i, h in enumerate(part)]
                        )
        finally:
            lane.running = False
            if not lane.queue:
                self._lanes.pop(key, None)

    async def _search(self, lane: _Lane, batch: list[_Pending]) -> list[QueryHits]:
        self.searches += 1
        filt = lane.filt
        return await lane.retriever.aretrieve(
            [q for p in batch for q in p.queries],
            lane.k,
            langs=filt.langs or None,
            exclude_langs=filt.exclude_langs or None,
            where=filt.where,
            query_lang=[lang for p in batch for lang in p.query_lang],
        )
