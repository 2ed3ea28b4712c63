"""The selector interface: registry, bad input, order, determinism and the leakage guard."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.selectors.conftest import PoolMaker
from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.records import AlignedPool
from xling.embedders import Embedder
from xling.selectors import (
    SELECTORS,
    SelectionConfig,
    aligned_pool,
    available_selectors,
    get_selector,
    select_examples,
)
from xling.store import Pool, aligned_records

ALL = ["random", "bm25", "r-bm25", "s2s", "s2t", "mix", "mmr", "margin", "borda", "rrf"]


def test_every_strategy_is_registered() -> None:
    assert available_selectors() == ALL == list(SELECTORS)


def test_bad_input_is_refused_with_the_allowed_values(flores_pool: PoolMaker) -> None:
    pool = flores_pool(n=20)
    unknown = "unknown selection method 'knn'; allowed: random, bm25, r-bm25, s2s"
    with pytest.raises(UnknownSpecError, match=unknown):
        get_selector(pool, "knn")
    selector = get_selector(pool, "bm25")
    with pytest.raises(InvalidInputError, match="k=0 is not allowed; use an integer from 1 to 20"):
        selector.select(["A query."], 0)
    with pytest.raises(InvalidInputError, match="k=21 is larger than allowed; use at most 20"):
        selector.select(["A query."], 21)
    with pytest.raises(InvalidInputError, match="the pool is empty"):
        get_selector(AlignedPool([], [], [], "eng", "fra"), "bm25")
    with pytest.raises(InvalidInputError, match="misaligned: 2 sources, 1 targets"):
        AlignedPool(["a", "b"], ["x"], [0, 1], "eng", "fra")
    with pytest.raises(InvalidInputError, match=r"queries\[1\]"):
        selector.select(["fine", ""], 2)
    bad_order = "order='middle' is not allowed; use one of: nearest-last, nearest-first"
    with pytest.raises(InvalidInputError, match=bad_order):
        SelectionConfig(order="middle")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="alpha=1.5"):
        SelectionConfig(alpha=1.5)
    assert selector.select([], 3) == []


@pytest.mark.parametrize("strategy", ALL)
def test_every_strategy_gives_k_distinct_examples_deterministically(
    strategy: str, flores_pool: PoolMaker, flores: Callable[[str, str], list[str]], use_m3: Embedder
) -> None:
    pool = flores_pool("eng", "fra", n=300)
    queries = flores("eng", "devtest")[:40]
    selector = get_selector(pool, SelectionConfig(method=strategy), embedder=use_m3)
    first = selector.select(queries, 5)
    again = get_selector(pool, SelectionConfig(method=strategy), embedder=use_m3).select(queries, 5)
    assert first == again
    for examples in first:
        rows = [e.row for e in examples]
        assert len(rows) == 5 == len(set(rows)) and all(0 <= r < 300 for r in rows)
        assert all(pool.sources[e.row] == e.source for e in examples)
        assert all(pool.targets[e.row] == e.target for e in examples)
        # nearest-last: rank 1 (the best) sits next to the query.
        assert [e.rank for e in examples] == [5, 4, 3, 2, 1]


def test_order_option_reverses_the_prompt_order(flores_pool: PoolMaker) -> None:
    pool = flores_pool(n=200)
    query = ["The president of the United States met the Prime Minister."]
    last = get_selector(pool, SelectionConfig(method="bm25")).select(query, 4)[0]
    first = get_selector(pool, SelectionConfig(method="bm25", order="nearest-first")).select(
        query, 4
    )[0]
    assert first == last[::-1]
    assert first[0].rank == 1 and first[0].score == max(e.score for e in first)


def test_random_is_seeded(flores_pool: PoolMaker) -> None:
    pool = flores_pool(n=500)
    queries = ["One.", "Two.", "Three."]
    a = get_selector(pool, SelectionConfig(method="random", seed=13)).select(queries, 10)
    b = get_selector(pool, SelectionConfig(method="random", seed=13)).select(queries, 10)
    c = get_selector(pool, SelectionConfig(method="random", seed=42)).select(queries, 10)
    assert a == b and a != c
    # Draws differ between queries and spread over the pool.
    rows = {e.row for examples in a for e in examples}
    assert len(rows) > 25 and max(rows) > 250


@pytest.mark.parametrize("strategy", ALL)
def test_leakage_guard_drops_the_query_itself(
    strategy: str, flores_pool: PoolMaker, use_m3: Embedder
) -> None:
    pool = flores_pool("eng", "fra", n=200)
    picked = [5, 50, 150]
    # The same sentences as in the pool, one with other case and spacing.
    queries = [pool.sources[5], pool.sources[50], "  " + pool.sources[150].upper() + " "]
    guarded = get_selector(pool, SelectionConfig(method=strategy), embedder=use_m3)
    for row, examples in zip(picked, guarded.select(queries, 5), strict=True):
        assert row not in [e.row for e in examples]
    if strategy in {"bm25", "s2s", "r-bm25", "borda", "rrf"}:
        # Without the guard, these strategies pick the query's own pair first: the guard matters.
        open_ = get_selector(
            pool, SelectionConfig(method=strategy, leakage_guard=False), embedder=use_m3
        )
        tops = [examples[-1].row for examples in open_.select(queries[:2], 5)]
        assert tops == picked[:2]


def test_select_examples_filters_then_selects(flores_pool: PoolMaker) -> None:
    pool = flores_pool("eng", "swh", n=100)
    noisy = AlignedPool(
        pool.sources + [pool.sources[3], "Good morning."],
        pool.targets + [pool.targets[3], "Доброе утро."],
        list(range(102)), "eng", "swh",
    )  # fmt: skip
    config = SelectionConfig(method="bm25", k=3, filters=("duplicates", "language"))
    result = select_examples(["Good morning to you all."], noisy, config)
    assert result.filtered == {"duplicates": 1, "language": 1}
    assert result.pool_size == 100
    assert all(e.row < 100 for e in result.examples[0])


def test_chroma_pool_selection_equals_in_memory(
    flores_pool: PoolMaker,
    flores: Callable[[str, str], list[str]],
    use_m3: Embedder,
    tmp_path: object,
) -> None:
    memory = flores_pool("eng", "fra", n=120)
    chroma = Pool.open("sel-eng-fra", use_m3, path=str(tmp_path))
    chroma.index(aligned_records(memory.sources, memory.targets, "eng", "fra", source="dev"))
    aligned = aligned_pool(chroma, "eng", "fra")
    assert aligned.rows == list(range(120)) and aligned.source_vectors is not None
    queries = flores("eng", "devtest")[:20]
    for strategy in ("s2s", "margin", "bm25"):
        config = SelectionConfig(method=strategy)
        from_chroma = get_selector(aligned, config, embedder=use_m3)
        from_memory = get_selector(memory, config, embedder=use_m3)
        a, b = from_chroma.select(queries, 4), from_memory.select(queries, 4)
        assert [[e.row for e in x] for x in a] == [[e.row for e in x] for x in b]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose([e.score for e in x], [e.score for e in y], atol=1e-5)
