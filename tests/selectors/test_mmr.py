"""MMR: fewer near-duplicates than plain dense selection."""

from __future__ import annotations

from collections.abc import Callable

from tests.selectors.conftest import PoolMaker
from xling.core.records import AlignedPool
from xling.embedders import Embedder
from xling.selectors import DenseSelector, MMRSelector


def _twin(text: str) -> str:
    return text[:-1] + "!" if text.endswith(".") else text + "!"


def test_mmr_picks_fewer_near_duplicates(
    flores_pool: PoolMaker, flores: Callable[[str, str], list[str]], use_m3: Embedder
) -> None:
    base = flores_pool("eng", "fra", n=400)
    # Every pair twice: once as is, once with its final period turned into "!" (rows 400+).
    pool = AlignedPool(
        base.sources + [_twin(s) for s in base.sources],
        base.targets + [_twin(t) for t in base.targets],
        list(range(800)), "eng", "fra",
    )  # fmt: skip
    queries = flores("eng", "devtest")[:60]

    def twins(selection: list[list[int]]) -> int:
        return sum(sum(1 for r in rows if r < 400 and r + 400 in rows) for rows in selection)

    dense = DenseSelector(pool, use_m3).rank(queries, 6).indices.tolist()
    mmr = MMRSelector(pool, use_m3, lam=0.5).rank(queries, 6).indices.tolist()
    assert twins(dense) >= 2 * len(queries)  # plain similarity takes pairs of twins
    assert twins(mmr) <= twins(dense) // 4, (twins(mmr), twins(dense))
    # lambda = 1 is plain dense selection.
    same = MMRSelector(pool, use_m3, lam=1.0).rank(queries, 6).indices.tolist()
    assert same == dense
