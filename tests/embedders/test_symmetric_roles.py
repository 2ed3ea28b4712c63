"""The roles of the two sides of a symmetric task: the pairings, e5's prefixes, the pool default."""

from __future__ import annotations

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.embedders import (
    POOL_SYMMETRIC_ROLES,
    SYMMETRIC_ROLES,
    Embedder,
    query_role,
    symmetric_role_pair,
)

BAD = "symmetric_roles='passage' is not allowed; use one of: document, query, query-document"


def test_each_role_puts_e5s_prefix_before_the_text(e5: Embedder) -> None:
    assert e5.prompted("x", "query") == "query: x"
    assert e5.prompted("x", "document") == "passage: x"


def test_each_pairing_names_the_roles_of_both_sides(e5: Embedder) -> None:
    assert SYMMETRIC_ROLES == ("document", "query", "query-document")
    assert symmetric_role_pair("document") == ("document", "document")
    assert symmetric_role_pair("query") == ("query", "query")
    assert symmetric_role_pair("query-document") == ("query", "document")
    # What e5 reads on the query side and on the candidate side of each pairing.
    read = {p: [e5.prompted("x", role) for role in symmetric_role_pair(p)] for p in SYMMETRIC_ROLES}
    assert read == {
        "document": ["passage: x", "passage: x"],
        "query": ["query: x", "query: x"],
        "query-document": ["query: x", "passage: x"],
    }


def test_searches_over_pools_default_to_query_against_passage() -> None:
    # Pool vectors are passages; of the two pairings open to them, query/passage won on
    # Tatoeba (bench/symmetric_roles.py).
    assert POOL_SYMMETRIC_ROLES == "query-document"
    assert query_role("symmetric") == "query"
    assert query_role("symmetric", "document") == "document"
    assert query_role("symmetric", "query") == "query"
    assert query_role("asymmetric", "document") == "query"  # questions are always queries


def test_symmetric_queries_are_embedded_in_the_pairings_query_role(e5: Embedder) -> None:
    texts = ["The airport was closed after the storm.", "Uwanja wa ndege ulifungwa."]
    as_query, as_document = e5.embed(texts, "query"), e5.embed(texts, "document")
    assert not np.allclose(as_query, as_document)
    np.testing.assert_array_equal(e5.embed_queries(texts, task="symmetric"), as_query)
    np.testing.assert_array_equal(
        e5.embed_queries(texts, task="symmetric", symmetric_roles="document"), as_document
    )
    np.testing.assert_array_equal(
        e5.embed_queries(texts, task="symmetric", symmetric_roles="query"), as_query
    )


def test_a_bad_pairing_is_refused_with_the_allowed_ones(e5: Embedder) -> None:
    with pytest.raises(InvalidInputError) as info:
        symmetric_role_pair("passage")  # type: ignore[arg-type]
    assert str(info.value) == BAD
    with pytest.raises(InvalidInputError, match=BAD):
        query_role("symmetric", "passage")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=BAD):
        e5.embed_queries(["x"], task="asymmetric", symmetric_roles="passage")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="role='passage' is not allowed"):
        e5.prompted("x", "passage")  # type: ignore[arg-type]
