"""Setwise reranking: hand-worked orders and call counts against the scripted stand-in LLM, the
call-count formulas, llm-rankers' own sorts, answer parsing, and the real model on vLLM.

The stand-in is the real loopback server of ``tests/llm/standin.py`` with the :class:`Judge` of
``test_scripted_orders.py``: it finds the passages a prompt shows by their text and answers
from a hidden true order, with the labels' next-token logprobs (best label 0, the next -1, ...)
or, when generating, ``Passage C``. Candidates ``c0..c7`` arrive in that first-stage order.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from tests.rerankers.test_scripted_orders import QUERY, TEXTS, Judge
from xling.core.errors import InvalidInputError
from xling.llm import LLMClient
from xling.rerankers import (
    RERANKERS,
    RerankRequest,
    SetwiseReranker,
    get_reranker,
    parse_label,
    setwise_bubblesort_bounds,
    setwise_heapsort_bounds,
)
from xling.rerankers.setwise_variants import setwise_bubblesort, setwise_heapsort

EIGHT = {
    **TEXTS,
    "c5": "Sea otters float on their backs in groups called rafts, holding paws asleep.",
    "c6": "Kelp forests grow fastest in cold water rich in nutrients.",
    "c7": "Mothers carry their pups on their bellies while floating.",
}


class SetwiseJudge(Judge):
    """The :class:`Judge` over ``texts`` (eight passages by default) whose generated answer is
    the setwise one, ``Passage C``, rather than a ranking."""

    def __init__(self, truth: Sequence[str], texts: dict[str, str] = EIGHT) -> None:
        super().__init__([])
        self.place = {texts[cid]: place for place, cid in enumerate(truth)}
        self.ids = {text: cid for cid, text in texts.items()}
        self.rank = {cid: place for place, cid in enumerate(truth)}

    def __call__(self, body: dict[str, Any]) -> Reply:
        reply = super().__call__(body)
        if body.get("logprobs"):
            return reply
        shown = self.shown[-1]
        best = min(range(len(shown)), key=lambda i: self.rank[shown[i]])
        return Reply.chat(f"Passage {chr(ord('A') + best)}")


def judged(stand_in: StandIn, truth: Sequence[str]) -> SetwiseJudge:
    judge = SetwiseJudge(truth)
    stand_in.answer(CHAT, judge)
    return judge


def request(n: int) -> RerankRequest:
    ids = [f"c{i}" for i in range(n)]
    return RerankRequest.from_texts(QUERY, [EIGHT[cid] for cid in ids], ids=ids)


# -- heapsort ------------------------------------------------------------------------------------
async def test_heapsort_three_children_on_eight(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in, ["c5", "c2", "c7", "c0", "c3", "c6", "c1", "c4"])
    # 3-ary heap over positions 0-7: node 0 has children 1-3, node 1 has 4-6, node 2 has 7.
    # Build, level 1 in parallel: node 1 shows [c1 c4 c5 c6] -> c5, swapped up (a leaf now);
    # node 2 shows [c2 c7] -> c2 stays. Heap [c0 c5 c2 c3 c4 c1 c6 c7].
    # Level 0: [c0 c5 c2 c3] -> c5 up; at 1, [c0 c4 c1 c6] -> c0 stays. Heap [c5 c0 c2 c3 c4 c1
    # c6 c7]. Extract c5, c7 to the root: [c7 c0 c2 c3] -> c2 up (at 2, no child below 7).
    # Extract c2, c6 to the root: [c6 c0 c7 c3] -> c7 up. Extract c7: the top 3 are done.
    # Calls 1 + 1 + 2 + 1 + 1 = 6; rounds: level 1 (1), level 0 (2), then 1 and 1: 5.
    reranker = get_reranker("setwise-heapsort", client, num_child=3, top_k=3, scoring="logprob")
    result = await reranker.arerank(request(8))
    assert result.ids == ["c5", "c2", "c7", "c0", "c1", "c3", "c4", "c6"]
    assert sorted(judge.shown[:2]) == [["c1", "c4", "c5", "c6"], ["c2", "c7"]]
    assert judge.shown[2:] == [
        ["c0", "c2", "c3", "c5"],
        ["c0", "c1", "c4", "c6"],
        ["c0", "c2", "c3", "c7"],
        ["c0", "c3", "c6", "c7"],
    ]
    assert result.comparisons == result.usage.llm_calls == stand_in.seen[CHAT] == 6
    assert result.rounds == 5
    assert setwise_heapsort_bounds(8, 3, 3) == (5, 8)  # worked out in test_bounds_by_hand
    assert not result.repairs and not result.fallbacks
    assert result.usage.completion_tokens == 6  # one generated token per call


async def test_trace_keeps_each_choice_with_its_passages(
    stand_in: StandIn, client: LLMClient
) -> None:
    judged(stand_in, ["c5", "c2", "c7", "c0", "c3", "c6", "c1", "c4"])
    # The run of test_heapsort_three_children_on_eight, traced: its 6 calls, each named by
    # the passages it showed, the last one [c6 c0 c7 c3].
    reranker = get_reranker(
        "setwise-heapsort", client, num_child=3, top_k=3, scoring="logprob", trace=True
    )
    result = await reranker.arerank(request(8))
    assert result.trace is not None and len(result.trace) == 6
    assert all(call.where.startswith("comparison ") for call in result.trace)
    assert result.trace[-1].where.endswith("(c0, c3, c6, c7)")
    assert all(call.top_logprobs for call in result.trace)


@pytest.mark.parametrize("method", ["heapsort", "bubblesort"])
async def test_a_judge_biased_to_the_first_label_keeps_the_first_stage_order(
    stand_in: StandIn, client: LLMClient, method: str
) -> None:
    # Every prompt shows its passages in first-stage order, so a model that always answers
    # "A" (small models' position bias) picks the first stage's choice each time: the order
    # stays c0..c7. In the heap's own order the root, just swapped in from the bottom, would
    # be shown first, win and be extracted next (as in llm-rankers).
    stand_in.always(CHAT, Reply.next_token({"A": -0.1, "B": -3.0, "C": -3.5, "D": -4.0}))
    reranker = get_reranker(f"setwise-{method}", client, num_child=3, top_k=3, scoring="logprob")
    result = await reranker.arerank(request(8))
    assert result.ids == [f"c{i}" for i in range(8)]


async def test_heapsort_two_children_on_seven(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in, ["c6", "c3", "c1", "c5", "c0", "c4", "c2"])
    # Binary heap over positions 0-6. Level 1: node 1 [c1 c3 c4] -> c3 up; node 2 [c2 c5 c6]
    # -> c6 up: [c0 c3 c6 c1 c4 c5 c2]. Level 0: [c0 c3 c6] -> c6 up; at 2, [c0 c5 c2] -> c5
    # up: [c6 c3 c5 c1 c4 c0 c2]. Extract c6, c2 to the root: [c2 c3 c5] -> c3 up; at 1,
    # [c2 c1 c4] -> c1 up. Extract c3: top 2 done. Calls 1 + 1 + 2 + 2 = 6 (the most the
    # formula allows); rounds 1 + 2 + 2 = 5.
    reranker = get_reranker("setwise-heapsort", client, num_child=2, top_k=2, scoring="logprob")
    result = await reranker.arerank(request(7))
    assert result.ids == ["c6", "c3", "c0", "c1", "c2", "c4", "c5"]
    assert sorted(judge.shown[:2]) == [["c1", "c3", "c4"], ["c2", "c5", "c6"]]
    assert judge.shown[2:] == [
        ["c0", "c3", "c6"],
        ["c0", "c2", "c5"],
        ["c2", "c3", "c5"],
        ["c1", "c2", "c4"],
    ]
    assert result.comparisons == result.usage.llm_calls == 6 == setwise_heapsort_bounds(7, 2, 2)[1]
    assert result.rounds == 5


# -- bubblesort ----------------------------------------------------------------------------------
async def test_bubblesort_two_children_on_six(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in, ["c4", "c1", "c5", "c0", "c3", "c2"])
    # Windows of 3 moving up by 2; the lowest starts at 3.
    # Pass 1: [c3 c4 c5] -> c4 to 3; [c1 c2 c4] -> c4 to 1; [c0 c4] -> c4 to 0:
    #   [c4 c0 c2 c1 c3 c5]. The lowest window changed, so pass 2 starts there again.
    # Pass 2: [c1 c3 c5] -> c1 stays (next pass could start higher); [c0 c2 c1] -> c1 to 1.
    # Calls 3 + 2 = 5 = the plain bubble sort's 3 + 2; the rest keep first-stage order.
    reranker = get_reranker("setwise-bubblesort", client, num_child=2, top_k=2)
    result = await reranker.arerank(request(6))
    assert judge.shown == [
        ["c3", "c4", "c5"],
        ["c1", "c2", "c4"],
        ["c0", "c4"],
        ["c1", "c3", "c5"],
        ["c0", "c1", "c2"],
    ]
    assert result.ids == ["c4", "c1", "c0", "c2", "c3", "c5"]
    assert result.comparisons == result.rounds == result.usage.llm_calls == 5
    assert setwise_bubblesort_bounds(6, 2, 2) == (3, 5)


async def test_bubblesort_three_children_on_eight(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in, ["c5", "c2", "c7", "c0", "c3", "c6", "c1", "c4"])
    # Windows of 4 moving up by 3; the lowest starts at 4.
    # Pass 1: [c4 c5 c6 c7] -> c5 to 4; [c1 c2 c3 c5] -> c5 to 1; [c0 c5] -> c5 to 0:
    #   [c5 c0 c2 c3 c1 c4 c6 c7].
    # Pass 2: [c1 c4 c6 c7] -> c7 to 4; [c0 c2 c3 c7] -> c2 to 1: [c5 c2 c0 c3 c7 c4 c6 c1].
    # Pass 3: [c7 c4 c6 c1] -> c7 stays; [c0 c3 c7] (clamped at 2) -> c7 to 2.
    # Calls 3 + 2 + 2 = 7, the plain bubble sort's 3 + 2 + 2.
    reranker = get_reranker("setwise-bubblesort", client, num_child=3, top_k=3)
    result = await reranker.arerank(request(8))
    assert judge.shown == [
        ["c4", "c5", "c6", "c7"],
        ["c1", "c2", "c3", "c5"],
        ["c0", "c5"],
        ["c1", "c4", "c6", "c7"],
        ["c0", "c2", "c3", "c7"],
        ["c1", "c4", "c6", "c7"],
        ["c0", "c3", "c7"],
    ]
    assert result.ids == ["c5", "c2", "c7", "c0", "c1", "c3", "c4", "c6"]
    assert result.comparisons == result.rounds == result.usage.llm_calls == 7
    assert setwise_bubblesort_bounds(8, 3, 3) == (3, 7)


async def test_bubblesort_rechecks_the_window_under_a_clamped_swap(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in, ["c1", "c3", "c0", "c2", "c4"])
    # Windows of 4 over 5; the lowest starts at 1. Pass 1: [c1 c2 c3 c4] -> c1 stays; the top
    # window, clamped to [c0 c1], moves c1 to 0 and c0 onto the lower window's top. Pass 2
    # must see that window again: [c0 c2 c3 c4] -> c3. llm-rankers moves its start by the
    # clamped window's length (1) instead of 3 and shows only [c0 c2] (positions 1-2):
    # its top 2 would be c1 c0, missing c3 (traced by hand through its setwise.py loop).
    reranker = get_reranker("setwise-bubblesort", client, num_child=3, top_k=2)
    result = await reranker.arerank(request(5))
    assert judge.shown == [["c1", "c2", "c3", "c4"], ["c0", "c1"], ["c0", "c2", "c3", "c4"]]
    assert result.ids == ["c1", "c3", "c0", "c2", "c4"]
    assert result.comparisons == 3


async def test_bubblesort_never_prompts_with_fewer_than_two_passages(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in, ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"])
    # Already in order. Pass 1: [c4..c7], [c1..c4] and the clamped [c0 c1]: nothing moves.
    # Pass 2 is left the one item at 1, the top of the settled window [1-4]: no call.
    # Passes 3 and 4 see what is left of that window: [c2 c3 c4], then [c3 c4].
    # llm-rankers prompts here with one passage (pass 2) and with none (passes 3 and 4).
    reranker = get_reranker("setwise-bubblesort", client, num_child=3, top_k=4)
    result = await reranker.arerank(request(8))
    assert judge.shown == [
        ["c4", "c5", "c6", "c7"],
        ["c1", "c2", "c3", "c4"],
        ["c0", "c1"],
        ["c2", "c3", "c4"],
        ["c3", "c4"],
    ]
    assert result.ids == [f"c{i}" for i in range(8)]
    assert result.comparisons == 5


# -- the formulas and llm-rankers' own sorts -----------------------------------------------------
def test_bounds_by_hand() -> None:
    # Heapsort, n=8, c=3, k=3: inner nodes 0, 1, 2 (3 calls at least, and heights 2, 1, 1 at
    # most), then two re-heapifications of 7 and 6 items (1 call at least, 2 at most each).
    assert setwise_heapsort_bounds(8, 3, 3) == (3 + 2, 4 + 4)
    # n=10, c=3, k=10: inner nodes 0-2 (heights 2, 1, 1); re-heapifying 9..2 items: heights
    # 2 (9..5 items), 1 (4..2 items): 3 + 8 at least, 4 + 5*2 + 3*1 at most.
    assert setwise_heapsort_bounds(10, 3, 10) == (11, 17)
    # Bubblesort passes cover n-1-i items below position i in ceil((n-1-i)/c) windows.
    assert setwise_bubblesort_bounds(10, 3, 3) == (3, 3 + 3 + 3)
    assert setwise_bubblesort_bounds(100, 3, 10) == (33, sum(-(-(99 - i) // 3) for i in range(10)))
    assert setwise_bubblesort_bounds(2, 3, 10) == (1, 1)
    assert setwise_bubblesort_bounds(1, 3, 10) == setwise_heapsort_bounds(1, 3, 10) == (0, 0)


def _llm_rankers_heapsort(n: int, c: int, k: int, best: Callable[[list[int]], int]) -> list[int]:
    # A transcription of llm-rankers' SetwiseLlmRanker.heapSort/heapify and rerank's result
    # (ielab/llm-rankers, llmrankers/setwise.py, Apache-2.0), with ``best`` for compare().
    arr = list(range(n))

    def heapify(size: int, i: int) -> None:
        if c * i + 1 < size:
            inds = [i, *range(c * i + 1, min(c * (i + 1) + 1, size))]
            largest = inds[best([arr[j] for j in inds])]
            if largest != i:
                arr[i], arr[largest] = arr[largest], arr[i]
                heapify(size, largest)

    for i in range(n // c, -1, -1):
        heapify(n, i)
    ranked = 0
    for i in range(n - 1, 0, -1):
        arr[i], arr[0] = arr[0], arr[i]
        ranked += 1
        if ranked == k:
            break
        heapify(i, 0)
    top = list(reversed(arr))[:k]
    return top + [d for d in range(n) if d not in top]


def _llm_rankers_bubblesort(
    n: int, c: int, k: int, best: Callable[[list[int]], int]
) -> tuple[list[int], int] | None:
    # A transcription of the "bubblesort" branch of llm-rankers' SetwiseLlmRanker.rerank (the
    # faster form with last_start), with its result; ``None`` where it takes one of the two
    # paths xling fixes (a prompt with fewer than two passages, or a clamped window's last
    # passage winning, where it moves last_start by the clamped length).
    ranking = list(range(n))
    calls = 0
    last_start = n - (c + 1)
    for i in range(k):
        start_ind, end_ind = last_start, last_start + (c + 1)
        is_change = False
        while True:
            start_ind = max(start_ind, i)
            window = ranking[start_ind:end_ind]
            if len(window) < 2:
                return None
            calls += 1
            best_ind = best(window)
            if best_ind != 0:
                ranking[start_ind], ranking[start_ind + best_ind] = (
                    ranking[start_ind + best_ind],
                    ranking[start_ind],
                )
                if not is_change:
                    is_change = True
                    if last_start != n - (c + 1) and best_ind == len(window) - 1:
                        if len(window) - 1 != c:
                            return None
                        last_start += len(window) - 1
            if start_ind == i:
                break
            if not is_change:
                last_start -= c
            start_ind -= c
            end_ind -= c
    top = ranking[:k]
    return top + [d for d in range(n) if d not in top], calls


@pytest.mark.parametrize(("n", "c", "k"), [(5, 1, 5), (6, 2, 3), (6, 3, 2), (6, 4, 6), (4, 3, 1)])
async def test_every_order_sorts_within_the_bounds_as_llm_rankers_does(
    n: int, c: int, k: int
) -> None:
    # Each true order of n items: heapsort must return llm-rankers' order (call for call, the
    # same sort); bubblesort must return the true top k, and llm-rankers' order and call count
    # wherever llm-rankers' loop stays off the two paths fixed here.
    seen_heap, seen_bubble = [], []
    same_path = 0
    for truth in itertools.permutations(range(n)):
        rank = {item: place for place, item in enumerate(truth)}

        def best(shown: list[int], rank: dict[int, int] = rank) -> int:
            return min(range(len(shown)), key=lambda i: rank[shown[i]])

        async def choose(shown: list[int], best: Callable[[list[int]], int] = best) -> int:
            return best(shown)

        heap = await setwise_heapsort(list(range(n)), choose, c, k)
        assert heap.order[:k] == list(truth[:k])
        assert heap.order == _llm_rankers_heapsort(n, c, k, best)
        seen_heap.append(heap.comparisons)
        bubble = await setwise_bubblesort(list(range(n)), choose, c, k)
        assert bubble.order[: min(k, n - 1)] == list(truth[: min(k, n - 1)])
        assert bubble.rounds == bubble.comparisons
        seen_bubble.append(bubble.comparisons)
        theirs = _llm_rankers_bubblesort(n, c, min(k, n - 1), best)
        if theirs is not None:
            same_path += 1
            assert (bubble.order, bubble.comparisons) == theirs
    low, high = setwise_heapsort_bounds(n, c, k)
    assert low <= min(seen_heap) and max(seen_heap) == high
    low, high = setwise_bubblesort_bounds(n, c, k)
    assert low <= min(seen_bubble) and max(seen_bubble) == high
    assert same_path > 0


async def test_heap_levels_run_concurrently() -> None:
    # n=13, c=3: nodes 1-3 are one level (children 4-12); their three calls are in flight
    # together, so the build takes 2 rounds for 4 calls when nothing swaps.
    in_flight = peak = 0

    async def choose(shown: list[int]) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return 0

    outcome = await setwise_heapsort(list(range(13)), choose, 3, 1)
    assert peak == 3 and outcome.comparisons == 4 and outcome.rounds == 2


# -- answers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("Passage C", 2),
        ("passage c.", 2),
        ("Passage [B]", 1),
        (" D", 3),
        ("[B]", 1),
        ("The most relevant is Passage A, then B", 0),
        ("Passages", None),
        ("I cannot tell.", None),
        ("", None),
        ("Passage Z", 25),
    ],
)
def test_parse_label(text: str, index: int | None) -> None:
    assert parse_label(text) == index


@pytest.mark.parametrize(
    ("answer", "first", "repairs"),
    [
        ("passage c.", "c2", {}),
        ("Passage E", "c0", {"out_of_range_dropped": 1}),
        ("None of them.", "c0", {"unparsed_answer": 1}),
    ],
)
async def test_generated_answers_and_their_repairs(
    stand_in: StandIn, client: LLMClient, answer: str, first: str, repairs: dict[str, int]
) -> None:
    # Four candidates, c=3, top 1: one prompt shows all four (A-D). An answer that names no
    # shown passage keeps the first one shown, as llm-rankers does, and is recorded.
    stand_in.always(CHAT, Reply.chat(answer))
    reranker = get_reranker("setwise-heapsort", client, top_k=1, scoring="generate")
    result = await reranker.arerank(request(4))
    assert result.ids[0] == first
    assert result.ids[1:] == [cid for cid in ["c0", "c1", "c2", "c3"] if cid != first]
    assert result.repair_counts() == repairs
    assert result.comparisons == result.usage.llm_calls == 1 and not result.fallbacks


async def test_auto_scoring_generates_when_the_server_has_no_logprobs(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in, ["c2", "c0", "c1", "c3"])
    stand_in.then(CHAT, Reply.chat("Passage B"))  # the logprob probe, answered without them
    result = await get_reranker("setwise-bubblesort", client, top_k=1).arerank(request(4))
    # One window of four: the probe (its answer dropped), then the generated "Passage C".
    assert result.ids == ["c2", "c0", "c1", "c3"]
    assert [f.kind for f in result.fallbacks] == ["generation"]
    assert result.usage.llm_calls == 2 and result.comparisons == 1
    assert "logprobs" not in judge.bodies[-1]


@pytest.mark.parametrize(
    ("top", "first", "repairs"),
    [
        ({" B": -0.5, "B": -1.0, " A": -0.4}, "c1", {}),  # " B" and "B" add up: 0.97 > 0.67
        ({" A": -1.0, " B": -1.0}, "c0", {}),  # a tie goes to the first shown
        ({" E": -0.1, "The": -0.5}, "c0", {"unparsed_answer": 1}),  # no shown label
    ],
)
async def test_logprob_answers(
    stand_in: StandIn,
    client: LLMClient,
    top: dict[str, float],
    first: str,
    repairs: dict[str, int],
) -> None:
    stand_in.always(CHAT, Reply.next_token(top))
    reranker = get_reranker("setwise-heapsort", client, top_k=1, scoring="logprob")
    result = await reranker.arerank(request(4))
    assert result.ids[0] == first and result.repair_counts() == repairs


async def test_prompt_labels_the_passages_and_continues_passage(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in, ["c1", "c0", "c2"])
    ids = ["c0", "c1", "c2"]
    texts = [EIGHT[cid] for cid in ids]
    req = RerankRequest.from_texts(QUERY, texts, ids=ids, langs=["fra"] * 3, query_lang="eng")
    # Three candidates: one prompt shows all three (A-C) -> c1; then c2 and c0 -> c0.
    result = await get_reranker("setwise-heapsort", client, scoring="logprob").arerank(req)
    assert result.ids == ["c1", "c0", "c2"]
    body = judge.bodies[0]
    user, prefill = body["messages"]
    assert prefill == {"role": "assistant", "content": "Passage"}
    assert body["continue_final_message"] is True and body["max_tokens"] == 1
    assert f'Passage A: "{EIGHT["c0"]}"\n\nPassage B: "{EIGHT["c1"]}"' in user["content"]
    assert "Passage D" not in user["content"]
    assert "may be written in different languages" in user["content"]
    assert user["content"].endswith("Output only the passage label of the most relevant passage:")


# -- options -------------------------------------------------------------------------------------
async def test_presets_and_bad_options(client: LLMClient) -> None:
    reranker = get_reranker("setwise-bubblesort", client, num_child=2)
    assert isinstance(reranker, SetwiseReranker)
    assert reranker.config.method == "bubblesort" and reranker.config.num_child == 2
    assert reranker.calibration_kind == "pairwise"
    assert {"setwise-heapsort", "setwise-bubblesort"} <= set(RERANKERS)
    with pytest.raises(InvalidInputError, match="method='bubblesort' conflicts"):
        get_reranker("setwise-heapsort", client, method="bubblesort")
    with pytest.raises(InvalidInputError, match=r"num_child=20 is not allowed; use 1\.\.19"):
        get_reranker("setwise-heapsort", client, num_child=20)
    for options, message in [
        ({"num_child": 0}, "num_child=0 is not allowed; use a positive integer"),
        ({"num_child": True}, "num_child=True is not allowed; use a positive integer"),
        ({"method": "quicksort"}, "method='quicksort' is not allowed; use one of: heapsort, bub"),
        ({"top_k": 0}, "top_k=0 is not allowed; use a positive integer"),
        ({"template": "prp"}, "unknown setwise template 'prp'; available: setwise"),
        ({"scoring": "likelihood"}, "scoring='likelihood' is not allowed; use one of: logprob,"),
    ]:
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            SetwiseReranker(client, **options)


# -- the real model ------------------------------------------------------------------------------
@pytest.mark.vllm
@pytest.mark.parametrize("spec", ["setwise-heapsort", "setwise-bubblesort"])
async def test_real_model_ranks_within_the_bounds(
    llm: LLMClient, short_request: RerankRequest, spec: str
) -> None:
    reranker = get_reranker(spec, llm, num_child=2, top_k=2, scoring="logprob")
    result = await reranker.arerank(short_request)
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    bounds = setwise_heapsort_bounds if spec == "setwise-heapsort" else setwise_bubblesort_bounds
    low, high = bounds(5, 2, 2)
    # Heapsort: inner nodes 0, 1 (heights 2, 1), then 4 items re-heapified (at least 1 call,
    # height 2): (3, 5). Bubblesort: windows of 3 over 5 items: 2 in pass 1, 2 in pass 2: (2, 4).
    assert (low, high) == ((3, 5) if spec == "setwise-heapsort" else (2, 4))
    assert low <= result.comparisons <= high
    assert result.usage.llm_calls == result.comparisons == result.usage.completion_tokens
    assert not result.fallbacks and not result.repairs
