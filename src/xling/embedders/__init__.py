"""Multilingual embedders chosen by spec strings (``e5-small-q4``, ``e5-small-torch``, ...)."""

from xling.embedders.base import (
    DEFAULT_MAX_TOKENS,
    ON_LONG,
    POOL_SYMMETRIC_ROLES,
    SYMMETRIC_ROLES,
    Embedder,
    OnLong,
    Role,
    SymmetricRoles,
    Task,
    l2_normalize,
    query_role,
    symmetric_role_pair,
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
    same_embedder,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_MAX_TOKENS",
    "ON_LONG",
    "POOL_SYMMETRIC_ROLES",
    "PROMPT_SCHEMES",
    "CachedEmbedder",
    "Embedder",
    "EmbedderSpec",
    "EmbeddingCache",
    "OnLong",
    "PromptScheme",
    "Role",
    "SYMMETRIC_ROLES",
    "SymmetricRoles",
    "Task",
    "available_embedders",
    "default_cache_dir",
    "get_embedder",
    "l2_normalize",
    "parse_spec",
    "query_role",
    "same_embedder",
    "register_embedder",
    "symmetric_role_pair",
]
