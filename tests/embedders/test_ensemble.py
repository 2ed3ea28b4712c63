"""The ``ensemble:`` embedder spec: parsing, weights per language, and the vectors it gives."""

from __future__ import annotations

import numpy as np
import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.embedders import EmbeddingCache, available_embedders, get_embedder, parse_spec
from xling.embedders.ensemble import EnsembleEmbedder, parse_members

SPEC = "ensemble:e5-small-q4=0.7,use-m3=0.3"


def test_spec_is_a_registered_family() -> None:
    assert "ensemble:<arg>" in available_embedders()
    parsed = parse_spec(SPEC)
    assert (parsed.kind, parsed.arg) == ("ensemble", "e5-small-q4=0.7,use-m3=0.3")
    # Weights are normalised to sum to 1, members kept in order.
    assert parse_members("e5-small-q4=7, use-m3=3") == [("e5-small-q4", 0.7), ("use-m3", 0.3)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ensemble:e5-small-q4,use-m3=0.3", "member 'e5-small-q4' must be spec=weight"),
        ("ensemble:=0.5,use-m3=0.5", "member '=0.5' must be spec=weight"),
        ("ensemble:e5-small-q4=0.7", "has 1 member; give at least two"),
        ("ensemble:e5-small-q4=abc,use-m3=0.3", "'e5-small-q4' has weight 'abc'; use a positive"),
        ("ensemble:e5-small-q4=0,use-m3=0.3", "'e5-small-q4' has weight '0'; use a positive"),
        ("ensemble:e5-small-q4=-1,use-m3=0.3", "has weight '-1'"),
        ("ensemble:e5-small-q4=nan,use-m3=0.3", "has weight 'nan'"),
        ("ensemble:e5-small-q4=0.5,e5-small-q4=0.5", "'e5-small-q4' is named twice"),
        ("ensemble:ensemble:e5-small-q4=0.5,use-m3=0.5", "is an ensemble; list its members"),
        (SPEC + "?dim=3", "does not take option\\(s\\) dim"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_embedder(spec, cache=False)


def test_unknown_member_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSpecError, match="unknown embedder spec 'e6'; allowed: e5-small-q4"):
        get_embedder("ensemble:e6=0.5,use-m3=0.5", cache=False)


def test_weights_go_to_the_covering_members() -> None:
    embedder = get_embedder(SPEC, cache=False)
    assert isinstance(embedder, EnsembleEmbedder)
    assert embedder.id == SPEC and embedder.dim == 384 + 512
    # USE covers English, not Swahili; an undetermined text keeps the spec's weights.
    weights = embedder.weights(["eng", "swh", "und", "jpn"])
    np.testing.assert_allclose(weights, [[0.7, 0.3], [1.0, 0.0], [0.7, 0.3], [0.7, 0.3]])


def test_cosine_is_the_weighted_sum_of_the_members_cosines(
    embedding_cache: EmbeddingCache,
) -> None:
    embedder = get_embedder(SPEC, cache=embedding_cache)
    e5 = get_embedder("e5-small-q4", cache=embedding_cache)
    use = get_embedder("use-m3", cache=embedding_cache)
    english = ["The museum opens at nine in the morning.", "The station closes at midnight."]
    swahili = "Makumbusho yanafunguliwa saa tatu asubuhi."
    vectors = embedder.embed_documents([*english, swahili])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    a, b = e5.embed_documents(english), use.embed_documents(english)
    expected = 0.7 * float(a[0] @ a[1]) + 0.3 * float(b[0] @ b[1])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(expected, abs=1e-5)
    # The Swahili text is e5 alone (USE's part zero), so against English its cosine is
    # sqrt(0.7) times e5's.
    s = e5.embed_documents([swahili])[0]
    np.testing.assert_allclose(vectors[2, :384], s, atol=1e-5)
    np.testing.assert_array_equal(vectors[2, 384:], np.zeros(512))
    assert float(vectors[0] @ vectors[2]) == pytest.approx(np.sqrt(0.7) * float(a[0] @ s), abs=1e-5)
    # The query role reaches e5's query prefix.
    q = embedder.embed_queries(["When does the museum open?"], task="asymmetric")[0]
    eq = e5.embed_queries(["When does the museum open?"], task="asymmetric")[0]
    np.testing.assert_allclose(q[:384], np.sqrt(0.7) * eq, atol=1e-5)
