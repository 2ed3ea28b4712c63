"""The progress callback every long-running call takes as ``on_progress``."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""Called with ``(done, total)``: steps done so far and steps to do."""
