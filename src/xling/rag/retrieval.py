"""Deprecated: retrieval moved to :mod:`xling.retrieval` (this path goes in the next release)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    module = importlib.import_module("xling.retrieval")
    if name not in module.__all__:
        raise AttributeError(f"module 'xling.rag.retrieval' has no attribute {name!r}")
    warnings.warn(
        f"xling.rag.retrieval.{name} moved to xling.retrieval.{name}; the old path goes in the "
        "next release",
        DeprecationWarning,
        stacklevel=2,
    )
    value = getattr(module, name)
    globals()[name] = value  # warn once: later look-ups find the name without this function
    return value
