"""``xling serve`` against real clients: the Cohere and OpenAI SDKs, plain HTTP."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import refused_port
from xling.embedders import Embedder

AUTH = {"Authorization": "Bearer k1"}


def _post(url: str, path: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=kw.pop("headers", AUTH), timeout=120, **kw)


def test_health_auth_and_request_ids(service_url: str) -> None:
    assert httpx.get(f"{service_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{service_url}/readyz")
    assert ready.status_code == 200 and ready.json()["chroma"] is True
    missing = httpx.get(f"{service_url}/v1/pools")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "API key" in missing.json()["detail"]
    wrong = httpx.get(f"{service_url}/v1/pools", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    pools = httpx.get(f"{service_url}/v1/pools", headers={**AUTH, "X-Request-ID": "abc"})
    assert pools.headers["x-request-id"] == "abc"
    assert pools.json()["data"] == [{"name": "sample", "embedder": "e5-small-q4", "count": 300}]
    assert len(httpx.get(f"{service_url}/healthz").headers["x-request-id"]) == 32
    models = httpx.get(f"{service_url}/v1/models", headers={"Authorization": "Bearer k2"}).json()
    assert {"e5-small-q4", "xling-listwise"} <= {m["id"] for m in models["data"]}
    metrics = httpx.get(f"{service_url}/metrics", headers=AUTH).text
    assert 'xling_requests_total{route="/v1/pools",status="401"}' in metrics


def test_openai_sdk_embeddings(service_url: str, e5: Embedder) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{service_url}/v1", api_key="k1")
    made = client.embeddings.create(model="e5-small-q4", input=["Jambo", "Habari ya asubuhi"])
    got = np.asarray([d.embedding for d in made.data])
    np.testing.assert_allclose(got, e5.embed(["Jambo", "Habari ya asubuhi"], "query"), atol=1e-5)
    # Usage counts the embedder's own tokens (prefix and special tokens included).
    assert made.usage.prompt_tokens == sum(
        e5.count_tokens(t, "query") for t in ["Jambo", "Habari ya asubuhi"]
    )
    # base64 (the SDK's default wire format) decodes to the same floats; the document role too.
    raw = _post(service_url, "/v1/embeddings", {"input": "Jambo", "encoding_format": "base64",
                                                 "input_type": "document"}).json()  # fmt: skip
    vector = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, e5.embed_documents(["Jambo"])[0], atol=1e-6)
    bad = _post(service_url, "/v1/embeddings", {"input": "x", "model": "st:some/model"})
    assert bad.status_code == 400 and "this server embeds with: e5-small-q4" in bad.json()["detail"]
    dims = _post(service_url, "/v1/embeddings", {"input": "x", "dimensions": 64})
    assert dims.status_code == 422 and "384 dimensions" in dims.json()["detail"]


def test_retrieve(service_url: str) -> None:
    body = {"queries": ["Who unveiled the iPhone?"], "k": 3, "langs": ["swh"], "method": "hybrid"}
    got = _post(service_url, "/v1/retrieve", body)
    assert got.status_code == 200, got.text
    hits = got.json()["results"][0]["hits"]
    assert len(hits) == 3 and all(h["lang"] == "swh" for h in hits)
    assert hits[0]["metadata"]["row"] == 60


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"queries": [], "k": 3}, 422, "queries: List should have at least 1 item"),
        ({"queries": ["x"], "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ({"queries": ["x"], "k": 5000}, 422, "k is 5000, over this server's cap of 1000"),
        ({"queries": ["x"], "pool": "nope"}, 404, "unknown pool 'nope'; served pools: sample"),
        ({"queries": ["x"], "method": "magic"}, 400, "unknown method 'magic'; use one of"),
        ({"queries": [" "]}, 422, "queries[0] is empty"),
        ({"queries": "x"}, 422, "queries: Input should be a valid list"),
    ],
)
def test_bad_retrieve_requests_are_one_detail(
    service_url: str, body: Any, status: int, detail: str
) -> None:
    got = _post(service_url, "/v1/retrieve", body)
    assert got.status_code == status and detail in got.json()["detail"], got.text
    assert _post(service_url, "/v1/retrieve", {"queries": ["ok"], "k": 1}).status_code == 200


def test_malformed_bodies(service_url: str) -> None:
    url = f"{service_url}/v1/retrieve"
    broken = httpx.post(
        url, content=b"{not json", headers={**AUTH, "content-type": "application/json"}
    )
    assert broken.status_code == 422 and "JSON" in broken.json()["detail"]
    binary = httpx.post(
        url, content=b"\xff\xfe\x00", headers={**AUTH, "content-type": "application/json"}
    )
    assert binary.status_code == 400 and "parsing the body" in binary.json()["detail"]
    huge = httpx.post(
        url, content=b"x" * 300_000, headers={**AUTH, "content-type": "application/json"}
    )
    assert huge.status_code == 413 and "over 200000 bytes" in huge.json()["detail"]
    fifty_mb = httpx.post(
        url, content=b"x" * 50_000_000, headers={**AUTH, "content-type": "application/json"}
    )
    assert fifty_mb.status_code == 413 and "over 200000 bytes" in fifty_mb.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what streams in
        yield b'{"queries": ["'
        for _ in range(100):
            yield b"y" * 10_000
        yield b'"]}'

    streamed = httpx.post(
        url, content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert streamed.status_code == 413 and "over 200000 bytes" in streamed.json()["detail"]
    many = _post(service_url, "/v1/rerank", {"query": "q", "documents": ["d"] * 60})
    assert many.status_code == 422 and "cap of 50" in many.json()["detail"]
    empty = _post(service_url, "/v2/rerank", {"query": "q", "documents": []})
    assert empty.status_code == 422 and "documents is empty" in empty.json()["detail"]
    negative = _post(service_url, "/v2/rerank", {"query": "q", "documents": ["a"], "top_n": -1})
    assert negative.status_code == 422 and "top_n" in negative.json()["detail"]
    no_llm = _post(service_url, "/v2/rerank", {"query": "q", "documents": ["a"]})
    assert no_llm.status_code == 503 and "no LLM server" in no_llm.json()["detail"]
    recipe = _post(service_url, "/v1/answer", {"question": "q", "recipe": "mixed"})
    assert recipe.status_code == 422 and "'balanced'" in recipe.json()["detail"], recipe.text
    lang = _post(service_url, "/v1/answer", {"question": "q", "instruction_lang": "fra"})
    assert lang.status_code == 422 and "'eng'" in lang.json()["detail"], lang.text
    assert _post(service_url, "/v1/retrieve", {"queries": ["still serving"]}).status_code == 200


def test_rate_limit_and_cors(make_service: Callable[..., Any]) -> None:
    with make_service(api_keys=["k1"], rate_limit=2, cors_origins=["https://app.example"]) as url:
        codes = [httpx.get(f"{url}/v1/pools", headers=AUTH).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = httpx.get(f"{url}/v1/pools", headers=AUTH)
        assert int(limited.headers["retry-after"]) >= 1 and "rate limit" in limited.json()["detail"]
        cors = httpx.options(f"{url}/v1/pools", headers={"Origin": "https://app.example",
                             "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert cors.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.vllm
def test_cohere_sdk_rerank_and_failover(
    make_service: Callable[..., Any], llm_target: tuple[str, str]
) -> None:
    import cohere

    dead = f"http://127.0.0.1:{refused_port()}/v1"
    with make_service(llm_urls=[dead, llm_target[0]], api_keys=["k1"]) as url:
        client = cohere.ClientV2(base_url=url, api_key="k1")
        documents = ["The Gripen crashed onto a runway.", "Guinness signed a lease.",
                     "Nadal beat Raonic.", "Apple unveiled the iPhone."]  # fmt: skip
        reply = client.rerank(model="xling-listwise", query="Which plane crashed?",
                              documents=documents, top_n=10)  # fmt: skip
        # top_n above the document count is clamped. Bare documents have no first-stage
        # scores, so the listwise probability is rank-only: sigmoid(3.3702 - 19.9418·r/4) for
        # ranks r = 0..3 (z = 3.3702, -1.61525, -6.6007, -11.58615), whatever the order.
        assert sorted(r.index for r in reply.results) == [0, 1, 2, 3]
        scores = [r.relevance_score for r in reply.results]
        assert scores == pytest.approx([0.96676012, 0.16586100, 0.00135757, 9.2938e-06], rel=1e-5)
        tei = httpx.post(f"{url}/rerank", json={"query": "plane", "texts": documents[:2],
                         "return_text": True}, headers=AUTH, timeout=120).json()  # fmt: skip
        assert isinstance(tei, list) and {t["index"] for t in tei} == {0, 1} and "text" in tei[0]
        # Two documents: z = 3.3702 and 3.3702 - 19.9418 / 2 = -6.6007.
        assert [t["score"] for t in tei] == pytest.approx([0.96676012, 0.00135757], rel=1e-5)
        unknown = httpx.post(f"{url}/v1/rerank", json={"query": "q", "documents": ["a"],
                             "model": "gpt-9"}, headers=AUTH)  # fmt: skip
        assert unknown.status_code == 400 and "xling-listwise" in unknown.json()["detail"]


@pytest.mark.vllm
def test_answer(make_service: Callable[..., Any], llm_target: tuple[str, str]) -> None:
    with make_service(llm_urls=[llm_target[0]]) as url:
        got = httpx.post(f"{url}/v1/answer", json={"question": "Qui a présenté l'iPhone ?"},
                         timeout=300)  # fmt: skip
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["query_language"] == "fra" and body["answer"] and "language_ok" in body
        assert body["instruction_lang"] == "fra"
        pivot = httpx.post(f"{url}/v1/answer", json={"question": "Qui a présenté l'iPhone ?",
                           "recipe": "pivot", "instruction_lang": "eng"}, timeout=300)  # fmt: skip
        assert pivot.status_code == 200, pivot.text
        assert pivot.json()["instruction_lang"] == "eng"
        assert all(p["lang"] == "eng" for p in pivot.json()["passages"])


def test_graceful_shutdown_finishes_a_request_in_flight(make_service: Callable[..., Any]) -> None:
    results: list[int] = []
    with make_service() as url:

        def slow() -> None:
            body = {"queries": ["Gripen"] * 200, "k": 50, "method": "margin"}
            results.append(httpx.post(f"{url}/v1/retrieve", json=body, timeout=120).status_code)

        thread = threading.Thread(target=slow)
        thread.start()
        import time

        time.sleep(0.3)
    thread.join(timeout=60)
    assert results == [200]


@pytest.mark.vllm
def test_backpressure_answers_503_beyond_the_waiting_bound(
    make_service: Callable[..., Any], llm_target: tuple[str, str]
) -> None:
    import asyncio

    body = {"query": "Which plane crashed?", "documents": [f"Passage {i} about planes." for i in
            range(20)]}  # fmt: skip
    with make_service(llm_urls=[llm_target[0]], max_llm_waiting=1) as url:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=300) as client:
                return await asyncio.gather(
                    *(client.post(f"{url}/v1/rerank", json=body) for _ in range(4))
                )

        replies = asyncio.run(burst())
        codes = sorted(r.status_code for r in replies)
        assert codes[0] == 200 and codes[-1] == 503, codes
        refused = next(r for r in replies if r.status_code == 503)
        assert refused.headers["retry-after"] == "1" and "waiting" in refused.json()["detail"]
        # Once the burst is over, the server takes requests again.
        assert httpx.post(f"{url}/v1/rerank", json=body, timeout=300).status_code == 200


@pytest.mark.vllm
def test_answer_streams_tokens_then_citations_and_verdict(
    make_service: Callable[..., Any], llm_target: tuple[str, str]
) -> None:
    from tests.server.sse import stream_events

    body = {"question": "What did Arthur Guinness sign in 1759?", "stream": True}
    with make_service(llm_urls=[llm_target[0]]) as url:
        got = stream_events(f"{url}/v1/answer", body, timeout=300)
    assert got.status == 200 and got.content_type.startswith("text/event-stream")
    events = got.events
    names = [n for n, _ in events]
    assert names[0] == "attempt" and names[-1] == "done" and names.count("token") > 3
    done = events[-1][1]["answer"]
    streamed = "".join(e["text"] for n, e in events if n == "token" and e["attempt"] == 0)
    # The tokens make up the first attempt's answer; the last event carries the verdict.
    assert streamed.strip() == done["attempts"][0]["answer"]
    assert done["query_language"] == "eng" and "language_ok" in done and "citations" in done
    assert done["usage"]["completion_tokens"] > 0


def test_an_llm_that_refuses_xling_is_a_502_naming_it(make_service: Callable[..., Any]) -> None:
    from tests.llm.standin import CHAT, MODELS, TOKENIZE, Reply, StandIn

    with StandIn() as llm:
        llm.always(MODELS, Reply.json({"data": [{"id": "m", "max_model_len": 2048}]}))
        llm.always(TOKENIZE, Reply.json({"tokens": [1, 2, 3]}))
        llm.always(CHAT, Reply.json({"error": {"message": "Invalid API key"}}, 401))
        with make_service(llm_urls=[llm.url], llm_model="m") as url:
            got = httpx.post(f"{url}/v1/answer", json={"question": "Who built the Gripen?"},
                             timeout=60)  # fmt: skip
    # The caller's request was fine: the server behind xling refused xling's key.
    assert got.status_code == 502, got.text
    assert "refused the API key with HTTP 401: Invalid API key" in got.json()["detail"]
