"""What one service process holds: pools, embedders, LLM replicas, and the work on them.

One Chroma client (per pool folder or server) and one LLM client per replica, opened at start-up
and closed at shutdown. Blocking embedder and Chroma calls run on worker threads (the
retrievers' own async path). LLM requests go to the replica with the fewest in flight; a replica
that fails is taken out for ``down_seconds`` and the request is tried on the next one.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from xling.core.errors import (
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
    UnknownSpecError,
)
from xling.core.languages import normalize_code
from xling.core.records import AlignedPool, Hit, QueryHits
from xling.core.replicas import ReplicaSet
from xling.embedders import Embedder, get_embedder
from xling.embedders.base import Role
from xling.llm import LLMClient
from xling.rerankers import RerankRequest, RerankResult, available_rerankers, get_reranker
from xling.rerankers.guard import resolve_guard
from xling.retrieval import Retriever, available_retrievers, get_retriever
from xling.selectors import (
    Selection,
    SelectionConfig,
    SelectorCache,
    aligned_pool,
    select_examples,
)
from xling.server.access import ANONYMOUS, Caller
from xling.server.batching import RetrieveBatcher
from xling.server.config import ServiceConfig
from xling.server.names import check_pool_name
from xling.server.served_rerankers import ServedRerankers
from xling.store import Pool, open_pool
from xling.store.chroma_client import Database
from xling.store.collection import pool_names

__all__ = ["Replicas", "Service", "reranker_name", "relevance_scores"]

T = TypeVar("T")
_PREFIX = "xling-"


def reranker_name(model: str | None, configured: Collection[str] = ()) -> str:
    """The xling reranker a rerank ``model`` names (``listwise``, ``xling-prp-heapsort``, or a
    name of ``xling serve --reranker NAME=SPEC`` in ``configured``); never a spec."""
    if model is None:
        return "listwise"
    if model in configured:
        return model
    name = model.removeprefix(_PREFIX)
    if name not in available_rerankers() and name not in configured:
        valid = [*available_rerankers(), *(_PREFIX + n for n in available_rerankers())]
        raise UnknownSpecError(
            f"unknown model {model!r:.80}; use one of: {', '.join([*valid, *configured])}"
        )
    return name


def relevance_scores(result: RerankResult) -> dict[int, float]:
    """Document index → relevance score: the probability that the document is relevant.

    Each candidate's calibrated ``relevance`` (:mod:`xling.rerankers.calibration`): the
    documents of ``/rerank`` carry no first-stage scores, so order-only rerankers use the
    rank-only form; non-increasing down the reranked list, ``>= 0.5`` "more likely relevant
    than not".
    """
    return {int(c.id): c.relevance for c in result.candidates}


@dataclass
class Replicas:
    """LLM servers behind one interface, chosen by :class:`~xling.core.replicas.ReplicaSet`:
    fewest in flight first, failed ones rested for ``down_seconds``."""

    urls: Sequence[str]
    model: str | None = None
    concurrency: int = 32
    down_seconds: float = 30.0
    _set: ReplicaSet[LLMClient] = field(init=False)

    def __post_init__(self) -> None:
        clients = [
            LLMClient(url, self.model, max_concurrency=self.concurrency) for url in self.urls
        ]
        self._set = ReplicaSet(clients, down_seconds=self.down_seconds)

    def __bool__(self) -> bool:
        return bool(self._set)

    @property
    def clients(self) -> list[LLMClient]:
        """Each replica's client."""
        return [replica.target for replica in self._set.replicas]

    def _check(self) -> None:
        if not self._set:
            raise ServiceUnavailableError(
                "this service has no LLM server; start it with --llm-url URL"
            )

    async def arun(self, work: Callable[[LLMClient], Awaitable[T]]) -> T:
        """Runs ``work`` on a replica, failing over to the next when a server fails.

        Raises:
            ServiceUnavailableError: When no LLM server is configured, or every one failed.
        """
        self._check()
        errors: list[str] = []
        with self._set.attempts() as tries:
            for replica in tries:
                try:
                    return await work(replica.target)
                except ServiceUnavailableError as exc:
                    errors.append(str(exc))
        raise ServiceUnavailableError(f"every LLM server failed: {'; '.join(errors)}")

    def pick(self) -> LLMClient:
        """The client of the replica to use now (fewest in flight, rested ones last).

        Raises:
            ServiceUnavailableError: When no LLM server is configured.
        """
        self._check()
        return self._set.best().target

    @property
    def in_flight(self) -> int:
        """LLM-bound requests being served now."""
        return self._set.in_flight

    async def aclose(self) -> None:
        """Closes every client."""
        for client in self.clients:
            await client.aclose()


class Service:
    """The pools, embedders and LLM replicas of one process.

    Args:
        config: The settings.

    Raises:
        InvalidInputError: On a pool that does not exist or an unknown embedder spec.
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.pools: dict[str, Pool] = {}  # opened so far, by name
        self.db = Database.open(path=config.chroma_path, url=config.chroma_url)
        for name in config.pools or self.pool_names():
            self.pools[name] = open_pool(name, path=config.chroma_path, url=config.chroma_url)
        self.embedders: dict[str, Embedder] = {}
        for pool in self.pools.values():
            self.embedders.setdefault(pool.embedder.id, pool.embedder)
        for spec in config.embedders:
            embedder = get_embedder(spec)
            self.embedders.setdefault(embedder.id, embedder)
        self.llm = Replicas(config.llm_urls, config.llm_model, config.llm_concurrency)
        self.rerankers = ServedRerankers(
            config.rerankers, self.llm.clients, guard=config.rerank_guard
        )
        self._retrievers: dict[tuple[str, str, str], Retriever] = {}
        self.batcher = RetrieveBatcher(max_queries=config.max_batch)
        self.waiting = 0  # LLM-bound requests admitted and not finished
        # Per (pool, src, tgt): the pool state the pairs were read at, the pairs, the selectors.
        self._aligned: dict[
            tuple[str, str, str], tuple[tuple[str, int], AlignedPool, SelectorCache]
        ] = {}

    # -- lookups ----------------------------------------------------------------------------
    def pool_names(self, caller: Caller = ANONYMOUS) -> list[str]:
        """The served pools ``caller`` may read, sorted: those ``--pool`` named, or else every
        pool of the Chroma database, read now (so pools created since start-up appear)."""
        if self.config.pools:
            names = list(self.config.pools)
        else:
            with self.db.calls("listing pools"), self.db.reading() as client:
                names = pool_names(client)
        return [n for n in names if caller.can_read(n)]

    def pool(self, name: str | None, caller: Caller = ANONYMOUS) -> Pool:
        """A served pool ``caller`` may read (the first one when ``name`` is ``None``).

        Raises:
            NotFoundError: When there is no such pool, it is not served, or ``caller`` may not
                read it (the message lists only the pools the caller may read).
        """
        if name is None:
            readable = self.pool_names(caller)
            if not readable:
                raise NotFoundError("this service serves no pool you may read")
            name = readable[0]
        if name not in self.pools:
            check_pool_name(name)  # a client's name: 422 before it is echoed or looked up
        if name not in self.pools or not caller.can_read(name):
            readable = self.pool_names(caller)
            if name not in readable:
                raise NotFoundError(
                    f"unknown pool {name!r}; served pools: {', '.join(readable) or 'none'}"
                )
            self.pools[name] = open_pool(
                name, path=self.config.chroma_path, url=self.config.chroma_url
            )
        return self.pools[name]

    def retriever(
        self, pool: str | None, method: str, task: str, caller: Caller = ANONYMOUS
    ) -> Retriever:
        """One retriever per (pool, method, task), kept for the process (derived indexes)."""
        target = self.pool(pool, caller)
        if method not in available_retrievers():
            raise UnknownSpecError(
                f"unknown method {method!r}; use one of: {', '.join(available_retrievers())}"
            )
        key = (target.name, method, task)
        if key not in self._retrievers:
            self._retrievers[key] = get_retriever(method, target, task=task)
        return self._retrievers[key]

    def embedder(self, model: str | None) -> Embedder:
        """A served embedder by id (the first pool's when ``None``); never a new spec."""
        if not self.embedders:
            raise InvalidInputError("this service has no embedder; start it with --embedder")
        if model is None:
            return next(iter(self.embedders.values()))
        if model not in self.embedders:
            raise UnknownSpecError(
                f"unknown model {model!r}; this server embeds with: {', '.join(self.embedders)}"
            )
        return self.embedders[model]

    # -- work -------------------------------------------------------------------------------
    async def aretrieve(
        self,
        pool: str | None,
        method: str,
        task: str,
        queries: list[str],
        k: int,
        caller: Caller = ANONYMOUS,
        **filters: Any,
    ) -> tuple[Retriever, list[QueryHits]]:
        """Hits of ``queries``; concurrent requests are merged into one search (batching.py)."""
        retriever = self.retriever(pool, method, task, caller)
        return retriever, await self.batcher.aretrieve(retriever, queries, k, **filters)

    async def arerank(
        self, query: str, documents: list[str], model: str | None, max_tokens: int | None
    ) -> tuple[RerankResult, str]:
        """Reranks documents (ids are their indexes); returns the result and reranker name."""
        name = reranker_name(model, self.rerankers.names())
        request = RerankRequest(query, tuple(Hit(str(i), text) for i, text in enumerate(documents)))
        if name in self.rerankers:
            served = await self.rerankers.arun(name, lambda r: r.arerank(request), self.llm.arun)
            return served, name
        guard = resolve_guard(self.config.rerank_guard, name)
        options: dict[str, Any] = {"on_failure": "raise", "guard": guard}
        if max_tokens is not None:
            options["max_passage_tokens"] = max_tokens

        async def on(client: LLMClient) -> RerankResult:
            return await get_reranker(name, client, **options).arerank(request)

        return await self.llm.arun(on), name

    async def aembed(
        self, texts: list[str], model: str | None, role: str, encoding: str, dims: int | None
    ) -> tuple[list[Any], Embedder, int]:
        """Embeddings as lists of floats or base64 strings (little-endian float32), the
        embedder, and the tokens it was fed (by its own tokenizer, so CJK counts right)."""
        embedder = self.embedder(model)
        if dims is not None and dims != embedder.dim:
            raise InvalidInputError(
                f"dimensions={dims} is not supported by {embedder.id!r}; its vectors have "
                f"{embedder.dim} dimensions"
            )
        kind: Role = "query" if role == "query" else "document"

        def work() -> tuple[np.ndarray, int]:
            vectors = embedder.embed(texts, kind)
            return vectors, sum(embedder.count_tokens(t, kind) for t in texts)

        vectors, tokens = await asyncio.to_thread(work)
        array = np.asarray(vectors, dtype="<f4")
        if encoding == "base64":
            encoded = [base64.b64encode(row.tobytes()).decode("ascii") for row in array]
            return encoded, embedder, tokens
        return array.tolist(), embedder, tokens

    async def aselect(
        self,
        pool: str | None,
        src: str,
        tgt: str,
        queries: list[str],
        method: str,
        k: int,
        caller: Caller = ANONYMOUS,
    ) -> Selection:
        """ICL examples and prompts through :func:`~xling.selectors.select_examples`, on the
        pool's stored vectors and embedder; a direction's pairs and selectors are kept until
        the pool changes."""
        target = self.pool(pool, caller)
        config = SelectionConfig(method=method, k=k, embedder=target.embedder.id)

        def work() -> Selection:
            key = (target.name, normalize_code(src), normalize_code(tgt))
            state = target.state()  # a pool another process added pairs to is read again
            if key not in self._aligned or self._aligned[key][0] != state:
                self._aligned[key] = (state, aligned_pool(target, src, tgt), {})
            _, aligned, cache = self._aligned[key]
            return select_examples(queries, aligned, config, embedder=target.embedder, cache=cache)

        return await asyncio.to_thread(work)

    async def aclose(self) -> None:
        """Closes the configured rerankers and the LLM clients."""
        await self.rerankers.aclose()
        await self.llm.aclose()
