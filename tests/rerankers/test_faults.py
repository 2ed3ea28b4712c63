"""Server faults through a real proxy: 503s, answers past the timeout, a stopped server, no
logprobs, a small context. Retries are counted by the client; the reranker then succeeds,
falls back to the first-stage order (flagged) or raises, as configured."""

from __future__ import annotations

import pytest

from tests.conftest import NewLLM, refused_port
from tests.rerankers.conftest import Faults
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.llm import LLMClient
from xling.rerankers import RerankRequest, get_reranker

pytestmark = pytest.mark.vllm
CHAT = "/v1/chat/completions"


def first_stage(request: RerankRequest) -> list[str]:
    return [c.id for c in request.candidates]


async def test_503s_are_retried_then_succeed(
    fault_proxy: tuple[Faults, str], proxied_llm: LLMClient, short_request: RerankRequest
) -> None:
    faults, _ = fault_proxy
    faults.fail[CHAT] = 2  # the first two attempts of the one window answer 503
    reranker = get_reranker("listwise", proxied_llm, window=5, max_tokens=4)
    result = await reranker.arerank(short_request)
    assert proxied_llm.usage.retries == 2
    assert faults.seen[CHAT] == 3
    assert not result.fallback and result.usage.llm_calls == 1


async def test_a_server_that_keeps_failing_falls_back_or_raises(
    fault_proxy: tuple[Faults, str], proxied_llm: LLMClient, short_request: RerankRequest
) -> None:
    faults, _ = fault_proxy
    faults.fail[CHAT] = 1000
    fallback = get_reranker("listwise", proxied_llm, window=5, max_tokens=4)
    result = await fallback.arerank(short_request)
    assert result.fallback and result.ids == first_stage(short_request)
    assert result.fallbacks[0].kind == "first_stage_order"
    assert "chat/completions failed after 3 attempt(s) (HTTP 503" in result.fallbacks[0].reason
    assert proxied_llm.usage.retries == 2 and result.usage.llm_calls == 0
    raising = get_reranker("prp-heapsort", proxied_llm, top_k=2, on_failure="raise")
    with pytest.raises(ServiceUnavailableError, match="HTTP 503"):
        await raising.arerank(short_request)


async def test_answers_past_the_timeout_are_retried(
    fault_proxy: tuple[Faults, str],
    llm_target: tuple[str, str],
    short_request: RerankRequest,
    new_llm: NewLLM,
) -> None:
    faults, url = fault_proxy
    faults.delay = 3.0
    faults.slow[CHAT] = 1  # the first attempt answers after 3 s; the client waits 1.5 s
    client = new_llm(url, llm_target[1], timeout=1.5, max_retries=2, backoff=0.05)
    # A one-token answer fits the 0.5 s timeout once the proxy stops stalling.
    reranker = get_reranker("pointwise", client, rank_end=1)
    result = await reranker.arerank(short_request)
    assert client.usage.retries == 1 and not result.fallback
    assert result.usage.llm_calls == 1
    faults.slow[CHAT] = 1000
    slow = await reranker.arerank(short_request)
    assert slow.fallback and "ReadTimeout" in slow.fallbacks[0].reason
    assert slow.ids == first_stage(short_request)


async def test_a_stopped_server_falls_back_or_raises(
    short_request: RerankRequest, new_llm: NewLLM
) -> None:
    client = new_llm(
        f"http://127.0.0.1:{refused_port()}/v1", timeout=1, max_retries=1, backoff=0.01
    )
    result = await get_reranker("tdpart", client, window=3, cutoff=1).arerank(short_request)
    assert result.fallback and result.ids == first_stage(short_request)
    assert "ConnectError" in result.fallbacks[0].reason and client.usage.retries == 1
    with pytest.raises(ServiceUnavailableError, match="check that the server is running"):
        await get_reranker("pointwise", client, on_failure="raise").arerank(short_request)


async def test_a_server_without_logprobs(
    fault_proxy: tuple[Faults, str], proxied_llm: LLMClient, short_request: RerankRequest
) -> None:
    faults, _ = fault_proxy
    faults.strip_logprobs = True
    request = RerankRequest(short_request.query, short_request.candidates[:3])
    # Asked for logprobs explicitly: a clear error, whatever on_failure says.
    with pytest.raises(InvalidInputError, match="returned no logprobs"):
        await get_reranker("first", proxied_llm, window=3).arerank(request)
    with pytest.raises(InvalidInputError, match="returned no logprobs"):
        await get_reranker("prp-allpair", proxied_llm, scoring="logprob").arerank(request)
    # "auto": the documented fallback is generation, recorded once per request.
    prp = get_reranker("prp-allpair", proxied_llm, max_tokens=4)
    result = await prp.arerank(request)
    assert [f.kind for f in result.fallbacks] == ["generation"]
    # The first prompt found the logprobs missing; then 6 generated answers (3 pairs x 2).
    assert result.usage.llm_calls == 1 + 6
    listwise = get_reranker("listwise", proxied_llm, window=3, scoring="auto", max_tokens=6)
    result = await listwise.arerank(request)
    assert [f.kind for f in result.fallbacks] == ["generation"]
    assert sorted(result.ids) == sorted(c.id for c in request.candidates)


async def test_a_window_larger_than_the_context_allows(
    fault_proxy: tuple[Faults, str], proxied_llm: LLMClient, short_request: RerankRequest
) -> None:
    faults, _ = fault_proxy
    faults.max_model_len = 512  # a small-context server
    reranker = get_reranker("listwise", proxied_llm, window=20, on_failure="fallback")
    many = RerankRequest.from_texts(
        short_request.query, [c.text for c in short_request.candidates] * 6
    )
    with pytest.raises(InvalidInputError, match="20 passages do not fit the server's context"):
        await reranker.arerank(many)
    assert faults.seen[CHAT] == 0  # refused before any generation
