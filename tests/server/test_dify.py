"""Dify's External Knowledge API over raw HTTP, sent exactly as Dify sends it: the JSON body
serialised by ``json.dumps`` with ``Content-Type: application/json`` and ``Authorization:
Bearer KEY`` (api/services/external_knowledge_service.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import running
from tests.server.metadata_pools import build_db
from xling.embedders import Embedder
from xling.server.access import KeyGrant
from xling.server.config import ServiceConfig


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Iterator[str]:
    db = build_db(tmp_path_factory.mktemp("dify") / "db", e5)
    grants = [KeyGrant("dify-docs", frozenset({"docs"}))]
    config = ServiceConfig(chroma_path=str(db), api_keys=["dify-all"], api_grants=grants,
                           max_k=20)  # fmt: skip
    with running(config) as base:
        yield base


def dify_post(
    url: str,
    knowledge_id: str = "docs",
    query: str = "How do I install xling?",
    top_k: int | None = 3,
    score_threshold: float = 0.0,
    metadata_condition: dict[str, Any] | None = None,
    authorization: str | None = "Bearer dify-all",
) -> httpx.Response:
    """What Dify's fetch_external_knowledge_retrieval sends."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    params = {
        "retrieval_setting": {"top_k": top_k, "score_threshold": score_threshold},
        "query": query,
        "knowledge_id": knowledge_id,
        "metadata_condition": metadata_condition,
    }
    return httpx.post(f"{url}/retrieval", content=json.dumps(params), headers=headers,
                      follow_redirects=True, timeout=60)  # fmt: skip


def doc_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(r["metadata"]["doc_id"] for r in response.json()["records"])


def test_records_in_dify_shape(url: str) -> None:
    got = dify_post(url)
    assert got.status_code == 200
    records = got.json()["records"]
    assert len(records) == 3
    best = records[0]
    assert set(best) == {"content", "score", "title", "metadata"}
    assert best["title"] == "Installation guide"
    assert best["content"].startswith("To install xling, run pip install xling")
    meta = best["metadata"]
    assert meta["doc_id"] == "guide/install.md" and meta["lang"] == "eng"
    assert meta["category"] == "guide" and meta["year"] == 2024
    assert meta["chunk"] == 0 and "section" in meta and "id" in meta
    assert not any(k.startswith("xling:") for k in meta)
    for record in records:
        assert isinstance(record["metadata"], dict)  # never null
        assert 0.0 <= record["score"] <= 1.0
    scores = [r["score"] for r in records]
    assert scores == sorted(scores, reverse=True)


def test_score_threshold(url: str) -> None:
    everything = dify_post(url, top_k=10).json()["records"]
    assert len(everything) == 3  # 0.0: Dify's threshold is off
    # e5 cosines of unrelated texts sit between 0.7 and 0.9: none reaches 0.99.
    assert dify_post(url, top_k=10, score_threshold=0.99).json()["records"] == []
    cut = everything[1]["score"]
    kept = dify_post(url, top_k=10, score_threshold=cut).json()["records"]
    assert [r["metadata"]["doc_id"] for r in kept] == [
        r["metadata"]["doc_id"] for r in everything[:2]
    ]


def test_top_k_null_means_5_and_title_falls_back(url: str) -> None:
    got = dify_post(url, knowledge_id="faq", top_k=None)
    assert [r["title"] for r in got.json()["records"]] == ["Tea"]


@pytest.mark.parametrize(
    ("operator", "name", "value", "expected"),
    [
        ("is", "category", "faq", ["faq/cats.md"]),
        ("is not", "category", "faq", ["guide/install.md", "news/rain.md"]),
        ("in", "category", ["guide", "news"], ["guide/install.md", "news/rain.md"]),
        ("not in", "category", "faq", ["guide/install.md", "news/rain.md"]),
        ("=", "year", "2023", ["news/rain.md"]),
        ("≠", "year", 2023, ["faq/cats.md", "guide/install.md"]),
        (">", "year", 2021, ["guide/install.md", "news/rain.md"]),
        ("<", "year", "2023", ["faq/cats.md"]),
        ("≥", "year", 2023, ["guide/install.md", "news/rain.md"]),
        ("≤", "year", 2023, ["faq/cats.md", "news/rain.md"]),
        ("before", "published", 1_800_000_000, ["news/rain.md"]),
        ("after", "published", "2023-01-01", ["news/rain.md"]),
        ("is", "lang", "fr", ["faq/cats.md"]),
    ],
)
def test_every_supported_operator(
    url: str, operator: str, name: str, value: Any, expected: list[str]
) -> None:
    condition = {"logical_operator": "and", "conditions": [
        {"name": name, "comparison_operator": operator, "value": value}]}  # fmt: skip
    assert doc_ids(dify_post(url, top_k=10, metadata_condition=condition)) == expected


def test_or_of_conditions(url: str) -> None:
    condition = {"logical_operator": "or", "conditions": [
        {"name": "category", "comparison_operator": "is", "value": "faq"},
        {"name": "year", "comparison_operator": ">", "value": 2023},
    ]}  # fmt: skip
    assert doc_ids(dify_post(url, top_k=10, metadata_condition=condition)) == [
        "faq/cats.md", "guide/install.md",
    ]  # fmt: skip


def error(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}
    return response.status_code, body["error_code"], body["error_msg"]


def test_authorization_errors(url: str) -> None:
    assert error(dify_post(url, authorization=None))[:2] == (403, 1001)
    assert error(dify_post(url, authorization="Basic ZGlmeQ=="))[:2] == (403, 1001)
    assert error(dify_post(url, authorization="dify-all"))[:2] == (403, 1001)  # no scheme
    status, code, message = error(dify_post(url, authorization="Bearer nope"))
    assert (status, code) == (403, 1002) and "nope" not in message


def test_unknown_or_unreadable_knowledge_is_2001(url: str) -> None:
    assert error(dify_post(url, knowledge_id="nothing-here"))[:2] == (404, 2001)
    hidden = dify_post(url, knowledge_id="private", authorization="Bearer dify-docs")
    assert error(hidden)[:2] == (404, 2001)
    assert doc_ids(dify_post(url, knowledge_id="private")) == ["hr/salaries.md"]
    assert error(dify_post(url, knowledge_id="../etc"))[:2] == (404, 2001)


def test_unsupported_operator_refused_by_name(url: str) -> None:
    condition = {"logical_operator": "and", "conditions": [
        {"name": "category", "comparison_operator": "contains", "value": "fa"}]}  # fmt: skip
    status, code, message = error(dify_post(url, metadata_condition=condition))
    assert (status, code) == (422, 3002)
    assert "'contains' is not supported" in message
    assert "supported: is, is not, in, not in, =, ≠, >, <, ≥, ≤, before, after" in message


def test_bad_bodies_are_dify_errors(url: str) -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer dify-all"}
    missing = httpx.post(f"{url}/retrieval", content=json.dumps({"knowledge_id": "docs"}),
                         headers=headers, timeout=60)  # fmt: skip
    status, code, message = error(missing)
    assert (status, code) == (422, 3001) and message.startswith("query:")
    assert error(dify_post(url, top_k=21))[:2] == (422, 3001)  # over max_k=20
    broken = httpx.post(f"{url}/retrieval", content=b"{not json", headers=headers, timeout=60)
    assert error(broken)[:2] == (422, 3001)
