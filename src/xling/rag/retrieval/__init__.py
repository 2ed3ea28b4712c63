"""Retrieval over a pool's passages: one interface, methods chosen by name.

from xling.rag import Pool
from xling.rag.retrieval import get_retriever

pool = Pool.open("docs", path="pools")          # its recorded embedder
retriever = get_retriever("hybrid", pool)
results = retriever.retrieve(["Wer hat das iPhone vorgestellt?"], k=10, langs=["eng", "fra"])
"""

from xling.rag.retrieval.base import Filter, Retriever
from xling.rag.retrieval.bm25 import BM25Retriever
from xling.rag.retrieval.dense import DenseRetriever
from xling.rag.retrieval.hybrid import FUSIONS, HybridRetriever
from xling.rag.retrieval.margin import MarginRetriever
from xling.rag.retrieval.registry import (
    RETRIEVERS,
    available_retrievers,
    get_retriever,
    register_retriever,
)

__all__ = [
    "BM25Retriever",
    "DenseRetriever",
    "FUSIONS",
    "Filter",
    "HybridRetriever",
    "MarginRetriever",
    "RETRIEVERS",
    "Retriever",
    "available_retrievers",
    "get_retriever",
    "register_retriever",
]
