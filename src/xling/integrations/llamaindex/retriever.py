"""``XlingRetriever``: an xling pool and any xling retrieval method as a LlamaIndex retriever."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from xling.core.errors import InvalidInputError
from xling.core.records import Hit
from xling.core.validation import check_positive_int
from xling.integrations.llamaindex.embedding import XlingEmbedding
from xling.retrieval import Retriever, available_retrievers, get_retriever
from xling.store import open_pool

__all__ = ["XlingRetriever", "hit_node"]


# A chunk's bookkeeping: kept in the node's metadata, but not shown to the LLM or the embedder
# (the title, section, page, source and language are, for citations).
_HIDDEN_KEYS = ("doc_id", "doc_hash", "start", "end", "chunk")


def hit_node(hit: Hit) -> NodeWithScore:
    """A hit as a LlamaIndex node: its id, text, and metadata with ``lang``.

    A chunk of a document (its metadata has ``doc_id``) also carries the document relation:
    ``node.ref_doc_id`` is the ``doc_id`` (the source's hash is the document's content hash),
    and ``start_char_idx`` / ``end_char_idx`` are the chunk's offsets in the document's text.
    """
    metadata = {**hit.metadata, "lang": hit.lang}
    doc_id = hit.metadata.get("doc_id")
    if not isinstance(doc_id, str) or not doc_id:
        return NodeWithScore(node=TextNode(id_=hit.id, text=hit.text, metadata=metadata),
                             score=hit.score)  # fmt: skip
    doc_hash = hit.metadata.get("doc_hash")
    start, end = hit.metadata.get("start"), hit.metadata.get("end")
    hidden = [k for k in _HIDDEN_KEYS if k in metadata]
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata=metadata,
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(
                node_id=doc_id, hash=doc_hash if isinstance(doc_hash, str) else None
            )
        },
        start_char_idx=start if _offset(start) else None,
        end_char_idx=end if _offset(end) else None,
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
    )
    return NodeWithScore(node=node, score=hit.score)


def _offset(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class XlingRetriever(BaseRetriever):
    """Retrieval from an xling pool (dense, bm25, hybrid, margin) inside LlamaIndex.

    Args:
        pool: The pool name.
        method: ``dense``, ``bm25``, ``hybrid`` or ``margin``.
        similarity_top_k: Nodes per query.
        chroma_path: The embedded Chroma folder (default: xling's).
        chroma_url: A Chroma server or Cloud URL instead.
        embed_model: An :class:`XlingEmbedding` to embed queries with; ``None``: the embedder
            the pool records.
        langs: Only passages in these languages.
        exclude_langs: Never passages in these languages.
        where: A further Chroma metadata filter.
        query_lang: The queries' language, a hint for rerankers.
        task: ``asymmetric`` (questions) or ``symmetric`` (texts like the passages).
        options: The method's own options (``fusion``, ``neighbors``, ...).
        callback_manager: LlamaIndex's callback manager.

    Scores are the method's own: cosine similarity for ``dense``, BM25 scores, RRF scores, or
    margins. Nodes keep the pool's passage id, ``lang`` and metadata.
    """

    def __init__(
        self,
        pool: str,
        method: str = "dense",
        similarity_top_k: int = 10,
        *,
        chroma_path: str | os.PathLike[str] | None = None,
        chroma_url: str | None = None,
        embed_model: XlingEmbedding | None = None,
        langs: Sequence[str] | None = None,
        exclude_langs: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        query_lang: str | None = None,
        task: str = "asymmetric",
        options: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        if method not in available_retrievers():
            raise InvalidInputError(
                f"method={method!r} is not allowed; use one of: {', '.join(available_retrievers())}"
            )
        self.similarity_top_k = check_positive_int(similarity_top_k, "similarity_top_k")
        if embed_model is not None and not isinstance(embed_model, XlingEmbedding):
            raise InvalidInputError(
                f"embed_model must be an XlingEmbedding (xling embeds its own pools), got "
                f"{type(embed_model).__name__}"
            )
        embedder = embed_model.embedder if embed_model is not None else None
        target = open_pool(pool, embedder, path=chroma_path, url=chroma_url)
        self._retriever: Retriever = get_retriever(method, target, task=task, **dict(options or {}))
        self.method = method
        self._filters: dict[str, Any] = {
            "langs": langs, "exclude_langs": exclude_langs, "where": where,
            "query_lang": query_lang,
        }  # fmt: skip
        super().__init__(callback_manager=callback_manager)

    @classmethod
    def class_name(cls) -> str:
        """The LlamaIndex class name."""
        return "XlingRetriever"

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        (result,) = self._retriever.retrieve(
            [query_bundle.query_str], self.similarity_top_k, **self._filters
        )
        return [hit_node(h) for h in result.hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        (result,) = await self._retriever.aretrieve(
            [query_bundle.query_str], self.similarity_top_k, **self._filters
        )
        return [hit_node(h) for h in result.hits]
