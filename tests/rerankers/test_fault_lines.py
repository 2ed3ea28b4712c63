"""Rerankers against a scripted stand-in LLM on loopback (real sockets, no vLLM).

A server that answers garbage is a server failure: the reranker falls back (flagged) or, with
``on_failure="raise"``, raises one ServiceUnavailableError, never an exception group. An answer
holding a 5,000-digit identifier costs one repair, not the batch. A hung server reaches the
fallback within the client's deadline, for every query of a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.conftest import NewLLM, refused_port
from tests.llm.standin import CHAT, Reply, StandIn
from xling.core.errors import ServiceUnavailableError
from xling.llm import LLMClient
from xling.rerankers import RerankRequest, get_reranker

TEXTS = ["Paris is in France.", "Le chat dort.", "Nairobi ni mji mkuu.", "Der Hund bellt."]


def request(query: str = "Where is Paris?", n: int = 4) -> RerankRequest:
    return RerankRequest.from_texts(query, TEXTS[:n], ids=[f"d{i}" for i in range(n)])


@pytest.fixture
def client_of(new_llm: NewLLM) -> Callable[..., LLMClient]:
    """Builds clients with fast retries (closed after the test)."""

    def build(url: str, **options: float) -> LLMClient:
        settings = {"max_retries": 1, "backoff": 0.01, "timeout": 5.0, **options}
        return new_llm(url, "m", **settings)

    return build


async def test_malformed_json_falls_back_or_raises(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, Reply(200, b'{"choices": [{"message": '))
    client = client_of(stand_in.url)
    result = await get_reranker("listwise", client, window=4, max_tokens=8).arerank(request())
    assert result.fallback and result.ids == ["d0", "d1", "d2", "d3"]
    assert "the answer is not JSON" in result.fallbacks[0].reason
    raising = get_reranker("listwise", client, window=4, max_tokens=8, on_failure="raise")
    with pytest.raises(ServiceUnavailableError, match="chat/completions failed after 2 attempt"):
        await raising.arerank(request())


async def test_a_5000_digit_identifier_is_one_repair(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.content = "[" + "7" * 5000 + "] > [3] > [1]"
    client = client_of(stand_in.url)
    reranker = get_reranker("listwise", client, window=4, max_tokens=8)
    results = await reranker.arerank_many([request(), request("Wo ist Paris?")])
    for result in results:
        assert not result.fallback and result.ids == ["d2", "d0", "d1", "d3"]
        assert result.repair_counts() == {"out_of_range_dropped": 1, "missing_appended": 2}


async def test_raise_gives_the_first_server_error_not_a_group(new_llm: NewLLM) -> None:
    client = new_llm(f"http://127.0.0.1:{refused_port()}/v1", max_retries=0)
    reranker = get_reranker("listwise", client, window=4, on_failure="raise")
    with pytest.raises(ServiceUnavailableError, match="check that the server is running"):
        await reranker.arerank_many([request(), request("Wo ist Paris?"), request("Paris?")])
    fallback = get_reranker("listwise", client, window=4)
    results = await fallback.arerank_many([request(), request("Wo ist Paris?")])
    assert all(r.fallback for r in results)


def test_raise_from_the_sync_wrapper_is_one_error_too() -> None:
    client = LLMClient(f"http://127.0.0.1:{refused_port()}/v1", max_retries=0)
    reranker = get_reranker("pointwise", client, on_failure="raise")
    with pytest.raises(ServiceUnavailableError):
        reranker.rerank_many([request(), request("Wo ist Paris?")])


async def test_a_hung_server_reaches_the_fallback_within_the_deadline(
    stand_in: StandIn, new_llm: NewLLM
) -> None:
    stand_in.always("*", Reply(hang=True))
    # Sixteen queries, two requests at a time: each wave of two would wait out its own deadline
    # (8 x 0.8 s = 6.4 s); one shared model lookup fails once for all of them. The one lookup
    # and its few retries are the proof; the clock only has to stay under those 6.4 s.
    client = new_llm(
        stand_in.url, max_concurrency=2, timeout=0.3, max_retries=3, backoff=0.01, deadline=0.8
    )
    reranker = get_reranker("listwise", client, window=4)
    started = time.monotonic()
    results = await reranker.arerank_many([request(f"query {i}") for i in range(16)])
    elapsed = time.monotonic() - started
    assert all(r.fallback for r in results) and elapsed < 6.4, elapsed
    assert set(stand_in.seen) == {"/v1/models"} and client.usage.retries <= 2
    assert len({r.fallbacks[0].reason for r in results}) == 1
    assert "reached its 0.8 s deadline" in results[0].fallbacks[0].reason


async def test_a_failed_request_cancels_its_siblings(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    # Pointwise sends one prompt per candidate at once; the first answer is a 503 (slow enough
    # for the others to arrive) and the others hang. The failure ends the query, and the hung
    # siblings are cancelled with it instead of holding the client's slots.
    stand_in.then(CHAT, Reply(503, b"busy", trickle=0.1))
    stand_in.always(CHAT, Reply(hang=True))
    client = client_of(stand_in.url, max_retries=0, timeout=20.0)
    reranker = get_reranker("pointwise", client, scoring="generate")
    result = await reranker.arerank(request())
    assert result.fallback and "HTTP 503" in result.fallbacks[0].reason
    for _ in range(40):  # the stand-in notices closed connections within 0.05 s
        if stand_in.held >= 1 and stand_in.hanging == 0:
            break
        await asyncio.sleep(0.05)
    assert stand_in.held >= 1 and stand_in.hanging == 0
