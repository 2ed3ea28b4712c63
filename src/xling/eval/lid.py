"""Deprecated: language identification moved to :mod:`xling.lid` (this path goes in the next
release)."""

from __future__ import annotations

from xling.core.imports import lazy_attributes

__all__: list[str] = []

__getattr__ = lazy_attributes(globals(), "xling.lid", deprecated=True)
