"""xling: cross-lingual retrieval-augmented LLMs.

Multilingual embedders index pools of passages in Chroma; retrievers find candidates for a
question in any language; selectors pick in-context translation examples; LLM rerankers served by
vLLM reorder candidates; the answer pipeline answers in the asker's language and checks it; the
eval module scores MT and RAG output.

The entry points a user starts from are importable from here::

    from xling import LLMClient, Pool, build_answer_pipeline, get_reranker, get_retriever

    pool = Pool.open("docs", path="pools")
    hits = get_retriever("hybrid", pool).retrieve(["Wer hat das iPhone vorgestellt?"], k=10)

They load on first use, so ``import xling`` stays cheap (the CLI starts without Chroma or torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xling.core.errors import XlingError
from xling.core.imports import lazy_attributes

if TYPE_CHECKING:
    from xling.core.records import AlignedPool, Example, Hit, QueryHits
    from xling.documents import Document
    from xling.embedders import get_embedder
    from xling.llm import LLMClient
    from xling.rag.pipeline import AnswerConfig, AnswerPipeline, build_answer_pipeline
    from xling.rerankers import get_reranker
    from xling.retrieval import get_retriever
    from xling.selectors import SelectionConfig, aligned_pool, get_selector, select_examples
    from xling.store import Pool, Record, load_aligned, load_jsonl, load_lines, open_pool

__all__ = [
    "AlignedPool",
    "AnswerConfig",
    "AnswerPipeline",
    "Document",
    "Example",
    "Hit",
    "LLMClient",
    "Pool",
    "QueryHits",
    "Record",
    "SelectionConfig",
    "XlingError",
    "__version__",
    "aligned_pool",
    "build_answer_pipeline",
    "get_embedder",
    "get_reranker",
    "get_retriever",
    "get_selector",
    "load_aligned",
    "load_jsonl",
    "load_lines",
    "open_pool",
    "select_examples",
]

__version__ = "0.2.0"

_HOME = {
    "AlignedPool": "xling.core.records",
    "Example": "xling.core.records",
    "Hit": "xling.core.records",
    "QueryHits": "xling.core.records",
    "Document": "xling.documents",
    "get_embedder": "xling.embedders",
    "LLMClient": "xling.llm",
    "AnswerConfig": "xling.rag.pipeline",
    "AnswerPipeline": "xling.rag.pipeline",
    "build_answer_pipeline": "xling.rag.pipeline",
    "get_reranker": "xling.rerankers",
    "get_retriever": "xling.retrieval",
    "SelectionConfig": "xling.selectors",
    "get_selector": "xling.selectors",
    "aligned_pool": "xling.selectors",
    "select_examples": "xling.selectors",
    "Pool": "xling.store",
    "Record": "xling.store",
    "load_aligned": "xling.store",
    "load_jsonl": "xling.store",
    "load_lines": "xling.store",
    "open_pool": "xling.store",
}


__getattr__ = lazy_attributes(globals(), _HOME)


def __dir__() -> list[str]:
    return sorted(__all__)
