"""PRP against the real vLLM server: answers from logprobs, call counts against the formulas."""

from __future__ import annotations

import pytest

from xling.llm import LLMClient
from xling.prompts.rerank import get_pairwise_template
from xling.rerankers import (
    RerankRequest,
    get_reranker,
    heapsort_comparison_bounds,
    sliding_comparisons,
)
from xling.rerankers.base import answer_logprob

pytestmark = pytest.mark.vllm

CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}


async def test_allpair_scores_match_the_models_answer_tokens(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    request = RerankRequest(short_request.query, short_request.candidates[:3])
    reranker = get_reranker("prp-allpair", llm, scoring="logprob")
    result = await reranker.arerank(request)
    # 3 candidates: 3 pairs, both orders: 3 * 2 = 6 prompts of one generated token each.
    assert result.comparisons == 3
    assert result.usage.llm_calls == 6 == 3 * (3 - 1)
    assert result.usage.completion_tokens == 6
    # Recompute every comparison by hand from the answer token's logprobs after "Passage".
    template = get_pairwise_template("prp")
    texts = [c.text for c in request.candidates]

    async def prefers_a(a: int, b: int) -> float:
        messages = template.scoring_messages(request.query, texts[a], texts[b])
        step = await llm.chat(messages, max_tokens=1, logprobs=20, extra=CONTINUE)
        assert step.logprobs is not None
        top = step.logprobs[0].top
        lp_a, lp_b = answer_logprob(top, "A"), answer_logprob(top, "B")
        if lp_a is None and lp_b is None or lp_a == lp_b:
            return 0.5
        return 1.0 if lp_b is None or (lp_a is not None and lp_a > lp_b) else 0.0

    wins = [0.0, 0.0, 0.0]
    for i, j in ((0, 1), (0, 2), (1, 2)):
        score = (await prefers_a(i, j) + (1.0 - await prefers_a(j, i))) / 2
        wins[i] += score
        wins[j] += 1 - score
    expected = sorted(range(3), key=lambda i: (-wins[i], i))
    assert result.ids == [request.candidates[i].id for i in expected]
    assert [c.score for c in result.candidates] == [wins[i] for i in expected]
    await llm.aclose()


async def test_heapsort_calls_stay_within_the_formula(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    reranker = get_reranker("prp-heapsort", llm, top_k=2)
    result = await reranker.arerank(short_request)
    # Fewest: each of the 4 children compared once while building, then the root's 2 children
    # after the first extraction: 6. Most: every sift-down to the bottom: building sifts node 1
    # (2 comparisons) and node 0 (2 + 2), re-heapifying 4 items takes 2 + 1: 9.
    low, high = heapsort_comparison_bounds(5, 2)
    assert (low, high) == (6, 9)
    assert low <= result.comparisons <= high
    assert result.usage.llm_calls == 2 * result.comparisons
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    await llm.aclose()


async def test_sliding_calls_match_the_formula_exactly(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    reranker = get_reranker("prp-sliding", llm, top_k=2)
    result = await reranker.arerank(short_request)
    # Pass 1 compares positions 4..1 with the one above (4), pass 2 positions 4..2 (3): 7.
    assert result.comparisons == sliding_comparisons(5, 2) == 7
    assert result.usage.llm_calls == 14 and result.rounds == 7
    await llm.aclose()


async def test_generation_scoring_parses_real_answers(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    request = RerankRequest(short_request.query, short_request.candidates[:3])
    reranker = get_reranker("prp-allpair", llm, scoring="generate", max_tokens=6)
    result = await reranker.arerank(request)
    assert result.usage.llm_calls == 6
    assert result.usage.completion_tokens <= 6 * 6
    # Every answer is read as A or B, or recorded as unparsed (and scored 0.5 each).
    assert set(result.repair_counts()) <= {"unparsed_answer"}
    assert sum(c.score for c in result.candidates) == pytest.approx(3.0)  # 3 comparisons
    assert not result.fallbacks
    await llm.aclose()


async def test_pointwise_yes_no_by_logprob(llm: LLMClient, short_request: RerankRequest) -> None:
    reranker = get_reranker("pointwise", llm, scoring="logprob")
    result = await reranker.arerank(short_request)
    assert result.usage.llm_calls == 5 and result.usage.completion_tokens == 5
    scores = [c.score for c in result.candidates]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    # The top candidate's score by hand: P(yes) / (P(yes) + P(no)) over the first token.
    from xling.prompts.rerank import cross_lingual_note, get_pointwise_template

    best = result.candidates[0]
    note = cross_lingual_note("eng", short_request.langs)
    messages = get_pointwise_template("yes_no").messages(short_request.query, best.text, note=note)
    step = await llm.chat(messages, max_tokens=1, logprobs=20)
    assert step.logprobs is not None
    import math

    yes = answer_logprob(step.logprobs[0].top, "yes", casefold=True)
    no = answer_logprob(step.logprobs[0].top, "no", casefold=True)
    if yes is None and no is None:
        assert best.score == 0.5
    else:
        p_yes, p_no = (math.exp(v) if v is not None else 0.0 for v in (yes, no))
        assert best.score == pytest.approx(p_yes / (p_yes + p_no), abs=1e-3)
    await llm.aclose()
