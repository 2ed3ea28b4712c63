"""OpenAI's vector-store search, called through the real ``openai`` SDK against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.server.conftest import running
from tests.server.metadata_pools import build_db
from xling.embedders import Embedder
from xling.server.access import KeyGrant
from xling.server.config import ServiceConfig


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Iterator[str]:
    db: Path = build_db(tmp_path_factory.mktemp("stores") / "db", e5)
    grants = [KeyGrant("vs-docs", frozenset({"docs"}))]
    config = ServiceConfig(chroma_path=str(db), api_keys=["vs-all"], api_grants=grants)
    with running(config) as base:
        yield base


def client(url: str, key: str = "vs-all") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_search_through_the_sdk(url: str) -> None:
    page = client(url).vector_stores.search(
        vector_store_id="docs", query="How do I install xling?", max_num_results=2
    )
    results = page.data
    assert len(results) == 2
    best = results[0]
    assert best.file_id == "guide/install.md"
    assert best.filename == "Installation guide"
    assert best.content[0].type == "text"
    assert best.content[0].text.startswith("To install xling, run pip install xling")
    assert best.attributes is not None
    assert best.attributes["category"] == "guide" and best.attributes["lang"] == "eng"
    assert 0.0 <= results[1].score <= best.score <= 1.0


def test_filters_and_threshold_through_the_sdk(url: str) -> None:
    search = client(url).vector_stores.search
    faq = search(vector_store_id="docs", query="sleep",
                 filters={"type": "eq", "key": "category", "value": "faq"})  # fmt: skip
    assert [r.file_id for r in faq.data] == ["faq/cats.md"]
    compound = search(vector_store_id="docs", query="weather", filters={"type": "or", "filters": [
        {"type": "gte", "key": "year", "value": 2023},
        {"type": "eq", "key": "lang", "value": "fra"},
    ]})  # fmt: skip
    assert sorted(r.file_id for r in compound.data) == [
        "faq/cats.md", "guide/install.md", "news/rain.md",
    ]  # fmt: skip
    none = search(vector_store_id="docs", query="rain", ranking_options={"score_threshold": 0.99})
    assert none.data == []
    auto = search(vector_store_id="docs", query="rain",
                  ranking_options={"ranker": "auto", "score_threshold": 0.0})  # fmt: skip
    assert len(auto.data) == 3


def test_raw_page_shape_and_several_queries(url: str) -> None:
    body = {"query": ["install xling", "mvua Nairobi"], "max_num_results": 5}
    got = httpx.post(f"{url}/v1/vector_stores/docs/search", json=body, timeout=60,
                     headers={"Authorization": "Bearer vs-all"})  # fmt: skip
    assert got.status_code == 200
    page = got.json()
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == ["install xling", "mvua Nairobi"]
    assert page["has_more"] is False and page["next_page"] is None
    ids = [r["file_id"] for r in page["data"]]
    assert sorted(ids) == ["faq/cats.md", "guide/install.md", "news/rain.md"]  # each once
    assert set(ids[:2]) == {"guide/install.md", "news/rain.md"}  # the two queries' own best


def test_errors(url: str) -> None:
    search = client(url).vector_stores.search
    with pytest.raises(openai.NotFoundError):
        search(vector_store_id="nothing-here", query="x")
    with pytest.raises(openai.NotFoundError):
        client(url, "vs-docs").vector_stores.search(vector_store_id="private", query="x")
    with pytest.raises(openai.AuthenticationError):
        client(url, "wrong").vector_stores.search(vector_store_id="docs", query="x")
    with pytest.raises(openai.UnprocessableEntityError, match="max_num_results"):
        search(vector_store_id="docs", query="x", max_num_results=51)
    with pytest.raises(openai.UnprocessableEntityError, match="rewrite_query=true"):
        search(vector_store_id="docs", query="x", rewrite_query=True)
    with pytest.raises(openai.UnprocessableEntityError, match="unknown type 'like'"):
        search(vector_store_id="docs", query="x",
               filters={"type": "like", "key": "a", "value": "b"})  # type: ignore[typeddict-item]  # fmt: skip


def test_queries_are_checked_as_on_every_other_route(url: str) -> None:
    # The same checks as /v1/retrieve: empty texts and texts that are not valid Unicode are
    # refused before any search, each naming the query's place.
    def search(query: Any) -> httpx.Response:
        return httpx.post(f"{url}/v1/vector_stores/docs/search", json={"query": query},
                          headers={"Authorization": "Bearer vs-docs"}, timeout=30)  # fmt: skip

    got = search(["Who signed the lease?", "  "])
    assert got.status_code == 422 and "query[1] is empty" in got.json()["detail"]
    got = httpx.post(f"{url}/v1/vector_stores/docs/search",
                     content=b'{"query": ["ok", "\\ud800"]}',
                     headers={"Authorization": "Bearer vs-docs",
                              "Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert got.status_code == 422 and "query[1]" in got.json()["detail"], got.text
