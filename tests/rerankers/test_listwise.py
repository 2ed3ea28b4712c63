"""Listwise reranking against the real vLLM server (SmolLM2-135M-Instruct).

SmolLM2 rarely writes a clean ``[2] > [1]`` answer, so these tests prove that whatever it writes
becomes a full permutation through the recorded repairs, that the reranker's order is exactly
the parse of the model's real answer to the same prompt, and that calls and tokens add up.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xling.llm import LLMClient
from xling.rerankers import (
    ListwiseReranker,
    RerankRequest,
    get_reranker,
)

pytestmark = pytest.mark.vllm


async def test_one_window_is_one_real_call_whose_answer_becomes_a_full_ranking(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    # What any model must give; how answers are parsed and repaired is pinned by hand in
    # test_scripted_orders.py against a stand-in whose answers are known.
    before = llm.usage.completion_tokens
    result = await ListwiseReranker(llm, window=5, stride=5).arerank(short_request)
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    assert result.usage.llm_calls == result.windows == result.rounds == 1
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens == llm.usage.completion_tokens - before
    assert not result.fallbacks
    assert {r.kind for r in result.repairs} <= {
        "duplicates_dropped",
        "out_of_range_dropped",
        "missing_appended",
        "no_identifiers",
        "lookalike_digits",
    }


async def test_sliding_windows_account_calls_and_tokens(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    # 5 candidates, window 3, stride 2: windows (2, 5) then (0, 3), plus a second pass.
    reranker = get_reranker("listwise", llm, window=3, stride=2, passes=2, template="rank_zephyr")
    before = llm.usage.calls
    result = await reranker.arerank(short_request)
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    assert result.windows == result.usage.llm_calls == result.rounds == 4
    assert llm.usage.calls - before == 4  # tokenizer calls are not generation calls
    assert 0 < result.usage.completion_tokens <= 4 * await reranker.amax_tokens(3)  # type: ignore[attr-defined]
    # Scores are rank-derived: best first, strictly decreasing.
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 5
    assert [c.first_stage_rank for c in result.candidates] == [
        [c.id for c in short_request.candidates].index(i) for i in result.ids
    ]


async def test_top_down_partitioning(llm: LLMClient, short_request: RerankRequest) -> None:
    # Window 3, cutoff 2: first window 0-2 gives the pivot (its 2nd), the block [pivot, 3, 4]
    # is ranked against it, and a final window runs only if something climbed over the pivot.
    reranker = get_reranker("tdpart", llm, window=3, cutoff=2, template="lrl")
    result = await reranker.arerank(short_request)
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    assert result.usage.llm_calls == result.windows
    assert (result.windows, result.rounds) in ((2, 2), (3, 3))


async def test_first_ranks_from_one_real_forward_step(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    # The order against known logprobs is in test_scripted_orders; here the real server's
    # top_logprobs after "[" must give a full ranking from one generated token.
    reranker = get_reranker("first", llm, window=5, template="rank_zephyr", cross_lingual=False)
    result = await reranker.arerank(short_request)
    assert result.usage.llm_calls == 1 and result.usage.completion_tokens == 1
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    # Labels absent from the 20 alternatives are appended, recorded as one repair at most.
    assert set(result.repair_counts()) <= {"missing_appended"}
    assert result.repair_counts().get("missing_appended", 0) <= 5
    assert not result.fallbacks


async def test_many_queries_rerank_concurrently_with_separate_accounting(
    llm: LLMClient, short_request: RerankRequest
) -> None:
    candidates = short_request.candidates
    requests = [
        RerankRequest(short_request.query, candidates[i:] + candidates[:i], "eng") for i in range(3)
    ]
    reranker = ListwiseReranker(llm, window=5, max_tokens=12)
    before = llm.usage.calls
    done: list[tuple[int, int]] = []
    results = await reranker.arerank_many(requests, on_progress=lambda d, t: done.append((d, t)))
    assert done[-1] == (3, 3)
    assert [r.query for r in results] == [r.query for r in requests]
    for request, result in zip(requests, results, strict=True):
        assert sorted(result.ids) == sorted(c.id for c in request.candidates)
        assert result.usage.llm_calls == 1 and result.usage.completion_tokens <= 12
    assert llm.usage.calls - before == 3


def test_sync_wrapper(llm: LLMClient, short_request: RerankRequest) -> None:
    reranker = ListwiseReranker(llm, window=5, max_tokens=4, rank_end=3)
    result = reranker.rerank(short_request)
    # rank_end=3: only the first three are reranked; the last two keep their places.
    assert result.ids[3:] == ["deu", "swh"]
    assert sorted(result.ids[:3]) == ["eng-a", "eng-b", "fra"]
    assert result.usage.llm_calls == 1


@pytest.mark.gemma
async def test_a_base_model_ranks_through_the_transcript_template(
    gemma_target: tuple[str, str], new_llm: Callable[..., LLMClient], short_request: RerankRequest
) -> None:
    # Gemma 3 270M base has no chat template: the chat request reaches it as plain text.
    llm = new_llm(gemma_target[0], gemma_target[1], timeout=120)
    for name in ("listwise", "first"):
        result = await get_reranker(name, llm, window=5).arerank(short_request)
        assert result.usage.llm_calls == 1 and result.usage.prompt_tokens > 0
        assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
        assert not result.fallbacks
