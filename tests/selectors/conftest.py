"""Aligned FLORES pools for the selector tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xling.core.records import AlignedPool

PoolMaker = Callable[..., AlignedPool]


@pytest.fixture(scope="session")
def flores_pool(flores: Callable[[str, str], list[str]]) -> PoolMaker:
    """``flores_pool("eng", "fra", n=None)``: FLORES dev as an in-memory pool (rows = lines)."""

    def make(src: str = "eng", tgt: str = "fra", n: int | None = None) -> AlignedPool:
        sources, targets = flores(src, "dev")[:n], flores(tgt, "dev")[:n]
        return AlignedPool(sources, targets, list(range(len(sources))), src, tgt)

    return make
