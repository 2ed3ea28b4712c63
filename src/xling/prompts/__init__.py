"""Prompt templates (MT few-shot, reranking, RAG) and language names/codes."""

from xling.prompts.languages import (
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
