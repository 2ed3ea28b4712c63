"""Multilingual embedders chosen by spec strings (``e5-small-q4``, ``e5-small-torch``, ...)."""

from xling.embedders.base import (
    DEFAULT_MAX_TOKENS,
    ON_LONG,
    Embedder,
    OnLong,
    Role,
    Task,
    l2_normalize,
    query_role,
)
from xling.embedders.cache import CachedEmbedder, EmbeddingCache, default_cache_dir
from xling.embedders.prefixes import PROMPT_SCHEMES, PromptScheme
from xling.embedders.registry import (
    DEFAULT_EMBEDDER,
    EmbedderSpec,
    available_embedders,
    get_embedder,
    parse_spec,
    register_embedder,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_MAX_TOKENS",
    "ON_LONG",
    "PROMPT_SCHEMES",
    "CachedEmbedder",
    "Embedder",
    "EmbedderSpec",
    "EmbeddingCache",
    "OnLong",
    "PromptScheme",
    "Role",
    "Task",
    "available_embedders",
    "default_cache_dir",
    "get_embedder",
    "l2_normalize",
    "parse_spec",
    "query_role",
    "register_embedder",
]
