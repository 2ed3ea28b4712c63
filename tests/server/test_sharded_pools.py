"""A real ``xling serve`` over a sharded pool: listed once, and its routes answer as they do
from the same passages in one collection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import running
from tests.server.metadata_pools import DOCS
from xling.data import sample_path
from xling.embedders import Embedder
from xling.server.config import ServiceConfig
from xling.store import Pool, load_aligned


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Iterator[str]:
    db = tmp_path_factory.mktemp("sharded-serve") / "db"
    records = load_aligned(sample_path("eng"), sample_path("fra"), "eng", "fra")
    for name, shards in (("flat", None), ("split", "lang"), ("hashed", "count:3")):
        pool = Pool.open(name, e5, path=db, shards=shards)
        pool.index(records[:60])
        pool.ingest(DOCS)
    with running(ServiceConfig(chroma_path=str(db), rate_limit=0)) as base:
        yield base


def _post(url: str, path: str, body: dict[str, Any]) -> Any:
    got = httpx.post(f"{url}{path}", json=body, timeout=120)
    assert got.status_code == 200, got.text
    return got.json()


def test_a_sharded_pool_is_listed_once(url: str) -> None:
    pools = httpx.get(f"{url}/v1/pools", timeout=30).json()["data"]
    assert [(p["name"], p["count"]) for p in pools] == [
        ("flat", 63), ("hashed", 63), ("split", 63),
    ]  # fmt: skip


@pytest.mark.parametrize("pool", ["split", "hashed"])
def test_routes_answer_as_from_one_collection(url: str, pool: str) -> None:
    queries = ["Who unveiled the iPhone?", "Il pleut à Nairobi.", "install xling"]
    for method in ("dense", "hybrid"):
        for langs in (None, ["fra"]):
            body = {"queries": queries, "k": 5, "method": method, "langs": langs}
            got = _post(url, "/v1/retrieve", {**body, "pool": pool})["results"]
            want = _post(url, "/v1/retrieve", {**body, "pool": "flat"})["results"]
            for g, w in zip(got, want, strict=True):
                assert [h["id"] for h in g["hits"]] == [h["id"] for h in w["hits"]]
                assert all(abs(a["score"] - b["score"]) < 1e-6
                           for a, b in zip(g["hits"], w["hits"], strict=True))  # fmt: skip
    search = {"query": "weather in Nairobi", "max_num_results": 3}
    got = _post(url, f"/v1/vector_stores/{pool}/search", search)["data"]
    want = _post(url, "/v1/vector_stores/flat/search", search)["data"]
    assert [r["file_id"] for r in got] == [r["file_id"] for r in want]
    assert got[0]["file_id"] == "news/rain.md"


def test_a_shard_is_not_a_pool_to_the_service(url: str) -> None:
    got = httpx.post(f"{url}/v1/retrieve", timeout=30,
                     json={"queries": ["x"], "pool": "split.xling-shard-fra"})  # fmt: skip
    assert got.status_code in (404, 422) and "split" in got.json()["detail"]
