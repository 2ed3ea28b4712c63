"""xling inside LlamaIndex pipelines (extra ``llamaindex``).

from llama_index.core import VectorStoreIndex
from xling.integrations.llamaindex import XlingEmbedding, XlingRerank, XlingRetriever

retriever = XlingRetriever(pool="docs", method="hybrid", similarity_top_k=20)
rerank = XlingRerank(method="listwise", url="http://127.0.0.1:8011/v1", top_n=5)
index = VectorStoreIndex.from_vector_store(XlingVectorStore("docs"), embed_model=XlingEmbedding())
"""

from xling.core.imports import import_optional

import_optional("llama_index.core", "llamaindex", "the LlamaIndex integration")

from xling.integrations.llamaindex.embedding import XlingEmbedding  # noqa: E402
from xling.integrations.llamaindex.evaluator import LanguageCorrectnessEvaluator  # noqa: E402
from xling.integrations.llamaindex.prompts import few_shot_template  # noqa: E402
from xling.integrations.llamaindex.rerank import FALLBACK_KEY, XlingRerank  # noqa: E402
from xling.integrations.llamaindex.retriever import XlingRetriever, hit_node  # noqa: E402
from xling.integrations.llamaindex.vector_store import XlingVectorStore  # noqa: E402

__all__ = [
    "FALLBACK_KEY",
    "LanguageCorrectnessEvaluator",
    "XlingEmbedding",
    "XlingRerank",
    "XlingRetriever",
    "XlingVectorStore",
    "few_shot_template",
    "hit_node",
]
