"""Retrieval: embedders, Chroma pools, loaders (later BM25, hybrid retrieval, RAG pipeline)."""

from xling.rag.chroma_client import connect, default_chroma_path
from xling.rag.embedders import DEFAULT_EMBEDDER, Embedder, EmbeddingCache, get_embedder
from xling.rag.pools import AlignedPool, Hit, IndexReport, Pool
from xling.rag.records import (
    Record,
    aligned_records,
    load_aligned,
    load_jsonl,
    load_lines,
    load_tsv,
    read_lines,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "AlignedPool",
    "Embedder",
    "EmbeddingCache",
    "Hit",
    "IndexReport",
    "Pool",
    "Record",
    "aligned_records",
    "connect",
    "default_chroma_path",
    "get_embedder",
    "load_aligned",
    "load_jsonl",
    "load_lines",
    "load_tsv",
    "read_lines",
]
