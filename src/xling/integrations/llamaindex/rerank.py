"""``XlingRerank``: any xling LLM reranker as a LlamaIndex node postprocessor."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from xling.core.errors import InvalidInputError
from xling.core.records import Hit
from xling.llm import LLMClient
from xling.llm.client import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from xling.rerankers import (
    Reranker,
    RerankRequest,
    RerankResult,
    check_reranker_spec,
    get_reranker,
    reranker_forms,
)

__all__ = ["XlingRerank", "FALLBACK_KEY"]

dispatcher = get_dispatcher(__name__)
FALLBACK_KEY = "xling_rerank_fallback"
"""Node metadata key set to ``True`` when the server failed and the first-stage order was kept."""


class XlingRerank(BaseNodePostprocessor):
    """An xling reranker by spec (listwise, FIRST, top-down, PRP, pointwise, a cascade) as a
    LlamaIndex node postprocessor; LLM rerankers prompt any OpenAI-compatible URL.

    Beats LlamaIndex's own LLM rerankers where they fail: sliding windows over any depth,
    passages cut by the model's tokens (not whitespace words, which leaves Chinese and Thai
    uncut), malformed answers repaired, a truly async path (many queries in flight share the
    client's bound), each node's score the reranker's calibrated probability that it is relevant
    (:mod:`xling.rerankers.calibration`; ``>= 0.5``: more likely relevant than not, from the
    nodes' cosine scores and new ranks; ``options={"first_stage": "rank"}`` for nodes whose
    scores are not cosines) rather than the retrieval score, and a server failure
    that keeps the first-stage order and says so in each node's metadata
    (``xling_rerank_fallback``).
    """

    method: str = Field(
        default="listwise",
        description="The xling reranker spec: " + ", ".join(reranker_forms()),
    )
    url: str = Field(
        default="http://127.0.0.1:8011/v1",
        description="OpenAI-compatible LLM server URL (used only by rerankers that prompt an LLM).",
    )
    model: str | None = Field(default=None, description="Model name (default: the server's).")
    top_n: int = Field(default=5, description="Nodes returned, best first.")
    max_concurrency: int = Field(
        default=DEFAULT_CONCURRENCY, description="Most LLM requests in flight (all queries)."
    )
    timeout: float = Field(
        default=DEFAULT_TIMEOUT,
        description="Seconds per LLM request attempt (raise it when many queries share a slow "
        "server: queued requests count).",
    )
    deadline: float | None = Field(
        default=None,
        description="Seconds per LLM request, retries included (default: 3 × timeout).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The reranker's own options (window, stride, template, on_failure, ...).",
    )
    _client: LLMClient = PrivateAttr()
    _reranker: Reranker = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_reranker_spec(self.method, "method")
        if isinstance(self.top_n, bool) or not isinstance(self.top_n, int) or self.top_n < 1:
            raise InvalidInputError(f"top_n={self.top_n!r} is not allowed; use an integer >= 1")
        self._client = LLMClient(
            self.url, self.model, max_concurrency=self.max_concurrency, timeout=self.timeout,
            deadline=self.deadline,
        )  # fmt: skip
        # Any spec get_reranker builds (a cascade, a cross-encoder); one without an LLM stage
        # ignores the client, which connects only when used.
        self._reranker = get_reranker(self.method, self._client, **self.options)

    @classmethod
    def class_name(cls) -> str:
        """The LlamaIndex class name."""
        return "XlingRerank"

    def _request(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> RerankRequest:
        if query_bundle is None:
            raise InvalidInputError("XlingRerank needs the query (a QueryBundle) to rerank nodes")
        hits = []
        for node in nodes:
            text = node.node.get_content(metadata_mode=MetadataMode.NONE)
            if not text or not text.strip():
                raise InvalidInputError(
                    f"node {node.node.node_id!r} has no text to rerank; give nodes with text"
                )
            lang = node.node.metadata.get("lang")
            hits.append(
                Hit(node.node.node_id, text, node.score, lang if isinstance(lang, str) else None)
            )
        return RerankRequest(query_bundle.query_str, tuple(hits))

    def _nodes(self, nodes: list[NodeWithScore], result: RerankResult) -> list[NodeWithScore]:
        by_id = {n.node.node_id: n for n in nodes}
        out = []
        for ranked in result.candidates[: self.top_n]:
            node = by_id[ranked.id].node
            if result.fallback:
                node = node.model_copy(update={"metadata": {**node.metadata, FALLBACK_KEY: True}})
            out.append(NodeWithScore(node=node, score=ranked.relevance))
        return out

    def _begin(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> RerankRequest | None:
        """Announces the rerank; the request, or ``None`` when there is nothing to rerank."""
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=self.method
            )
        )
        if not nodes:
            dispatcher.event(ReRankEndEvent(nodes=[]))
            return None
        return self._request(nodes, query_bundle)

    def _end(self, nodes: list[NodeWithScore], result: RerankResult) -> list[NodeWithScore]:
        out = self._nodes(nodes, result)
        dispatcher.event(ReRankEndEvent(nodes=out))
        return out

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._begin(nodes, query_bundle)
        return [] if request is None else self._end(nodes, self._reranker.rerank(request))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._begin(nodes, query_bundle)
        return [] if request is None else self._end(nodes, await self._reranker.arerank(request))
