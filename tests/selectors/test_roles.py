"""The e5 roles of symmetric tasks: example selection embeds queries and pool sentences alike.

Measured from the outside before roles were chosen per task (FLORES en->swh, pool = dev, 300
devtest queries, default embedder): the chrF++ of the nearest example's target against the
reference was 16.09 for s2s and 16.81 for margin against 16.15 for random, when queries took
e5's ``query: `` prefix and pool sources ``passage: ``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import sacrebleu

from xling.core.errors import InvalidInputError
from xling.core.records import AlignedPool
from xling.embedders import Embedder, query_role
from xling.selectors import (
    SELECTION_SYMMETRIC_ROLES,
    DenseSelector,
    SelectionConfig,
    get_selector,
)

TEXTS = ["The airport was closed after the storm.", "Uwanja wa ndege ulifungwa."]


def test_the_role_follows_the_task() -> None:
    assert query_role("asymmetric") == "query"
    with pytest.raises(InvalidInputError, match="task='similarity' is not allowed"):
        query_role("similarity")  # type: ignore[arg-type]


def test_selection_defaults_to_the_pairing_that_won_the_proxy(e5: Embedder) -> None:
    # query/query won the kNN-translation proxy (bench/symmetric_roles.py).
    assert SELECTION_SYMMETRIC_ROLES == "query"
    assert SelectionConfig().symmetric_roles is None
    pool = AlignedPool(TEXTS, TEXTS, [0, 1], "eng", "swh")
    selector = DenseSelector(pool, e5)
    assert selector.symmetric_roles == "query"
    assert (selector.query_role, selector.pool_role) == ("query", "query")
    np.testing.assert_array_equal(selector.embed_queries(TEXTS), e5.embed(TEXTS, "query"))
    np.testing.assert_array_equal(selector.keys(), e5.embed(TEXTS, "query"))


def test_each_pairing_embeds_queries_and_pool_in_its_roles(e5: Embedder) -> None:
    pool = AlignedPool(TEXTS, TEXTS, [0, 1], "eng", "swh")
    for pairing, (query, other) in {
        "document": ("document", "document"),
        "query": ("query", "query"),
        "query-document": ("query", "document"),
    }.items():
        selector = get_selector(pool, SelectionConfig(symmetric_roles=pairing), embedder=e5)
        assert isinstance(selector, DenseSelector)
        np.testing.assert_array_equal(selector.embed_queries(TEXTS), e5.embed(TEXTS, query))
        np.testing.assert_array_equal(selector.keys(), e5.embed(TEXTS, other))


def test_stored_passage_vectors_serve_only_passage_role_pools(e5: Embedder) -> None:
    # A Chroma pool's vectors are passages: reused by pairings whose pool side is a passage
    # (passage/passage by default, nothing embedded again), embedded again for query/query.
    stored = np.zeros((2, e5.dim), dtype=np.float32)
    stored[:, 0] = 1.0
    pool = AlignedPool(TEXTS, TEXTS, [0, 1], "eng", "swh", source_vectors=stored, embedder_id=e5.id)
    default = DenseSelector(pool)
    assert default.symmetric_roles == "document"
    np.testing.assert_array_equal(default.keys(), stored)
    assert DenseSelector(pool, "use-m3").symmetric_roles == "query"  # another embedder's vectors
    for pairing in ("document", "query-document"):
        np.testing.assert_array_equal(DenseSelector(pool, symmetric_roles=pairing).keys(), stored)
    again = DenseSelector(pool, symmetric_roles="query").keys()
    np.testing.assert_array_equal(again, e5.embed(TEXTS, "query"))


def test_a_bad_pairing_is_refused(e5: Embedder) -> None:
    pool = AlignedPool(TEXTS, TEXTS, [0, 1], "eng", "swh")
    allowed = "is not allowed; use one of: document, query, query-document"
    with pytest.raises(InvalidInputError, match=f"symmetric_roles='passage' {allowed}"):
        DenseSelector(pool, e5, symmetric_roles="passage")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=f"symmetric_roles='qq' {allowed}"):
        SelectionConfig(symmetric_roles="qq")  # type: ignore[arg-type]


@pytest.mark.slow
def test_default_embedder_selection_beats_random_on_flores_en_swh(
    flores: Callable[[str, str], list[str]], e5: Embedder
) -> None:
    pool = AlignedPool(flores("eng", "dev"), flores("swh", "dev"), list(range(997)), "eng", "swh")
    queries, refs = flores("eng", "devtest")[:300], flores("swh", "devtest")[:300]

    def proxy(strategy: str) -> float:
        # chrF++ of the nearest example's target (nearest-last order) against the reference.
        chosen = get_selector(pool, strategy, embedder=e5).select(queries, 1)
        hyps = [examples[-1].target for examples in chosen]
        return float(sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score)

    random, s2s, margin = proxy("random"), proxy("s2s"), proxy("margin")
    assert s2s >= random + 2.0, (s2s, random)
    assert margin >= random + 2.0, (margin, random)
