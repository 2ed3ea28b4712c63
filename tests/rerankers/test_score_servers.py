"""``tei:`` and ``cohere:`` against a real ``xling serve`` (uvicorn on loopback; the session's
vLLM behind it for one request), a closed port for the fallback, and hand-scripted answers for
the wire formats.

``xling serve`` answers ``/rerank`` (TEI's shape for a ``texts`` body) and ``/v2/rerank``
(Cohere's) with calibrated probabilities of its own listwise reranker; documents without
first-stage scores get the rank-only form, ``sigmoid(3.3702 - 19.9418·r/n)`` for rank ``r`` of
``n`` (see tests/server/test_service.py): 0.96676012 and 0.00135757 for two documents, and
0.96676012 for a lone one.

The scripted answers come from the loopback stand-in (:class:`~tests.llm.standin.StandIn`): a
real HTTP server whose scores per document are written by hand here, so the orders, batches and
cuts below are worked out by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import refused_port
from tests.llm.standin import MODELS, Reply, StandIn
from tests.server.conftest import running
from xling.core.errors import InvalidInputError, ServerRefusedError, ServiceUnavailableError
from xling.rerankers import RerankRequest, get_reranker
from xling.server.config import ServiceConfig

DOCUMENTS = ["The Gripen crashed onto a runway.", "Guinness signed a lease."]
QUERY = "Which plane crashed?"


@pytest.fixture(scope="module")
def xling_serve() -> Iterator[str]:
    """``xling serve`` with one API key, ``k1``, and an LLM URL nothing answers: a lone
    document is its own ranking, so the requests below never reach an LLM."""
    dead = f"http://127.0.0.1:{refused_port()}/v1"
    with running(ServiceConfig(llm_urls=[dead], api_keys=["k1"])) as url:
        yield url


def test_tei_and_cohere_against_xling_serve(
    xling_serve: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = RerankRequest.from_texts(QUERY, DOCUMENTS)
    # One document per request: each gets 0.96676012, and the tie keeps first-stage order.
    tei = get_reranker(f"tei:{xling_serve}", api_key="k1", batch_size=1)
    result = tei.rerank(request)
    assert [(c.id, c.score) for c in result.candidates] == [
        ("0", pytest.approx(0.96676012)),
        ("1", pytest.approx(0.96676012)),
    ]
    assert [c.relevance for c in result.candidates] == [c.score for c in result.candidates]
    assert result.usage.calls == 2 and not result.fallback
    # Cohere's /v2/rerank (the URL may end in /v1), the key from $CO_API_KEY, read when the
    # request is sent.
    monkeypatch.setenv("CO_API_KEY", "k1")
    cohere = get_reranker(f"cohere:{xling_serve}/v1#xling-listwise", batch_size=1)
    result = cohere.rerank(request)
    assert [(c.id, c.score) for c in result.candidates] == [
        ("0", pytest.approx(0.96676012)),
        ("1", pytest.approx(0.96676012)),
    ]
    # A 4xx is the server's refusal, with its own message, whatever on_failure says.
    refused = r"HTTP 400: unknown model 'gpt-9'.*xling-listwise"
    with pytest.raises(ServerRefusedError, match=refused):
        get_reranker(f"cohere:{xling_serve}#gpt-9").rerank(request)
    monkeypatch.delenv("CO_API_KEY")
    with pytest.raises(ServerRefusedError, match="refused the API key with HTTP 401"):
        get_reranker(f"cohere:{xling_serve}#xling-listwise").rerank(request)


@pytest.mark.vllm
def test_tei_reads_xling_serves_llm_ranking(llm_target: tuple[str, str]) -> None:
    # Both documents in one request: xling serve's listwise ranking by the session's vLLM,
    # read back by index: its two probabilities, best first.
    with running(ServiceConfig(llm_urls=[llm_target[0]])) as url:
        tei = get_reranker(f"tei:{url}/v1", timeout=600, max_retries=0)
        result = tei.rerank(RerankRequest.from_texts(QUERY, DOCUMENTS))
    assert not result.fallback, result.fallbacks
    assert [c.score for c in result.candidates] == pytest.approx([0.96676012, 0.00135757])
    assert sorted(c.id for c in result.candidates) == ["0", "1"] and result.usage.calls == 1


@pytest.mark.parametrize("kind", ["tei:{url}", "cohere:{url}/v1#m", "vllm-score:{url}#m"])
def test_a_closed_port_keeps_the_first_stage_order(kind: str) -> None:
    url = f"http://127.0.0.1:{refused_port()}"
    request = RerankRequest.from_texts(QUERY, DOCUMENTS + ["Nadal beat Raonic."])
    result = get_reranker(kind.format(url=url), max_retries=0).rerank(request)
    assert [c.id for c in result.candidates] == ["0", "1", "2"]
    assert [f.kind for f in result.fallbacks] == ["first_stage_order"]
    assert url in result.fallbacks[0].reason and "ConnectError" in result.fallbacks[0].reason
    with pytest.raises(ServiceUnavailableError, match=url):
        get_reranker(kind.format(url=url), max_retries=0, on_failure="raise").rerank(request)


# Hand-written scores of the scripted server, per document text.
SCORES = {"a": 0.2, "b": 0.9, "c": 0.55, "d": 0.1, "e": 0.7}


def test_tei_batches_are_sent_concurrently_and_read_by_index(stand_in: StandIn) -> None:
    bodies: list[dict[str, Any]] = []

    def rerank(body: dict[str, Any]) -> Reply:
        bodies.append(body)
        scored = [{"index": i, "score": SCORES[t]} for i, t in enumerate(body["texts"])]
        return Reply.json(sorted(scored, key=lambda s: -s["score"]))  # TEI sorts best first

    stand_in.answer("/rerank", rerank)
    request = RerankRequest.from_texts("q", list("abcde"))
    result = get_reranker(f"tei:{stand_in.url}", batch_size=2).rerank(request)
    # b 0.9 > e 0.7 > c 0.55 > a 0.2 > d 0.1, from batches [a, b], [c, d], [e].
    assert [c.candidate.text for c in result.candidates] == list("becad")
    assert [c.score for c in result.candidates] == [0.9, 0.7, 0.55, 0.2, 0.1]
    assert sorted(len(b["texts"]) for b in bodies) == [1, 2, 2] and result.usage.calls == 3
    assert all(
        b["query"] == "q" and b["truncate"] is True and b["raw_scores"] is False for b in bodies
    )


def test_cohere_sends_the_model_and_the_passage_cap(stand_in: StandIn) -> None:
    bodies: list[dict[str, Any]] = []

    def rerank(body: dict[str, Any]) -> Reply:
        bodies.append(body)
        results = [
            {"index": i, "relevance_score": SCORES[t]} for i, t in enumerate(body["documents"])
        ]
        return Reply.json({"results": results[::-1], "usage": {"prompt_tokens": 12}})

    stand_in.answer("/v2/rerank", rerank)
    request = RerankRequest.from_texts("q", list("abc"))
    reranker = get_reranker(f"cohere:{stand_in.url}#rerank-v3.5", max_passage_tokens=64)
    result = reranker.rerank(request)
    assert [c.candidate.text for c in result.candidates] == list("bca")
    assert bodies == [
        {
            "query": "q",
            "documents": ["a", "b", "c"],
            "max_tokens_per_doc": 64,
            "model": "rerank-v3.5",
        }
    ]
    assert result.usage.prompt_tokens == 12


def test_vllm_score_cuts_passages_with_the_servers_tokenizer(stand_in: StandIn) -> None:
    # The stand-in's /tokenize gives one token per word and /detokenize a "w" per token. With a
    # context of 40 tokens and a 3-word query, a passage keeps min(300, 40 - 3 - 8) = 29 tokens.
    stand_in.always(MODELS, Reply.json({"data": [{"id": "tiny-ce", "max_model_len": 40}]}))
    bodies: list[dict[str, Any]] = []

    def score(body: dict[str, Any]) -> Reply:
        bodies.append(body)
        data = [{"index": i, "score": 0.5 if t.startswith("w") else SCORES[t]}
                for i, t in enumerate(body["text_2"])]  # fmt: skip
        return Reply.json({"data": data, "usage": {"prompt_tokens": 50}})

    stand_in.answer("/score", score)
    long = " ".join(["word"] * 45)
    request = RerankRequest.from_texts("which plane crashed", ["a", long, "b"])
    result = get_reranker(f"vllm-score:{stand_in.url}").rerank(request)
    assert bodies == [
        {
            "model": "tiny-ce",
            "text_1": "which plane crashed",
            "text_2": ["a", " ".join("w" * 29), "b"],
        }
    ]
    assert [c.id for c in result.candidates] == ["2", "1", "0"]  # 0.9 > 0.5 > 0.2


@pytest.mark.parametrize(
    "answer",
    [
        [{"index": 0, "score": 0.3}, {"index": 0, "score": 0.4}],  # an index twice
        [{"index": 0, "score": 0.3}],  # a document left out
        [{"index": 0, "score": 0.3}, {"index": 2, "score": 0.4}],  # an index out of range
        {"results": []},  # not TEI's list
    ],
)
def test_a_malformed_answer_is_a_failed_server(stand_in: StandIn, answer: Any) -> None:
    stand_in.always("/rerank", Reply.json(answer))
    request = RerankRequest.from_texts("q", ["a", "b"])
    result = get_reranker(f"tei:{stand_in.url}", max_retries=0).rerank(request)
    assert [c.id for c in result.candidates] == ["0", "1"]
    assert "malformed" in result.fallbacks[0].reason


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("tei:", {}, "has no argument; use tei:<url>"),
        ("tei:localhost:8080", {}, "URL 'localhost:8080' is not allowed; use http(s)://"),
        ("tei:http://h:1#m", {}, "takes no #model"),
        ("cohere:http://h:1#", {}, "has an empty model after '#'"),
        ("vllm-score:http://h:port", {}, "bad URL"),
        ("tei:http://h:1", {"batch_size": 0}, "batch_size=0 is not allowed"),
        ("tei:http://h:1", {"timeout": -1}, "timeout=-1 is not allowed"),
        ("tei:http://h:1", {"max_retries": -1}, "max_retries=-1 is not allowed"),
        ("cohere:http://h:1", {"window": 3}, "unknown option(s) ['window'] for ScoreServerConfig"),
    ],
)
def test_bad_specs_and_options_name_the_value(
    spec: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        get_reranker(spec, **options)
    assert message in str(error.value) and "\n" not in str(error.value)
