"""Retrieval over a pool's passages: one interface, methods chosen by name.

from xling.store import Pool
from xling.retrieval import get_retriever

pool = Pool.open("docs", path="pools")          # its recorded embedder
retriever = get_retriever("hybrid", pool)
results = retriever.retrieve(["Wer hat das iPhone vorgestellt?"], k=10, langs=["eng", "fra"])

# Language recipes over any method: user | pivot | all | balanced, with query translation.
balanced = RecipeRetriever(retriever, "balanced")
(found,) = balanced.retrieve(["Wer hat das iPhone vorgestellt?"], k=10, query_lang="deu")
"""

from xling.retrieval.base import Filter, Retriever
from xling.retrieval.bm25 import BM25Retriever
from xling.retrieval.dense import DenseRetriever
from xling.retrieval.hybrid import FUSIONS, HybridRetriever
from xling.retrieval.margin import MarginRetriever
from xling.retrieval.query_translation import (
    CachedTranslator,
    LLMTranslator,
    TranslationCache,
    Translator,
)
from xling.retrieval.recipes import RECIPES, Recipe, RecipeHits, RecipeRetriever
from xling.retrieval.registry import (
    RETRIEVERS,
    available_retrievers,
    get_retriever,
    register_retriever,
)

__all__ = [
    "BM25Retriever",
    "CachedTranslator",
    "DenseRetriever",
    "FUSIONS",
    "Filter",
    "HybridRetriever",
    "LLMTranslator",
    "MarginRetriever",
    "RECIPES",
    "RETRIEVERS",
    "Recipe",
    "RecipeHits",
    "RecipeRetriever",
    "Retriever",
    "TranslationCache",
    "Translator",
    "available_retrievers",
    "get_retriever",
    "register_retriever",
]
