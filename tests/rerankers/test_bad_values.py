"""Bad values given to the Python API: one InvalidInputError naming the value, never a
TypeError, ValueError or AttributeError from inside."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.llm import LLMClient
from xling.rerankers import (
    Hit,
    ListwiseReranker,
    PairwiseReranker,
    PointwiseReranker,
    RerankRequest,
    get_reranker,
)

CLIENT = LLMClient("http://127.0.0.1:9/v1")  # never contacted by these tests


@pytest.mark.parametrize("score", ["abc", [1], {"v": 1}, True, math.nan, math.inf, "0.5"])
def test_bad_scores_are_refused(score: Any) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(f"has score {score!r}"[:30])):
        RerankRequest.from_dict({"query": "q", "candidates": [{"text": "a", "score": score}]})


def test_real_scores_of_any_numeric_type_are_kept() -> None:
    candidate = Hit("a", "text", np.float32(0.25))
    assert candidate.score == 0.25 and type(candidate.score) is float
    assert Hit("b", "text", 3).score == 3.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"query": "q", "candidates": [{"id": [1], "text": "a"}]}, "has id [1]"),
        ({"query": "q", "candidates": [{"id": True, "text": "a"}]}, "has id True"),
        ({"query": "q", "candidates": [{"text": "a", "lang": ["sw"]}]}, "has language ['sw']"),
        ({"query": "q", "query_lang": 5, "candidates": [{"text": "a"}]}, "has language 5"),
    ],
)
def test_bad_fields_in_requests_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        RerankRequest.from_dict(data)


def test_bad_request_shapes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="candidates 5 are not allowed"):
        RerankRequest("q", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="texts must be a list of strings"):
        RerankRequest.from_texts("q", "abc")  # would be three one-letter candidates
    with pytest.raises(InvalidInputError, match="ids='ab' is not allowed"):
        RerankRequest.from_texts("q", ["a", "b"], ids="ab")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [
        (ListwiseReranker, {"config": "window=3"}, "config 'window=3' is not a ListwiseConfig"),
        (PairwiseReranker, {"name": 5}, "name=5 is not allowed"),
        (ListwiseReranker, {"template": ["rankgpt"]}, "template=['rankgpt'] is not allowed"),
        (PairwiseReranker, {"template": {"prp": 1}}, "template={'prp': 1} is not allowed"),
        (PointwiseReranker, {"template": None}, "template=None is not allowed"),
        (PointwiseReranker, {"cross_lingual": "yes"}, "cross_lingual='yes' is not allowed"),
        (ListwiseReranker, {"temperature": math.nan}, "temperature=nan is not allowed"),
        (ListwiseReranker, {"temperature": True}, "temperature=True is not allowed"),
        (PairwiseReranker, {"scoring": ["auto"]}, "scoring=['auto'] is not allowed"),
    ],
)
def test_bad_reranker_settings_are_refused(
    cls: type[Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        cls(CLIENT, **options)


def test_bad_registry_names_and_batches_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown reranker \['listwise'\]"):
        get_reranker(["listwise"], CLIENT)  # type: ignore[arg-type]
    reranker = get_reranker("listwise", CLIENT)
    one = RerankRequest.from_texts("q", ["a"])
    with pytest.raises(InvalidInputError, match="requests must be a list of RerankRequest"):
        reranker.rerank_many(one)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="on_progress=3 is not callable"):
        reranker.rerank_many([one], on_progress=3)  # type: ignore[arg-type]
