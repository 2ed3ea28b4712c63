"""FIRST, tdpart and PRP against a stand-in model that knows the true order (no vLLM).

The stand-in is a real OpenAI-compatible server on loopback (:class:`~tests.llm.standin.StandIn`),
so the rerankers run through the real client. Its model, :class:`Judge`, finds the passages a
prompt shows by their text and answers from a hidden true order: the next-token logprobs of the
labels when logprobs are asked for (FIRST after ``[``, PRP after ``Passage``), else a generated
``[2] > [1] > [3]``. Every expected order, window and count below is worked out by hand.

Candidates ``c0..c4`` arrive in that first-stage order; the truth is ``c3 > c0 > c4 > c2 > c1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from xling.llm import LLMClient
from xling.rerankers import RerankRequest, get_reranker

TEXTS = {
    "c0": "Otters hold hands while they sleep on the water.",
    "c1": "The bakery opens at seven every weekday morning.",
    "c2": "Tide tables list high and low water for each day.",
    "c3": "Sea otters wrap themselves in kelp so they do not drift apart asleep.",
    "c4": "River otters sleep in dens dug into the bank.",
}
TRUTH = ["c3", "c0", "c4", "c2", "c1"]
QUERY = "How do otters keep from drifting while sleeping?"


class Judge:
    """A stand-in model: answers a rerank prompt from the true order of the passages it shows.

    Args:
        truth: Candidate ids, most relevant first.
        undecided: Pairs the judge cannot tell apart: shown together, it prefers whichever
            comes first (a model's position bias), so PRP's two orders disagree.
        yes_no: For pointwise prompts (one passage, "Yes" or "No"), ``P(yes)`` per id: its
            first-token answer is ``Yes`` and ``No`` with those probabilities. Without it a
            pointwise prompt is answered like any other.

    Attributes:
        shown: Per prompt, the ids of the passages it showed, in the order shown.
        bodies: The request bodies received.
    """

    def __init__(
        self,
        truth: Sequence[str],
        undecided: Iterable[tuple[str, str]] = (),
        yes_no: Mapping[str, float] | None = None,
    ) -> None:
        self.yes_no = dict(yes_no or {})
        self.place = {TEXTS[cid]: place for place, cid in enumerate(truth)}
        self.ids = {text: cid for cid, text in TEXTS.items()}
        self.undecided = {frozenset(pair) for pair in undecided}
        self.shown: list[list[str]] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> Reply:
        self.bodies.append(body)
        prompt = "\n".join(message["content"] for message in body["messages"])
        texts = sorted((t for t in self.place if t in prompt), key=prompt.find)
        ids = [self.ids[t] for t in texts]
        self.shown.append(ids)
        if self.yes_no and "'Yes' or 'No'" in prompt and body.get("logprobs"):
            (cid,) = ids
            p = self.yes_no[cid]
            return Reply.next_token({"Yes": math.log(p), "No": math.log(1 - p)})
        best = sorted(range(len(texts)), key=lambda i: self.place[texts[i]])
        if frozenset(ids) in self.undecided:
            best = list(range(len(texts)))
        if body.get("logprobs"):
            labels = [chr(ord("A") + i) for i in best]  # best first
            top = {label: -float(rank) for rank, label in enumerate(labels)}
            return Reply.next_token(dict(list(top.items())[: body["top_logprobs"]]))
        return Reply.chat(" > ".join(f"[{i + 1}]" for i in best))


def judged(stand_in: StandIn, truth: Sequence[str] = TRUTH, **options: Any) -> Judge:
    judge = Judge(truth, **options)
    stand_in.answer(CHAT, judge)
    return judge


def request() -> RerankRequest:
    return RerankRequest.from_texts(QUERY, list(TEXTS.values()), ids=list(TEXTS))


# -- FIRST: listwise by first-token logprobs ------------------------------------------------------
async def test_first_orders_one_window_by_the_label_logprobs(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in)
    result = await get_reranker("first", client, window=5).arerank(request())
    assert result.ids == ["c3", "c0", "c4", "c2", "c1"]
    assert not result.repairs and not result.fallbacks
    # One forward step continuing the assistant's "[": one call, one generated token.
    assert result.usage.llm_calls == result.windows == result.rounds == 1
    assert result.usage.completion_tokens == 1 and stand_in.seen[CHAT] == 1
    body = judge.bodies[0]
    assert body["max_tokens"] == 1 and body["top_logprobs"] == 20
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": "["}


async def test_first_appends_labels_missing_from_the_top_in_window_order(
    stand_in: StandIn, client: LLMClient
) -> None:
    judged(stand_in)
    # Only the three likeliest labels come back (C, A, E = c3, c0, c4); B and D (c1, c2) are
    # missing and follow in their window order, c1 before c2, although c2 is more relevant.
    result = await get_reranker("first", client, window=5, top_logprobs=3).arerank(request())
    assert result.ids == ["c3", "c0", "c4", "c1", "c2"]
    assert result.repair_counts() == {"missing_appended": 2}


async def test_first_sliding_windows_bottom_up(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in)
    # Window 3, stride 2 over 5: positions 2-4 first, then 0-2.
    # [c2 c3 c4] -> c3 c4 c2, list c0 c1 c3 c4 c2; [c0 c1 c3] -> c3 c0 c1: c3 c0 c1 c4 c2.
    # One pass cannot carry c4 above c1: they never share a window after the first.
    reranker = get_reranker("first", client, window=3, stride=2)
    result = await reranker.arerank(request())
    assert judge.shown == [["c2", "c3", "c4"], ["c0", "c1", "c3"]]
    assert result.ids == ["c3", "c0", "c1", "c4", "c2"]
    assert result.windows == result.rounds == result.usage.llm_calls == 2
    assert [c.first_stage_rank for c in result.candidates] == [3, 0, 1, 4, 2]


# -- tdpart: top-down partitioning ----------------------------------------------------------------
async def test_tdpart_reranks_what_climbed_over_the_pivot(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in)
    # Window 3, cutoff 2 (generated answers, numeric labels):
    # 1. [c0 c1 c2] -> c0 c2 c1: pivot c2 (2nd); above [c0], below [c1].
    # 2. the rest with the pivot, [c2 c3 c4] -> c3 c4 c2: c3 and c4 climbed over the pivot.
    # 3. rerank above + climbed + pivot = [c0 c3 c4 c2] (4 > window): [c0 c3 c4] -> c3 c0 c4,
    #    pivot c0, above [c3], below [c4];
    # 4. [c0 c2] -> c0 c2: nothing climbed; c3 c0 + below [c4 c2]; then the outer below [c1].
    result = await get_reranker("tdpart", client, window=3, cutoff=2).arerank(request())
    assert judge.shown == [
        ["c0", "c1", "c2"],
        ["c2", "c3", "c4"],
        ["c0", "c3", "c4"],
        ["c0", "c2"],
    ]
    assert result.ids == ["c3", "c0", "c4", "c2", "c1"]
    assert result.windows == result.usage.llm_calls == 4
    assert result.rounds == 4  # each window waited for the one before
    assert "logprobs" not in judge.bodies[0]  # tdpart generates its answers


async def test_tdpart_orders_only_the_top_cutoff(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in, truth=["c1", "c0", "c4", "c3", "c2"])
    # 1. [c0 c1 c2] -> c1 c0 c2: pivot c0, below [c2].
    # 2. [c0 c3 c4] -> c0 c4 c3: nothing beats the pivot; below grows to [c2 c4 c3].
    # Two windows; under the top two, c2 stays above the more relevant c4 and c3.
    result = await get_reranker("tdpart", client, window=3, cutoff=2).arerank(request())
    assert judge.shown == [["c0", "c1", "c2"], ["c0", "c3", "c4"]]
    assert result.ids == ["c1", "c0", "c2", "c4", "c3"]
    assert result.windows == result.rounds == result.usage.llm_calls == 2


# -- PRP: pairwise ranking prompting --------------------------------------------------------------
async def test_prp_allpair_counts_wins_and_halves_disagreements(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in, undecided=[("c1", "c2")])
    result = await get_reranker("prp-allpair", client, scoring="logprob").arerank(request())
    # Wins out of 4: c3 4, c0 3, c4 2; c1 and c2 beat nobody else and split their comparison
    # (each order says "Passage A"), 0.5 each, and tie in first-stage order: c1 before c2.
    assert result.ids == ["c3", "c0", "c4", "c1", "c2"]
    assert [c.score for c in result.candidates] == [4.0, 3.0, 2.0, 0.5, 0.5]
    # 5 passages: 10 pairs, both orders: 20 prompts of one generated token, all at once.
    assert result.comparisons == 10 and result.rounds == 1
    assert result.usage.llm_calls == 20 == stand_in.seen[CHAT]
    assert result.usage.completion_tokens == 20
    assert len({tuple(pair) for pair in judge.shown}) == 20  # every ordered pair once
    assert not result.repairs


async def test_prp_heapsort_extracts_the_top_k(stand_in: StandIn, client: LLMClient) -> None:
    judged(stand_in)
    # Heap [c0 c1 c2 c3 c4]. Build, node 1: c3 beats c1, c4 not c3 -> swap (2 comparisons),
    # [c0 c3 c2 c1 c4]; node 0: c3 beats c0, c2 not c3 -> swap, then at 1: c1 not c0, c4 not c0
    # (4), [c3 c0 c2 c1 c4]. Extract c3; sift c4 in 4: c0 beats c4, c2 not c0 -> swap, c1 not
    # c4 (3). Extract c0: top 2 done. The rest keep first-stage order: c1 c2 c4.
    result = await get_reranker("prp-heapsort", client, top_k=2).arerank(request())
    assert result.ids == ["c3", "c0", "c1", "c2", "c4"]
    assert result.comparisons == 2 + 4 + 3 == 9
    assert result.usage.llm_calls == 18 == stand_in.seen[CHAT]
    assert result.rounds == 9  # one node per heap level: every comparison waits for the last


async def test_prp_sliding_makes_k_bubble_passes(stand_in: StandIn, client: LLMClient) -> None:
    judged(stand_in)
    # Pass 1, bottom up: c4 vs c3 stays; c3 climbs over c2, c1, c0 -> c3 c0 c1 c2 c4 (4).
    # Pass 2, down to position 1: c4 climbs over c2 and c1, not c0 -> c3 c0 c4 c1 c2 (3).
    result = await get_reranker("prp-sliding", client, top_k=2).arerank(request())
    assert result.ids == ["c3", "c0", "c4", "c1", "c2"]
    assert result.comparisons == result.rounds == 4 + 3
    assert result.usage.llm_calls == 14 == stand_in.seen[CHAT]


# -- pointwise yes/no and listwise answers as the model writes them -------------------------------
# The stand-in's yes/no first-token probabilities for each passage, and the score each must get:
# P(yes) / (P(yes) + P(no)), worked out by hand. c1 has only "No" among its alternatives (0.0);
# c2's alternatives hold neither word, so it scores 0.5 and is reported as unparsed.
YES_NO = {
    "c0": ({" Yes": 0.6, "yes": 0.1, "No": 0.2}, 0.7 / 0.9),
    "c1": ({"No": 0.9, "Maybe": 0.05}, 0.0),
    "c2": ({"Maybe": 0.5, "Perhaps": 0.3}, 0.5),
    "c3": ({"Yes": 0.9, "no": 0.1}, 0.9),
    "c4": ({"Yes": 0.3, "No": 0.3}, 0.5),
}


async def test_pointwise_scores_are_the_yes_share_of_the_first_token(
    stand_in: StandIn, client: LLMClient
) -> None:
    def yes_no(body: dict[str, Any]) -> Reply:
        prompt = "\n".join(message["content"] for message in body["messages"])
        (cid,) = [cid for cid, text in TEXTS.items() if text in prompt]
        top, _ = YES_NO[cid]
        return Reply.next_token({token: math.log(p) for token, p in top.items()})

    stand_in.answer(CHAT, yes_no)
    result = await get_reranker("pointwise", client, scoring="logprob").arerank(request())
    # 0.9 (c3) > 0.778 (c0) > 0.5 (c2 and c4: first-stage order breaks the tie) > 0.0 (c1).
    assert result.ids == ["c3", "c0", "c2", "c4", "c1"]
    scores = dict(zip(result.ids, (c.score for c in result.candidates), strict=True))
    assert scores == pytest.approx({cid: expected for cid, (_, expected) in YES_NO.items()})
    assert result.repair_counts() == {"unparsed_answer": 1}
    assert result.usage.llm_calls == stand_in.seen[CHAT] == 5


async def test_listwise_repairs_a_written_answer_as_documented(
    stand_in: StandIn, client: LLMClient
) -> None:
    # The model writes [3] twice, an [8] that no passage has, and leaves out [2] and [4]:
    # kept in answer order 3, 1, 5 (c2, c0, c4), then the missing c1, c3 in window order.
    stand_in.always(CHAT, Reply.chat("[3] > [1] > [3] > [8] > [5]"))
    result = await get_reranker("listwise", client, window=5).arerank(request())
    assert result.ids == ["c2", "c0", "c4", "c1", "c3"]
    assert result.repair_counts() == {
        "duplicates_dropped": 1,
        "out_of_range_dropped": 1,
        "missing_appended": 2,
    }
    assert result.usage.llm_calls == result.windows == 1 and not result.fallbacks
