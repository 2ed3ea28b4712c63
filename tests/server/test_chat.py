"""``POST /v1/chat/completions`` on a real uvicorn server, called with the ``openai`` SDK (sync,
async, streaming) over an English pool, answered by the real vLLM server (SmolLM2)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.server.conftest import running
from xling.data import sample_path
from xling.embedders import Embedder
from xling.server.config import ServiceConfig
from xling.store import Pool, load_lines

GUINNESS = "Qui a signé un bail pour la brasserie St James' Gate à Dublin ?"
MODEL = "xling:english"


@pytest.fixture(scope="module")
def chat_db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    """A database with one pool of the 100 English FLORES sample lines."""
    db = tmp_path_factory.mktemp("chat") / "db"
    Pool.open("english", e5, path=db).index(load_lines(sample_path("eng"), "eng"))
    return db


@pytest.fixture(scope="module")
def no_llm_url(chat_db: Path) -> Iterator[str]:
    """A keyed service of every pool of the database, without an LLM."""
    with running(ServiceConfig(chroma_path=str(chat_db), api_keys=["k1"])) as url:
        yield url


class _Proxy:
    """A pass-through TCP proxy to the real vLLM server that records, per connection, whether
    xling closed it before the LLM's stream ended (``data: [DONE]`` never came through)."""

    def __init__(self, target: str) -> None:
        parsed = httpx.URL(target)
        self.host, self.port = parsed.host, parsed.port or 80
        self.closed_early: list[bool] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"
        self.ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        seen = {"stream": False, "done": False}
        tail = b""

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bool) -> None:
            nonlocal tail
            try:
                while data := await src.read(65536):
                    if keep:  # a keep-alive connection carries several responses: scan them all
                        text, tail = tail + data, data[-32:]
                        seen["stream"] |= b"text/event-stream" in text
                        seen["done"] |= b"data: [DONE]" in text
                    dst.write(data)
                    await dst.drain()
            except OSError:  # a reset: the side went away
                pass

        down = asyncio.ensure_future(pipe(up_reader, writer, True))
        await pipe(reader, up_writer, False)  # ends when xling closes its side
        if seen["stream"]:
            self.closed_early.append(not seen["done"])
        down.cancel()
        up_writer.close()
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def proxy(llm_target: tuple[str, str]) -> Iterator[_Proxy]:
    p = _Proxy(llm_target[0])
    yield p
    p.close()


@pytest.fixture(scope="module")
def chat_url(chat_db: Path, llm_target: tuple[str, str], proxy: _Proxy) -> Iterator[str]:
    """A service of every pool of the database, its LLM the real vLLM server (via the proxy)."""
    config = ServiceConfig(chroma_path=str(chat_db), llm_urls=[proxy.url],
                           llm_model=llm_target[1], api_keys=["k1"])  # fmt: skip
    with running(config) as url:
        yield url


def test_models_list_every_readable_pool_including_new_ones(
    no_llm_url: str, chat_db: Path, e5: Embedder
) -> None:
    client = openai.OpenAI(base_url=f"{no_llm_url}/v1", api_key="k1")
    ids = {m.id: m for m in client.models.list().data}
    assert ids[MODEL].owned_by == "xling"
    Pool.open("later", e5, path=chat_db).index(load_lines(sample_path("eng"), "eng")[:3])
    assert "xling:later" in {m.id for m in client.models.list().data}  # no restart


def test_bad_chats_are_answered_with_a_detail(no_llm_url: str) -> None:
    client = openai.OpenAI(base_url=f"{no_llm_url}/v1", api_key="k1", max_retries=0)
    question = [{"role": "user", "content": GUINNESS}]
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=question)  # type: ignore[arg-type]
    detail = caught.value.response.json()["detail"]
    assert "unknown model 'gpt-4o'" in detail and "xling:english" in detail
    with pytest.raises(openai.NotFoundError, match="unknown model 'xling:english:nope'"):
        client.chat.completions.create(model="xling:english:nope", messages=question)  # type: ignore[arg-type]
    with pytest.raises(openai.UnprocessableEntityError, match="n=2 is not supported"):
        client.chat.completions.create(model=MODEL, messages=question, n=2)  # type: ignore[arg-type]
    with pytest.raises(openai.UnprocessableEntityError, match="must end with a user message"):
        client.chat.completions.create(
            model=MODEL, messages=[*question, {"role": "assistant", "content": "Guinness."}]
        )  # type: ignore[arg-type]
    # 1 MB of history: under the 2 MB body cap, over the 500,000 characters of a chat.
    big = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x" * 10_000}
           for i in range(100)] + question  # fmt: skip
    reply = httpx.post(f"{no_llm_url}/v1/chat/completions", json={"model": MODEL, "messages": big},
                       headers={"Authorization": "Bearer k1"}, timeout=30)  # fmt: skip
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("the chat's messages hold 1000063 characters")
    # A valid chat without an LLM: 503 with a detail.
    with pytest.raises(openai.InternalServerError, match="no LLM server"):
        client.chat.completions.create(model=MODEL, messages=question)  # type: ignore[arg-type]
    assert httpx.get(f"{no_llm_url}/healthz").status_code == 200


def _check_xling(xling: dict[str, Any], text: str) -> None:
    """The extension's shape, and citation flags that agree with the ``[n]`` in ``text``."""
    passages = xling["passages"]
    assert [p["n"] for p in passages] == list(range(1, len(passages) + 1))
    assert all(set(p) >= {"id", "text", "title", "section", "score", "cited"} for p in passages)
    shown = {int(n) for n in re.findall(r"\[(\d)\]", text)} & {p["n"] for p in passages}
    assert {p["n"] for p in passages if p["cited"]} == shown
    verdicts = [a["verdict"] for a in xling["attempts"]]
    assert xling["verdict"] in verdicts
    assert xling["reasked"] == (verdicts[0] != "correct") == (len(verdicts) == 2)
    assert xling["language"] == "fra"


@pytest.mark.vllm
async def test_a_three_turn_french_chat_over_an_english_pool(chat_url: str) -> None:
    auth = {"base_url": f"{chat_url}/v1", "api_key": "k1", "timeout": 600, "max_retries": 0}
    messages: list[Any] = [
        {"role": "system", "content": "Tu es l'assistant d'une brasserie."},
        {"role": "user", "content": GUINNESS},
    ]
    # Turn 1, sync and not streamed: a first question is not rewritten.
    first = openai.OpenAI(**auth).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=60
    )
    assert first.object == "chat.completion" and first.choices[0].finish_reason == "stop"
    message = first.choices[0].message
    xling = message.model_extra["xling"]  # type: ignore[index]
    assert (xling["rewritten"], xling["standalone_question"]) == (False, GUINNESS)
    assert xling["system"] == "Tu es l'assistant d'une brasserie."
    _check_xling(xling, message.content or "")
    # The Guinness lease (line 45 of the English sample) is among the passages.
    assert any("St James' Gate" in p["text"] for p in xling["passages"])
    assert first.usage is not None and first.usage.total_tokens > 0

    # Turn 2, async and streamed: the follow-up is rewritten with turn 1's entity.
    messages += [{"role": "assistant", "content": message.content},
                 {"role": "user", "content": "Et pour combien d'années ?"}]  # fmt: skip
    stream = await openai.AsyncOpenAI(**auth).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=60, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1 and chunks[-1].choices == [] and chunks[-1].usage is not None
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    xling = final[0].model_extra["xling"]  # type: ignore[index]
    assert xling["rewritten"] and xling["method"] in {"rewrite", "joined"}
    assert any(name in xling["standalone_question"] for name in ("Guinness", "St James"))
    # What was streamed is every attempt; the answer kept is one of them.
    assert xling["answer"] in streamed
    _check_xling(xling, xling["answer"])

    # Turn 3, sync and streamed.
    third = "Combien gagne son entreprise aujourd'hui ?"
    messages += [{"role": "assistant", "content": xling["answer"]},
                 {"role": "user", "content": third}]  # fmt: skip
    with openai.OpenAI(**auth).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=60, stream=True
    ) as stream3:
        chunks3 = list(stream3)
    xling = chunks3[-1].model_extra["xling"]  # type: ignore[index]
    assert xling["rewritten"] and xling["history_turns"] == 4
    assert any(name in xling["standalone_question"] for name in ("Guinness", "St James"))
    _check_xling(xling, xling["answer"])


@pytest.mark.vllm
def test_a_long_history_and_an_abandoned_stream_leave_the_server_serving(
    chat_url: str, proxy: _Proxy
) -> None:
    headers = {"Authorization": "Bearer k1"}
    # 500 messages: the oldest turns are dropped to fit the LLM's context; the answer completes.
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Message {i}."}
               for i in range(499)] + [{"role": "user", "content": GUINNESS}]  # fmt: skip
    body = {"model": MODEL, "messages": history, "max_tokens": 30}
    reply = httpx.post(f"{chat_url}/v1/chat/completions", json=body, headers=headers, timeout=600)
    assert reply.status_code == 200, reply.text
    xling = reply.json()["choices"][0]["message"]["xling"]
    assert xling["rewritten"] and xling["history_turns"] + xling["dropped_turns"] == 499
    # 1,024 history tokens hold at most 146 turns of "Message N." (3 tokens and 4 of labels).
    assert xling["dropped_turns"] >= 499 - 146

    # A client that goes away after the first words: xling closes the LLM's stream.
    before = len(proxy.closed_early)
    body = {"model": MODEL, "messages": [{"role": "user", "content": GUINNESS}],
            "max_tokens": 160, "stream": True}  # fmt: skip
    with httpx.stream("POST", f"{chat_url}/v1/chat/completions", json=body, headers=headers,
                      timeout=600) as response:  # fmt: skip
        for line in response.iter_lines():
            data = json.loads(line[6:]) if line.startswith("data: {") else {}
            if data.get("choices") and data["choices"][0]["delta"].get("content"):
                break  # abandon the stream at its first words
    deadline = time.monotonic() + 60
    while len(proxy.closed_early) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proxy.closed_early[before:] == [True]
    assert httpx.get(f"{chat_url}/healthz").status_code == 200
    models = httpx.get(f"{chat_url}/v1/models", headers=headers).json()
    assert MODEL in [m["id"] for m in models["data"]]
