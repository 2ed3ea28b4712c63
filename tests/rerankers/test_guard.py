"""The weak-judge guard: weighted RRF of the reranker's order with the first-stage order.

Every fused order below is worked out by hand from
``fused(p) = w / (k + rank_reranker(p)) + (1 - w) / (k + p + 1)`` (1-based reranker rank,
``p`` the 0-based first-stage position), ties to the reranker's order.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from tests.rerankers.test_scripted_orders import TEXTS, judged, request
from xling.core.errors import InvalidInputError
from xling.llm import LLMClient
from xling.rerankers import get_reranker
from xling.rerankers.guard import DEFAULT_GUARD, check_guard, fuse_orders

REVERSED = [4, 3, 2, 1, 0]


# -- the fusion by hand ---------------------------------------------------------------------------
def test_equal_weights_on_a_reversed_order_tie_the_ends_and_sink_the_middle() -> None:
    # k=60, w=0.5: fused(p) = 0.5 (1/(65-p) + 1/(61+p)); a sum 126 split evenly is smallest:
    # p=2 (2/63) last; p=0 and p=4 tie (1/65+1/61), as p=1 and p=3 (1/64+1/62): the
    # reranker's order breaks the ties, 4 before 0 and 3 before 1.
    assert fuse_orders(REVERSED, 0.5) == [4, 0, 3, 1, 2]


def test_a_weight_under_a_half_keeps_the_first_stage_order_of_a_reversed_judge() -> None:
    # w=0.3: p=0 0.3/65+0.7/61 = .016091, p=1 .015978, p=2 1/63 = .015873, p=3 .015776,
    # p=4 0.3/61+0.7/65 = .015687.
    assert fuse_orders(REVERSED, 0.3) == [0, 1, 2, 3, 4]
    # w=0.7 mirrors it: the reranker's order.
    assert fuse_orders(REVERSED, 0.7) == REVERSED


def test_weight_one_is_the_reranker_order() -> None:
    assert fuse_orders([3, 1, 0, 2], 1.0) == [3, 1, 0, 2]
    assert fuse_orders([3, 1, 0, 2], 1.0, k=0) == [3, 1, 0, 2]


def test_the_rank_offset_decides_between_one_strong_and_two_fair_ranks() -> None:
    order = [3, 1, 0, 2]  # ranks: 3 first, 1 second, 0 third, 2 fourth
    # k=60, w=0.5 (×2): p0 1/63+1/61 = .032266, p1 2/62 = .032258, p3 1/61+1/64 = .032018,
    # p2 1/64+1/63 = .031498: two fair ranks (1) beat one first place (3).
    assert fuse_orders(order, 0.5) == [0, 1, 3, 2]
    # k=0, w=0.5: p0 .5/3+.5/1 = .667, p3 .5/1+.5/4 = .625, p1 .5/2+.5/2 = .5,
    # p2 .5/4+.5/3 = .292: a small offset rewards the reranker's first place.
    assert fuse_orders(order, 0.5, k=0) == [0, 3, 1, 2]
    # k=60, w=0.3: p0 .3/63+.7/61 = .016237, p1 1/62 = .016129, p3 .3/61+.7/64 = .015856,
    # p2 .3/64+.7/63 = .015799.
    assert fuse_orders(order, 0.3) == [0, 1, 3, 2]
    # k=60, w=0.8: p3 .8/61+.2/64 = .016240, p1 1/62 = .016129, p0 .8/63+.2/61 = .015977,
    # p2 .8/64+.2/63 = .015675: the reranker's order.
    assert fuse_orders(order, 0.8) == [3, 1, 0, 2]


def test_the_first_stage_order_is_a_fixed_point() -> None:
    for weight in (0.1, 0.5, 1.0):
        assert fuse_orders([0, 1, 2, 3], weight) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"guard": 0}, "guard=0"),
        ({"guard": 1.5}, "guard=1.5"),
        ({"guard": -0.1}, "guard=-0.1"),
        ({"guard": True}, "guard=True"),
        ({"guard": "0.5"}, "guard='0.5'"),
        ({"guard": float("nan")}, "guard=nan"),
        ({"guard": 0.5, "guard_k": -1}, "guard_k=-1"),
        ({"guard": 0.5, "guard_k": 1.5}, "guard_k=1.5"),
        ({"guard": 0.5, "guard_k": True}, "guard_k=True"),
    ],
)
def test_bad_guard_values_are_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{named.replace('.', '[.]')} is not allowed"):
        check_guard(options["guard"], options.get("guard_k", 60))
    client = LLMClient("http://127.0.0.1:9/v1", "unused")
    with pytest.raises(InvalidInputError, match=named.replace(".", "[.]")):
        get_reranker("listwise", client, **options)
    with pytest.raises(InvalidInputError, match=named.replace(".", "[.]")):
        fuse_orders([0, 1], options["guard"], options.get("guard_k", 60))


def test_the_default_weight_is_a_valid_guard() -> None:
    check_guard(DEFAULT_GUARD, 60)


# -- through a reranker: a judge that reverses a good first stage ---------------------------------
async def test_the_guard_pulls_a_reversing_judge_towards_the_first_stage(
    stand_in: StandIn, client: LLMClient
) -> None:
    # The first stage c0..c4 is right; the judge's truth is its reverse, so FIRST's one window
    # answers c4 c3 c2 c1 c0 (positions 4 3 2 1 0).
    judged(stand_in, truth=["c4", "c3", "c2", "c1", "c0"])
    unguarded = await get_reranker("first", client, window=5).arerank(request())
    assert unguarded.ids == ["c4", "c3", "c2", "c1", "c0"] and unguarded.guard is None
    guarded = await get_reranker("first", client, window=5, guard=0.5).arerank(request())
    # As the hand-worked [4, 0, 3, 1, 2] above.
    assert guarded.ids == ["c4", "c0", "c3", "c1", "c2"]
    assert [c.first_stage_rank for c in guarded.candidates] == [4, 0, 3, 1, 2]
    assert guarded.guard == 0.5 and guarded.to_dict()["guard"] == 0.5
    relevance = [c.relevance for c in guarded.candidates]
    assert all(a >= b for a, b in zip(relevance, relevance[1:], strict=False))
    # Each candidate keeps the score the reranker gave it; only the order changes.
    assert {c.id: c.score for c in guarded.candidates} == {
        c.id: c.score for c in unguarded.candidates
    }
    # A weight under a half trusts the first stage over a judge that disagrees everywhere.
    low = await get_reranker("first", client, window=5, guard=0.3).arerank(request())
    assert low.ids == ["c0", "c1", "c2", "c3", "c4"] and low.guard == 0.3


async def test_small_offset_through_a_reranker(stand_in: StandIn, client: LLMClient) -> None:
    # Truth c3 c1 c0 c2 (c4 last): FIRST answers positions [3, 1, 0, 2, 4]. k=0, w=0.5:
    # p0 .5/3+.5/1 = .667, p3 .5/1+.5/4 = .625, p1 .5/2+.5/2 = .5, p2 .5/4+.5/3 = .292,
    # p4 .5/5+.5/5 = .2.
    judged(stand_in, truth=["c3", "c1", "c0", "c2", "c4"])
    result = await get_reranker("first", client, window=5, guard=0.5, guard_k=0).arerank(request())
    assert result.ids == ["c0", "c3", "c1", "c2", "c4"]


async def test_a_fallback_keeps_the_first_stage_order_under_the_guard(
    stand_in: StandIn, client: LLMClient
) -> None:
    stand_in.always(CHAT, Reply.json({"error": "overloaded"}, status=503))
    result = await get_reranker("first", client, window=5, guard=0.5).arerank(request())
    assert result.ids == list(TEXTS)
    assert [f.kind for f in result.fallbacks] == ["first_stage_order"]
    assert result.guard == 0.5


def test_fitted_weights_by_spec() -> None:
    # rerankers/guard.py's table: a fitted name its own weight, any other spec 0.05, a
    # cascade its last stage's (a→b→c is a → cascade:b→c; arrows of either spelling).
    from xling.rerankers.guard import default_guard, resolve_guard

    assert default_guard("listwise") == 0.8 and default_guard("first") == 0.6
    assert default_guard("ce:/models/bge") == 0.05 and default_guard("prp-heapsort") == 0.05
    assert default_guard("cascade:ce:/models/bge→first") == 0.6
    assert default_guard("cascade:pointwise->first→listwise") == 0.8
    assert resolve_guard("fitted", "tdpart") == 0.6
    assert resolve_guard(0.3, "tdpart") == 0.3 and resolve_guard(None, "tdpart") is None
