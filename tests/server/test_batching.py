"""Micro-batching of concurrent retrieve requests, on the real sample pool and bundled e5."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.data import sample_path
from xling.embedders import Embedder
from xling.retrieval import get_retriever
from xling.server.batching import RetrieveBatcher
from xling.store import Pool, read_lines


@pytest.fixture(scope="module")
def questions() -> list[str]:
    return read_lines(sample_path("fra"))[:24]


def test_concurrent_requests_share_searches_and_get_their_own_hits(
    served_db: Path, e5: Embedder, questions: list[str]
) -> None:
    retriever = get_retriever("dense", Pool.open("sample", e5, path=served_db, create=False))
    alone = retriever.retrieve(questions, 5, langs="swh")
    batcher = RetrieveBatcher(max_queries=10)

    async def together() -> list[list[str]]:
        found = await asyncio.gather(
            *(batcher.aretrieve(retriever, [q], 5, langs=["swh"]) for q in questions)
        )
        return [[h.id for h in r[0].hits] for r in found] + [[r[0].qid] for r in found]

    got = asyncio.run(together())
    n = len(questions)
    assert got[:n] == [[h.id for h in r.hits] for r in alone]
    assert got[n:] == [["0"]] * n  # each request numbers its own queries
    # All 24 requests are queued before the first search starts (gather starts them in one
    # turn of the loop), and a search takes at most 10 queries: ceil(24 / 10) = 3, not 24.
    assert batcher.searches == 3


def test_a_bad_request_fails_alone(served_db: Path, e5: Embedder, questions: list[str]) -> None:
    retriever = get_retriever("dense", Pool.open("sample", e5, path=served_db, create=False))
    batcher = RetrieveBatcher()

    async def mixed() -> list[object]:
        return await asyncio.gather(
            batcher.aretrieve(retriever, [questions[0]], 3),
            batcher.aretrieve(retriever, [" "], 3),
            batcher.aretrieve(retriever, [questions[1]], 3, langs=["xx-not-a-language"]),
            batcher.aretrieve(retriever, [questions[1]], 3),
            return_exceptions=True,
        )

    ok1, empty, bad_lang, ok2 = asyncio.run(mixed())
    assert isinstance(empty, InvalidInputError) and "queries[0] is ' '" in str(empty)
    assert isinstance(bad_lang, InvalidInputError)
    assert [len(r[0].hits) for r in (ok1, ok2)] == [3, 3]  # type: ignore[index]


def test_different_filters_are_not_merged(
    served_db: Path, e5: Embedder, questions: list[str]
) -> None:
    retriever = get_retriever("dense", Pool.open("sample", e5, path=served_db, create=False))
    batcher = RetrieveBatcher()

    async def both() -> list[object]:
        return await asyncio.gather(
            *(
                batcher.aretrieve(retriever, [q], 2, langs=[lang])
                for q in questions[:6]
                for lang in ("fra", "swh")
            )
        )

    found = asyncio.run(both())
    langs = [{h.lang for h in r[0].hits} for r in found]  # type: ignore[index]
    assert langs == [{"fra"}, {"swh"}] * 6
