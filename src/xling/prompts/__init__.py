"""Prompt templates (MT few-shot, reranking, RAG): pure text, no I/O.

The language names and codes live in :mod:`xling.core.languages`; they are re-exported here.
"""

from xling.core.languages import (
    Language,
    get_language,
    language_name,
    normalize_code,
    same_language,
    to_iso639_1,
)

__all__ = [
    "Language",
    "get_language",
    "language_name",
    "normalize_code",
    "same_language",
    "to_iso639_1",
]
