"""The shared LLM client against the real vLLM server, and against real faulty sockets."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import NewLLM, free_port, refused_port
from xling.core.errors import InvalidInputError, ServerRefusedError, ServiceUnavailableError
from xling.llm import LLMClient, ServerHandle

pytestmark = pytest.mark.vllm

PROMPT = "English sentence\nGood morning, my friend.\nFrench translation\n"


async def test_completion_with_logprobs_and_stop(llm: LLMClient) -> None:
    out = await llm.acomplete(PROMPT, max_tokens=12, logprobs=3, stop=["\n"])
    assert out.text and "\n" not in out.text
    assert out.finish_reason in {"stop", "length"}
    assert out.prompt_tokens > 5 and 0 < out.completion_tokens <= 12
    assert out.logprobs is not None and len(out.logprobs) == out.completion_tokens
    first = out.logprobs[0]
    assert first.logprob <= 0 and 1 <= len(first.top) <= 4
    # Greedy decoding: the chosen token is the most likely alternative.
    assert max(first.top.values()) == pytest.approx(first.logprob, abs=1e-4)
    assert llm.usage.calls == 1 and llm.usage.completion_tokens == out.completion_tokens


async def test_chat_with_top_logprobs(llm: LLMClient) -> None:
    out = await llm.achat([{"role": "user", "content": "Say yes or no: is Paris in France?"}],
                         max_tokens=3, logprobs=5)  # fmt: skip
    assert out.logprobs is not None and len(out.logprobs[0].top) == 5
    assert out.completion_tokens <= 3


async def test_greedy_is_deterministic_under_concurrency(llm: LLMClient) -> None:
    outs = await asyncio.gather(*(llm.acomplete(PROMPT, max_tokens=8) for _ in range(6)))
    assert len({o.text for o in outs}) == 1


async def test_tokenizer_truncation_handles_scripts_without_spaces(llm: LLMClient) -> None:
    text = "機械翻訳は言語の壁を越えるための重要な技術です。" * 4
    tokens = await llm.atokenize(text)
    assert len(tokens) > 20
    cut = await llm.atruncate(text, 10)
    assert len(await llm.atokenize(cut)) <= 10 + 1 and text.startswith(cut[:3])
    assert await llm.atruncate("short", 10) == "short"
    assert await llm.amax_model_len() == 8192


def test_sync_wrappers(vllm_server: ServerHandle) -> None:
    client = LLMClient(vllm_server.url)
    assert client.complete(PROMPT, max_tokens=4).completion_tokens <= 4
    assert asyncio.run(client.amodel()) == vllm_server.model


async def test_server_side_errors_are_clear(llm: LLMClient) -> None:
    with pytest.raises(ServerRefusedError, match=r"refused the request with HTTP 400"):
        await llm.acomplete(PROMPT, max_tokens=100_000)


@pytest.mark.parametrize("url", ["localhost:8000", "", "ftp://x"])
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(InvalidInputError, match="is not allowed; use http"):
        LLMClient(url)


class FlakyHandler(BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` POSTs, sleeps `delay` s, then a valid completion."""

    failures = 0
    delay = 0.0
    seen = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        type(self).seen += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        if type(self).seen <= self.failures:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"busy")
            return
        body = json.dumps({
            "choices": [{"text": "ok", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, type[FlakyHandler]]]:
    handler = type("Handler", (FlakyHandler,), {"failures": 0, "delay": 0.0, "seen": 0})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


@pytest.mark.parametrize("failures", [1, 2])
async def test_retries_then_succeeds(
    flaky_server: tuple[str, type[FlakyHandler]], failures: int, new_llm: NewLLM
) -> None:
    url, handler = flaky_server
    handler.failures = failures
    client = new_llm(url, "m", max_retries=3, backoff=0.01)
    assert (await client.acomplete("x")).text == "ok"
    assert client.usage.retries == failures and handler.seen == failures + 1


async def test_gives_up_with_the_endpoint_named(
    flaky_server: tuple[str, type[FlakyHandler]], new_llm: NewLLM
) -> None:
    url, handler = flaky_server
    handler.failures = 99
    client = new_llm(url, "m", max_retries=2, backoff=0.01)
    with pytest.raises(
        ServiceUnavailableError,
        match=rf"{url}/v1/completions failed after 3 attempt\(s\) \(HTTP 503",
    ):
        await client.acomplete("x")
    assert handler.seen == 3


async def test_timeouts_are_retried(
    flaky_server: tuple[str, type[FlakyHandler]], new_llm: NewLLM
) -> None:
    url, handler = flaky_server
    handler.delay = 1.0
    client = new_llm(url, "m", timeout=0.2, max_retries=1, backoff=0.01)
    with pytest.raises(ServiceUnavailableError, match="ReadTimeout"):
        await client.acomplete("x")
    assert client.usage.retries == 1


async def test_concurrency_is_bounded(
    flaky_server: tuple[str, type[FlakyHandler]], new_llm: NewLLM
) -> None:
    url, handler = flaky_server
    handler.delay = 0.3
    client = new_llm(url, "m", max_concurrency=2)
    start = time.monotonic()
    await asyncio.gather(*(client.acomplete("x") for _ in range(6)))
    # 6 requests, 2 at a time, 0.3 s each: three waves.
    assert time.monotonic() - start >= 0.85


async def test_unreachable_server(new_llm: NewLLM) -> None:
    url = f"http://127.0.0.1:{refused_port()}"
    client = new_llm(url, "m", max_retries=1, backoff=0.01)
    with pytest.raises(
        ServiceUnavailableError, match=rf"{url}/v1/completions failed after 2 attempt"
    ):
        await client.acomplete("x")
