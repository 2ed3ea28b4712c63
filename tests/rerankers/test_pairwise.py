"""PRP against the real vLLM server: answers from logprobs, call counts against the formulas."""

from __future__ import annotations

import pytest

from xling.llm import LLMClient
from xling.rerankers import (
    RerankRequest,
    get_reranker,
    heapsort_comparison_bounds,
    sliding_comparisons,
)
from xling.rerankers.base import answer_logprob

pytestmark = pytest.mark.vllm


async def test_allpair_reads_one_token_per_prompt_from_the_real_model(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    # The scores against a known order are in test_scripted_orders; here the real model's
    # logprob answers must give a full ranking at the documented cost.
    request = RerankRequest(short_request.query, short_request.candidates[:3])
    reranker = get_reranker("prp-allpair", llm, scoring="logprob")
    result = await reranker.arerank(request)
    # 3 candidates: 3 pairs, both orders: 3 * 2 = 6 prompts of one generated token each.
    assert result.comparisons == 3
    assert result.usage.llm_calls == 6 == 3 * (3 - 1)
    assert result.usage.completion_tokens == 6
    assert sorted(result.ids) == sorted(c.id for c in request.candidates)
    # Each comparison hands out 1 point (0.5 each on disagreement): 3 in all, best first.
    scores = [c.score for c in result.candidates]
    assert sum(scores) == 3.0 and scores == sorted(scores, reverse=True)
    assert all(s in (0.0, 0.5, 1.0, 1.5, 2.0) for s in scores)
    assert not result.fallbacks


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


async def test_sliding_calls_match_the_formula_exactly(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    reranker = get_reranker("prp-sliding", llm, top_k=2)
    result = await reranker.arerank(short_request)
    # Pass 1 compares positions 4..1 with the one above (4), pass 2 positions 4..2 (3): 7.
    assert result.comparisons == sliding_comparisons(5, 2) == 7
    assert result.usage.llm_calls == 14 and result.rounds == 7


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
