"""Retrieval methods by name: ``get_retriever("hybrid", pool, fusion="rrf")``."""

from __future__ import annotations

from typing import Any

from xling.core.errors import UnknownSpecError
from xling.core.registry import Registry
from xling.retrieval.base import Retriever
from xling.retrieval.bm25 import BM25Retriever
from xling.retrieval.dense import DenseRetriever
from xling.retrieval.hybrid import HybridRetriever
from xling.retrieval.margin import MarginRetriever
from xling.store.pool import Pool

__all__ = ["RETRIEVERS", "available_retrievers", "get_retriever", "register_retriever"]

RETRIEVERS: Registry[type[Retriever]] = Registry(
    "retrieval method",
    {
        "dense": DenseRetriever,
        "bm25": BM25Retriever,
        "hybrid": HybridRetriever,
        "margin": MarginRetriever,
    },
)


def available_retrievers() -> list[str]:
    """The registered method names."""
    return RETRIEVERS.names()


def register_retriever(name: str, cls: type[Retriever], *, replace: bool = False) -> None:
    """Adds a method under a new name (a name in use is refused unless ``replace``)."""
    RETRIEVERS.register(name, cls, replace=replace)


def get_retriever(method: str, pool: Pool, **options: Any) -> Retriever:
    """The retriever of a registered method over a pool.

    Args:
        method: ``dense``, ``bm25``, ``hybrid`` or ``margin`` (or a registered name).
        pool: The pool.
        **options: The method's own options (``task``, ``fusion``, ``neighbors``, ...).

    Raises:
        UnknownSpecError: On an unknown method, listing the known ones.
        InvalidInputError: On an option the method does not take or a bad value.
    """
    cls = RETRIEVERS.get(method)
    try:
        return cls(pool, **options)
    except TypeError as exc:
        raise UnknownSpecError(f"retrieval method {method!r}: {exc}") from None
