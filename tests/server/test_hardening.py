"""What an attack on the service found (issue 24), each fixed: readiness probed afresh, caps on
every size a request can ask for, bad input answered 422 (not 500), no backend address in a
reply, a streamed failure ending in ``error``, streams admitted when they arrive, key guessing
throttled. The LLM faults come from a stand-in on loopback (tests/llm/standin.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import refused_port
from tests.llm.standin import CHAT, MODELS, Reply, StandIn
from tests.server.sse import stream_events
from xling.core.errors import ServerRefusedError, ServiceUnavailableError

AUTH = {"Authorization": "Bearer k1"}
JSON = {**AUTH, "content-type": "application/json"}
LLM_DOWN = "the LLM service is unavailable; try again shortly"


def _post(url: str, path: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=kw.pop("headers", AUTH), timeout=60, **kw)


def _readyz(url: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    got = httpx.get(f"{url}/readyz", timeout=10)
    return got.status_code, got.json(), time.monotonic() - started


# -- /readyz ----------------------------------------------------------------------------------
def test_readyz_probes_the_llm_each_time_and_names_what_is_down(
    make_service: Callable[..., Any],
) -> None:
    down = {"ready": False, "chroma": True, "llm": False, "llm_servers": {"up": 0, "of": 1},
            "down": ["llm"]}  # fmt: skip
    with StandIn() as llm, make_service(llm_urls=[llm.url]) as url:
        status, body, _ = _readyz(url)
        assert (status, body) == (200, {"ready": True, "chroma": True, "llm": True,
                                        "llm_servers": {"up": 1, "of": 1}, "down": []})  # fmt: skip
        # The server's model name was looked up above; a failing server is still found down.
        for fault in (Reply.json({"error": "overloaded"}, 503), Reply(200, b"<html>garbage"),
                      Reply(hang=True)):  # fmt: skip
            llm.always(MODELS, fault)
            status, body, seconds = _readyz(url)
            assert (status, body) == (503, down), fault
            assert seconds < 4, f"{fault}: /readyz took {seconds:.1f} s"
            assert llm.url.split("/v1")[0] not in json.dumps(body)
    # A fresh server whose LLM refuses connections, and one whose LLM hangs from the start.
    dead = f"http://127.0.0.1:{refused_port()}/v1"
    with make_service(llm_urls=[dead]) as url:
        assert _readyz(url)[:2] == (503, down)
    with StandIn() as llm, make_service(llm_urls=[llm.url]) as url:
        llm.always(MODELS, Reply(hang=True))
        status, body, seconds = _readyz(url)
        assert (status, body) == (503, down) and seconds < 4


# -- caps -------------------------------------------------------------------------------------
def test_answer_k_is_capped_by_max_k(service_url: str) -> None:
    got = _post(service_url, "/v1/answer", {"question": "Who?", "k": 1_000_000_000})
    assert got.status_code == 422, got.text
    assert got.json() == {"detail": "k is 1000000000, over this server's cap of 1000"}


def test_retrieve_caps_queries_times_k(service_url: str) -> None:
    body = {"queries": [f"question {i}" for i in range(20)], "k": 1000}
    got = _post(service_url, "/v1/retrieve", body)
    assert got.status_code == 422, got.text
    assert got.json() == {"detail": "the number of hits asked (20 queries x k=1000) is 20000, "
                                    "over this server's cap of 10000"}  # fmt: skip
    # 10 x 1000 is the cap itself: allowed.
    assert _post(service_url, "/v1/retrieve", {**body, "queries": body["queries"][:10]}).is_success


# -- bad input is 422, and nothing is logged as an internal error ------------------------------
@pytest.mark.parametrize(
    ("path", "raw", "detail"),
    [
        ("/v1/retrieve", b'{"queries": ["x"], "where": {"$foo": 1}}',
         "where={'$foo': 1} is not a valid Chroma filter (unknown operator '$foo' where a field "
         "name, $and or $or belongs)"),
        ("/v1/retrieve", b'{"queries": ["x"], "where": {"source": {"$bar": 1}}}',
         "where={'source': {'$bar': 1}} is not a valid Chroma filter (Expected where operator "
         "to be one of $gt, $gte, $lt, $lte, $ne, $eq, $in, $nin, $contains, $not_contains, got "
         "$bar)"),
        ("/v1/retrieve", b'{"queries": ["ok", "caf\\ud800"]}',
         "queries[1] has a lone surrogate (U+D800) at character 3; send valid Unicode"),
        ("/v1/embeddings", b'{"input": ["\\udfff"]}',
         "input[0] has a lone surrogate (U+DFFF) at character 0; send valid Unicode"),
        ("/v1/retrieve", b'{"queries": ["x"], "where": {"source": "\\ud800"}}',
         "where={'source': '\\ud800'} is not a valid Chroma filter (where has a lone "
         "surrogate (U+D800) at character 0; send valid Unicode)"),
    ],
)  # fmt: skip
def test_bad_filters_and_lone_surrogates_are_422_naming_the_value(
    service_url: str, path: str, raw: bytes, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        got = httpx.post(f"{service_url}{path}", content=raw, headers=JSON, timeout=60)
    assert got.status_code == 422, got.text
    assert got.json()["detail"].startswith(detail), got.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- no backend address reaches a client --------------------------------------------------------
def test_503_names_the_service_down_not_its_address(
    make_service: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    port = refused_port()
    with make_service(llm_urls=[f"http://127.0.0.1:{port}/v1"], api_keys=["k1"]) as url:
        with caplog.at_level(logging.WARNING, logger="xling.server"):
            rerank = _post(url, "/v2/rerank", {"query": "q", "documents": ["a", "b"]})
            answer = _post(url, "/v1/answer", {"question": "Who built the Gripen?"})
    for got in (rerank, answer):
        assert (got.status_code, got.json()) == (503, {"detail": LLM_DOWN}), got.text
        assert got.headers["retry-after"] == "5"
    # The address and the upstream error are in the server's log.
    assert any(str(port) in r.getMessage() for r in caplog.records)


def test_public_details_name_the_service() -> None:
    from xling.server.outages import public_detail

    chroma = ServiceUnavailableError(
        "Chroma at http://10.0.0.5:8000 stopped answering while listing pools (ConnectError: "
        "[Errno 111] Connection refused)"
    )
    assert public_detail(chroma) == "the vector database is unavailable; try again shortly"
    llm = ServiceUnavailableError(
        "LLM endpoint http://10.0.0.7:8000/v1/models failed after 1 attempt(s) (HTTP 503: x)"
    )
    assert public_detail(llm) == LLM_DOWN
    refused = ServerRefusedError(
        "LLM endpoint http://10.0.0.7:8000/v1/chat/completions refused the API key with HTTP "
        "401: Invalid API key; pass the key it accepts",
        url="http://10.0.0.7:8000/v1/chat/completions", status=401,
        server_message="Invalid API key",
    )  # fmt: skip
    assert public_detail(refused) == (
        "the LLM service refused the API key with HTTP 401: Invalid API key; pass the key it "
        "accepts"
    )
    setting = ServiceUnavailableError("this service has no LLM server; start it with --llm-url")
    assert public_detail(setting) == str(setting)


def test_an_internal_error_is_logged_once(served_db: Any, caplog: pytest.LogCaptureFixture) -> None:
    import threading

    import uvicorn

    from tests.conftest import free_port
    from xling.server.app import create_app
    from xling.server.config import ServiceConfig
    from xling.server.service import Service

    config = ServiceConfig(pools=["sample"], chroma_path=str(served_db))
    asgi = create_app(config, Service(config))

    @asgi.app.get("/boom")  # type: ignore[attr-defined]
    async def boom() -> None:  # a fault injected: an error no handler knows
        raise RuntimeError("boom")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        # uvicorn's own loggers do not propagate to the root logger: listen to them directly.
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.addHandler(caplog.handler)
        with caplog.at_level(logging.INFO):
            got = httpx.get(f"http://127.0.0.1:{port}/boom", timeout=10)
            time.sleep(0.3)
    finally:
        uvicorn_log.removeHandler(caplog.handler)
        server.should_exit = True
        thread.join(timeout=20)
    assert (got.status_code, got.json()) == (
        500,
        {"detail": "internal error (logged on the server)"},
    )
    tracebacks = [(r.name, r.getMessage()) for r in caplog.records if r.exc_info]
    assert tracebacks == [("xling.server", "internal error")]


# -- streamed answers ---------------------------------------------------------------------------
def test_a_streamed_answer_from_garbage_ends_in_an_error_event(
    make_service: Callable[..., Any],
) -> None:
    body = {"question": "What did Arthur Guinness sign in 1759?", "stream": True, "lang": "eng"}
    with StandIn() as llm, make_service(llm_urls=[llm.url]) as url:
        llm.always(CHAT, Reply(200, b"this is not a stream of events"))
        got = stream_events(f"{url}/v1/answer", body)
        status, events = got.status, got.events
        plain = _post(url, "/v1/answer", {**body, "stream": False})
    assert status == 200
    assert [n for n, _ in events] == ["attempt", "error"], events
    assert events[-1][1] == {"event": "error", "detail": LLM_DOWN}
    # The same fault without streaming: 503, the same words.
    assert (plain.status_code, plain.json()) == (503, {"detail": LLM_DOWN})


_SLOW_STREAM = (
    b'data: {"choices": [{"delta": {"content": "Arthur Guinness signed a lease."}, '
    b'"finish_reason": null}]}\n\n'
    b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
)


def test_streams_are_admitted_when_they_arrive(make_service: Callable[..., Any]) -> None:
    body = {"question": "What did Arthur Guinness sign in 1759?", "stream": True, "lang": "eng"}
    with StandIn() as llm, make_service(llm_urls=[llm.url], max_llm_waiting=3) as url:
        llm.always(CHAT, Reply(200, _SLOW_STREAM, trickle=0.01))  # ~2 s a stream

        async def burst(n: int) -> list[tuple[int, Any]]:
            async with httpx.AsyncClient(timeout=60) as client:

                async def one() -> tuple[int, Any]:
                    async with client.stream("POST", f"{url}/v1/answer", json=body) as response:
                        await response.aread()
                        return response.status_code, response.text

                return await asyncio.gather(*(one() for _ in range(n)))

        replies = asyncio.run(burst(6))
        codes = sorted(code for code, _ in replies)
        assert codes == [200, 200, 200, 503, 503, 503], codes
        refused = next(text for code, text in replies if code == 503)
        assert "3 LLM requests are waiting" in refused
        assert all("event: done" in text for code, text in replies if code == 200)
        # A client that goes away gives its place back: afterwards three are admitted again.
        with httpx.stream("POST", f"{url}/v1/answer", json=body, timeout=60) as response:
            assert response.status_code == 200
            next(response.iter_lines())
        time.sleep(0.5)
        assert sorted(code for code, _ in asyncio.run(burst(4))) == [200, 200, 200, 503]


# -- key guessing -------------------------------------------------------------------------------
def test_failed_authentication_is_throttled_per_address(make_service: Callable[..., Any]) -> None:
    with make_service(api_keys=["k1"], auth_failures=10) as url:
        wrong = {"Authorization": "Bearer guess"}
        codes = [httpx.get(f"{url}/v1/pools", headers=wrong).status_code for _ in range(10)]
        assert codes == [401] * 10
        throttled = httpx.get(f"{url}/v1/pools", headers=wrong)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        assert throttled.json() == {"detail": "too many failed authentications from this "
                                    "address (over 10 a minute); try again later"}  # fmt: skip
        # The right key from the throttled address waits too (no key is compared there) ...
        assert httpx.get(f"{url}/v1/pools", headers=AUTH).status_code == 429
        # ... while other addresses are served.
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with other:
            assert other.get(f"{url}/v1/pools", headers=AUTH).status_code == 200
