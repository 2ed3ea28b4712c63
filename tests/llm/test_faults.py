"""The LLM client against a scripted stand-in server on loopback (real sockets, no vLLM).

A server that answers malformed JSON, a body cut short or a 200 of the wrong shape has failed
like one answering 503: retried, then one ServiceUnavailableError naming the endpoint. A hung or
trickling server costs at most the deadline. Bad constructor values are refused by name.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import NewLLM
from tests.llm.standin import CHAT, MODELS, TOKENIZE, Reply, StandIn
from xling.core.errors import InvalidInputError, ServerRefusedError, ServiceUnavailableError
from xling.llm import LLMClient

MESSAGES = [{"role": "user", "content": "Say yes."}]
GOOD = Reply.chat("yes")


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def client_of(stand_in: StandIn, new_llm: NewLLM) -> Callable[..., LLMClient]:
    """Builds clients of the stand-in with fast retries (closed after the test)."""

    def build(**options: Any) -> LLMClient:
        settings: dict[str, Any] = {"max_retries": 2, "backoff": 0.01, "timeout": 5.0, **options}
        return new_llm(stand_in.url, "m", **settings)

    return build


BAD_ANSWERS = {
    "not JSON": Reply(200, b"<html>gateway</html>"),
    "JSON cut short": Reply(200, b'{"choices": [{"message": {"content": "[1] >'),
    "body cut short": Reply(200, b'{"choices": [', declared_length=500),
    "no choices": Reply.json({"id": "x", "object": "chat.completion"}),
    "empty choices": Reply.json({"choices": []}),
    "choice not an object": Reply.json({"choices": ["yes"]}),
    "no message": Reply.json({"choices": [{"text": "yes"}]}),
    "content not text": Reply.json({"choices": [{"message": {"content": 5}}]}),
    "usage not integers": Reply.json(
        {"choices": [{"message": {"content": "yes"}}], "usage": {"prompt_tokens": "many"}}
    ),
    "logprobs malformed": Reply.json(
        {"choices": [{"message": {"content": "yes"}, "logprobs": {"content": [{"token": 1}]}}]}
    ),
    "5,000-digit number": Reply(
        200,
        b'{"choices": [{"message": {"content": "y"}}], "usage": {"prompt_tokens": '
        + b"9" * 5000
        + b"}}",
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
async def test_a_bad_200_answer_is_a_server_failure(
    stand_in: StandIn, name: str, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, BAD_ANSWERS[name])
    client = client_of()
    with pytest.raises(ServiceUnavailableError) as info:
        await client.achat(MESSAGES, max_tokens=2)
    message = str(info.value)
    assert message.startswith(f"LLM endpoint {stand_in.url}/chat/completions failed after 3 ")
    assert "check that the server is running" in message and "\n" not in message
    assert stand_in.seen[CHAT] == 3 and client.usage.retries == 2  # retried like a 503


async def test_a_bad_answer_then_a_good_one_succeeds(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.then(CHAT, BAD_ANSWERS["JSON cut short"], BAD_ANSWERS["no choices"], GOOD)
    client = client_of()
    completion = await client.achat(MESSAGES, max_tokens=2)
    assert completion.text == "yes" and completion.completion_tokens == 3
    assert client.usage.retries == 2 and client.usage.calls == 1


@pytest.mark.parametrize(
    ("path", "reply", "call"),
    [
        (MODELS, Reply.json({"models": []}), "model"),
        (MODELS, Reply.json({"data": [{"name": "x"}]}), "model"),
        (TOKENIZE, Reply.json({"tokens": ["a", "b"]}), "tokenize"),
        (TOKENIZE, Reply(200, b"{"), "tokenize"),
    ],
)
async def test_bad_server_information_is_a_server_failure(
    stand_in: StandIn, path: str, reply: Reply, call: str, new_llm: NewLLM
) -> None:
    stand_in.always(path, reply)
    client = new_llm(stand_in.url, max_retries=1, backoff=0.01)
    failed = r"failed after 2 attempt\(s\) \((malformed answer|the answer is not JSON)"
    with pytest.raises(ServiceUnavailableError, match=failed):
        await (client.amodel() if call == "model" else client.atokenize("a b c"))


async def test_a_refused_request_is_not_retried(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, Reply.json({"error": {"message": "max_tokens is too large"}}, 400))
    client = client_of()
    with pytest.raises(ServerRefusedError, match="HTTP 400: max_tokens is too large"):
        await client.achat(MESSAGES, max_tokens=10**6)
    assert stand_in.seen[CHAT] == 1


async def test_a_503_is_retried_then_reported_unavailable(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, Reply.json({"error": {"message": "engine is loading"}}, 503))
    client = client_of()
    with pytest.raises(ServiceUnavailableError) as info:
        await client.achat(MESSAGES, max_tokens=2)
    assert str(info.value) == (
        f"LLM endpoint {stand_in.url}/chat/completions failed after 3 attempt(s) (HTTP 503: "
        '{"error": {"message": "engine is loading"}}); check that the server is running and '
        "reachable"
    )
    assert info.value.exit_code == 3 and stand_in.seen[CHAT] == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_says_so_and_is_not_retried(
    stand_in: StandIn, status: int, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, Reply.json({"error": {"message": "Invalid API key"}}, status))
    client = client_of(api_key="wrong")
    with pytest.raises(ServerRefusedError) as info:
        await client.achat(MESSAGES, max_tokens=2)
    assert str(info.value) == (
        f"LLM endpoint {stand_in.url}/chat/completions refused the API key with HTTP {status}: "
        "Invalid API key; pass the key it accepts"
    )
    assert not isinstance(info.value, InvalidInputError)  # the server said no, not bad input
    assert (info.value.status, info.value.server_message) == (status, "Invalid API key")
    assert info.value.exit_code == 5 and stand_in.seen[CHAT] == 1


async def test_a_refused_stream_and_a_malformed_chunk(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    client = client_of()
    stand_in.then(CHAT, Reply.json({"detail": "Not authenticated"}, 401))
    with pytest.raises(ServerRefusedError, match="refused the API key with HTTP 401: Not auth"):
        async for _ in client.achat_stream(MESSAGES):
            pass
    stand_in.then(CHAT, Reply(200, b"data: [1, 2]\n\n"))
    with pytest.raises(ServiceUnavailableError, match=r"answered a malformed body \(a streamed"):
        async for _ in client.achat_stream(MESSAGES):
            pass


async def test_a_hung_server_costs_at_most_the_deadline(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, Reply(hang=True))
    # Twenty attempts of 0.4 s would take 8 s; the 1 s deadline ends the request after 3.
    client = client_of(timeout=0.4, max_retries=19, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as info:
        await client.achat(MESSAGES)
    elapsed = time.monotonic() - started
    # The attempts show the deadline at work (0.4 + 0.4 + 0.2 s; fewer on a loaded machine);
    # the clock only has to stay under the 8 s the attempts would take without it.
    assert 1 <= client.usage.retries <= 2
    assert "ReadTimeout" in str(info.value) and "reached its 1 s deadline" in str(info.value)
    assert 0.9 < elapsed < 6.0, elapsed


async def test_a_trickling_answer_is_cut_at_the_attempt_timeout(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    # One byte every 0.05 s keeps a 0.5 s read timeout happy; 400 bytes would take 20 s.
    stand_in.always(CHAT, Reply(200, b" " * 399 + b"{", trickle=0.05))
    client = client_of(timeout=0.5, max_retries=1)
    started = time.monotonic()
    # (A loaded machine may stall a byte past the read timeout: ReadTimeout, as bounded.)
    bounded = r"\((no complete answer within 0\.5 s|ReadTimeout)"
    with pytest.raises(ServiceUnavailableError, match=bounded):
        await client.achat(MESSAGES)
    assert time.monotonic() - started < 6


async def test_waiting_requests_give_up_when_the_server_is_found_down(
    stand_in: StandIn, client_of: Callable[..., LLMClient]
) -> None:
    stand_in.always(CHAT, Reply(hang=True))
    client = client_of(max_concurrency=1, timeout=0.3, max_retries=1, deadline=0.8)
    outcomes = await asyncio.gather(
        *(client.achat(MESSAGES) for _ in range(6)), return_exceptions=True
    )
    # The first request used its two attempts; the five behind it did not wait out their own
    # (which would take 6 x 0.6 s and 12 requests): the request count is the proof, so no
    # wall-clock bound is asserted on a loaded machine.
    assert all(isinstance(o, ServiceUnavailableError) for o in outcomes)
    assert len({str(o) for o in outcomes}) == 1
    assert client.usage.retries == 1 and stand_in.seen[CHAT] == 2
    # A request made afterwards tries the server again.
    stand_in.always(CHAT, GOOD)
    assert (await client.achat(MESSAGES)).text == "yes"


async def test_concurrent_callers_share_one_model_lookup(
    stand_in: StandIn, new_llm: NewLLM
) -> None:
    client = new_llm(stand_in.url)  # no model given: the server's first is used
    completions = await asyncio.gather(*(client.achat(MESSAGES) for _ in range(8)))
    assert {c.text for c in completions} == {stand_in.content}
    assert stand_in.seen[MODELS] == 1 and await client.amodel() == "stand-in"


def test_defaults_suit_an_interactive_user() -> None:
    client = LLMClient("http://127.0.0.1:9/v1")
    assert (client.timeout, client.max_retries, client.deadline) == (30.0, 3, 90.0)
    # A longer timeout given explicitly still fits one whole attempt (the test fixtures' 120 s).
    assert LLMClient("http://127.0.0.1:9", timeout=120).deadline == 120.0
    assert LLMClient("http://127.0.0.1:9", timeout=120, deadline=5).deadline == 5.0


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"max_concurrency": 0}, "max_concurrency=0"),
        ({"max_concurrency": -1}, "max_concurrency=-1"),
        ({"max_concurrency": 2.5}, "max_concurrency=2.5"),
        ({"max_concurrency": True}, "max_concurrency=True"),
        ({"timeout": -1}, "timeout=-1"),
        ({"timeout": 0}, "timeout=0"),
        ({"timeout": math.inf}, "timeout=inf"),
        ({"timeout": math.nan}, "timeout=nan"),
        ({"timeout": "30"}, "timeout='30'"),
        ({"timeout": None}, "timeout=None"),
        ({"max_retries": -1}, "max_retries=-1"),
        ({"max_retries": 1.0}, "max_retries=1.0"),
        ({"backoff": -0.5}, "backoff=-0.5"),
        ({"deadline": 0}, "deadline=0"),
        ({"deadline": -5}, "deadline=-5"),
        ({"deadline": math.inf}, "deadline=inf"),
        ({"model": ""}, "model=''"),
        ({"model": 7}, "model=7"),
        ({"api_key": 7}, "api_key"),
    ],
)
def test_bad_settings_are_refused_by_name(options: dict[str, Any], shown: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(shown) + ".*is not allowed"):
        LLMClient("http://127.0.0.1:9/v1", **options)


@pytest.mark.parametrize(
    "url", ["ftp://x", "http://", "http://h:port/v1", "http://[::1", "localhost:8000", 8000, None]
)
def test_bad_urls_are_refused_in_one_line(url: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"not allowed; use http\(s\)://host:port\S* \(."):
        LLMClient(url)
