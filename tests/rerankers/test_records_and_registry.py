"""Requests, results, the registry and option checks: bad input gets a one-line error."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.llm import LLMClient
from xling.rerankers import (
    Hit,
    ListwiseConfig,
    ListwiseReranker,
    PairwiseReranker,
    RerankRequest,
    available_rerankers,
    get_reranker,
    parse_choice,
)

CLIENT = LLMClient("http://127.0.0.1:9/v1")  # never contacted by these tests


def test_empty_candidate_lists_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="no candidates to rerank for query 'q'"):
        RerankRequest("q", ())
    with pytest.raises(InvalidInputError, match="no candidates"):
        RerankRequest.from_dict({"query": "q", "candidates": []})


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="duplicate candidate id 'd1'"):
        RerankRequest("q", (Hit("d1", "a"), Hit("d1", "b")))


def test_bad_candidates_and_queries() -> None:
    with pytest.raises(InvalidInputError, match="empty texts are not allowed"):
        Hit("d1", "  ")
    with pytest.raises(InvalidInputError, match="query '' is not allowed"):
        RerankRequest.from_texts("", ["a"])
    with pytest.raises(InvalidInputError, match="unknown field"):
        RerankRequest.from_dict({"query": "q", "candidates": [{"text": "a", "rank": 1}]})
    with pytest.raises(InvalidInputError, match="'xx'"):
        Hit("d1", "a", lang="xx")
    with pytest.raises(InvalidInputError, match="ids has 1 items but texts has 2"):
        RerankRequest.from_texts("q", ["a", "b"], ids=["x"])


def test_requests_from_dicts_normalise_languages_and_ids() -> None:
    request = RerankRequest.from_dict(
        {
            "query": "q",
            "query_lang": "en",
            "candidates": [{"text": "a", "lang": "sw", "score": 3}, {"id": 7, "text": "b"}],
        }
    )
    assert [c.id for c in request.candidates] == ["0", "7"]
    assert request.candidates[0].lang == "swh" and request.candidates[0].score == 3.0
    assert request.query_lang == "eng" and request.is_cross_lingual()
    assert not RerankRequest.from_texts(
        "q", ["a"], langs=["en"], query_lang="eng"
    ).is_cross_lingual()


def test_registry_names_and_errors() -> None:
    assert available_rerankers() == [
        "first", "listwise", "pointwise", "prp-allpair", "prp-heapsort", "prp-sliding",
        "reasoning", "setwise-bubblesort", "setwise-heapsort", "tdpart",
    ]  # fmt: skip
    assert isinstance(get_reranker("tdpart", CLIENT), ListwiseReranker)
    prp = get_reranker("prp-sliding", CLIENT, top_k=3)
    assert isinstance(prp, PairwiseReranker) and prp.config.variant == "sliding"
    assert prp.name == "prp-sliding"
    with pytest.raises(
        UnknownSpecError, match="unknown reranker 'rankgpt'; use one of: first, listwise, "
    ):
        get_reranker("rankgpt", CLIENT)
    with pytest.raises(InvalidInputError, match=r"unknown option\(s\) \['windw'\]"):
        get_reranker("listwise", CLIENT, windw=10)
    with pytest.raises(InvalidInputError, match="conflicts with reranker 'tdpart'"):
        get_reranker("tdpart", CLIENT, mode="sliding")
    with pytest.raises(UnknownSpecError, match="unknown listwise template 'zephyr'"):
        get_reranker("listwise", CLIENT, template="zephyr")


def test_listwise_method_is_now_scoring() -> None:
    first = get_reranker("first", CLIENT)
    assert isinstance(first, ListwiseReranker) and first.config.scoring == "first"
    assert first.config.mode == "sliding"
    message = "option method='first' is now called scoring; use scoring='first'"
    with pytest.raises(InvalidInputError, match=message):
        ListwiseReranker(CLIENT, method="first")
    with pytest.raises(InvalidInputError, match=message):
        get_reranker("listwise", CLIENT, method="first")
    with pytest.raises(InvalidInputError, match="scoring='logprob' is not allowed"):
        ListwiseConfig(scoring="logprob")  # type: ignore[arg-type]


def test_option_checks() -> None:
    with pytest.raises(InvalidInputError, match="stride=30 is larger than allowed"):
        ListwiseConfig(window=20, stride=30)
    with pytest.raises(InvalidInputError, match="share a first token; use identifiers='alpha'"):
        ListwiseConfig(scoring="first", identifiers="numeric")
    assert ListwiseConfig(scoring="first").style == "alpha"
    assert (
        ListwiseConfig(scoring="first", identifiers="numeric", window=9, stride=5).style
        == "numeric"
    )
    with pytest.raises(InvalidInputError, match="cutoff=20 is larger than allowed"):
        ListwiseConfig(mode="tdpart", cutoff=20)
    with pytest.raises(InvalidInputError, match="passes apply to mode='sliding'"):
        ListwiseConfig(mode="tdpart", passes=2)
    with pytest.raises(InvalidInputError, match="on_failure='ignore' is not allowed"):
        ListwiseConfig(on_failure="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="top_logprobs=50 is larger than allowed"):
        ListwiseConfig(scoring="first", top_logprobs=50)
    with pytest.raises(InvalidInputError, match="variant='bubble' is not allowed"):
        PairwiseReranker(CLIENT, variant="bubble")
    with pytest.raises(InvalidInputError, match="not an LLMClient"):
        ListwiseReranker("http://x")  # type: ignore[arg-type]


def test_parse_choice() -> None:
    assert parse_choice("Passage B") == "B"
    assert parse_choice(" A.") == "A"
    assert parse_choice("passage a is better") == "A"
    assert parse_choice("Both are relevant") is None
