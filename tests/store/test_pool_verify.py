"""``Pool.verify`` and ``Pool.rebuild`` on real damaged pools (FLORES, bundled e5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.store.pool_checks import assert_consistent, damage_pool, precreate_pool
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.embedders import Embedder
from xling.store import Pool, Record, connect


@pytest.fixture
def thirds(flores: Callable[[str, str], list[str]], e5: Embedder) -> list[list[Record]]:
    """150 FLORES English sentences in three parts of 50, embedded once into the cache."""
    lines = flores("eng", "dev")[:150]
    records = [Record(t, "eng", row=i, source="eng/dev.txt") for i, t in enumerate(lines)]
    e5.embed_documents(lines)
    return [records[:50], records[50:100], records[100:]]


def test_a_healthy_pool_verifies_clean(
    tmp_path: Path, e5: Embedder, thirds: list[list[Record]]
) -> None:
    pool = Pool.open("healthy", e5, path=tmp_path)
    pool.index(thirds[0])
    report = pool.verify()
    assert report.ok and report.problems == 0 and report.remaining is None
    assert (report.records, report.compared, report.searched) == (50, 50, 50)
    data = report.to_dict()
    assert data["ok"] is True and data["unreadable"] == 0 and data["embedder"] == "e5-small-q4"
    assert "50 records checked; 0 unreadable" in report.summary()
    fixed = pool.verify(repair=True, sample=10)
    assert (fixed.remaining, fixed.repaired, fixed.rebuilt, fixed.compared) == (0, 0, False, 10)
    with pytest.raises(InvalidInputError, match="sample=0 is not allowed"):
        pool.verify(sample=0)


def test_verify_finds_and_repairs_a_pool_damaged_by_an_unlocked_writer(
    tmp_path: Path, e5: Embedder, thirds: list[list[Record]]
) -> None:
    pool = damage_pool(tmp_path / "db", "damaged", e5, thirds)
    everything = [r for part in thirds for r in part]
    assert pool.count() == 150  # SQLite lists them all; their vectors tell another story
    with pytest.raises(
        ServiceUnavailableError,
        match=r"pool 'damaged' at .* is damaged \(.*\); repair it with "
        r"`xling index --pool damaged --verify`",
    ):
        pool.records(with_vectors=True)  # what `xling select --pool` does
    report = pool.verify()
    assert not report.ok and report.records == 150 and report.unreadable >= 10
    assert len(report.examples) == 10 and report.remaining is None
    fixed = pool.verify(repair=True)
    assert fixed.unreadable == report.unreadable and fixed.repaired >= report.unreadable
    assert fixed.remaining == 0 and fixed.ok
    assert_consistent(pool, everything, e5)
    again = Pool.open("damaged", e5, path=tmp_path / "db").verify(sample=None)
    assert again.ok and again.compared == 150


def test_verify_catches_a_wrong_vector_and_a_non_unit_one(
    tmp_path: Path, e5: Embedder, thirds: list[list[Record]]
) -> None:
    records = thirds[0]
    pool = Pool.open("crafted", e5, path=tmp_path)
    pool.index(records)
    vectors = e5.embed_documents([r.text for r in records[:3]])
    with pool.writing(), pool.committing() as collection:
        collection.upsert(ids=[records[0].id], embeddings=vectors[1:2])  # another text's vector
        collection.upsert(ids=[records[2].id], embeddings=2 * vectors[2:3])  # norm 2
    report = pool.verify(sample=None)
    assert (report.mismatched, report.bad_vectors, report.unreadable) == (1, 1, 0)
    assert report.compared == 49  # all but the non-unit one, which is not compared
    assert {records[0].id, records[2].id} <= set(report.examples)
    fixed = pool.verify(repair=True, sample=None)
    assert (fixed.repaired, fixed.rebuilt, fixed.remaining) == (2, False, 0)
    assert_consistent(pool, records, e5)


def test_rebuild_keeps_records_metadata_and_index_settings(
    tmp_path: Path, e5: Embedder, thirds: list[list[Record]]
) -> None:
    precreate_pool(tmp_path, "rebuilt", e5, sync_threshold=20)
    pool = Pool.open("rebuilt", e5, path=tmp_path)
    pool.index(thirds[0] + thirds[1])
    before = pool.records()[0]
    assert pool.rebuild() == 100
    assert pool.records()[0] == before
    hnsw = pool.collection.configuration["hnsw"]
    assert (hnsw["space"], hnsw["sync_threshold"]) == ("cosine", 20)
    names = sorted(c.name for c in connect(path=tmp_path).list_collections())
    assert names == ["rebuilt"]  # no .xling-rebuild copy left
    assert_consistent(pool, thirds[0] + thirds[1], e5)
    with pytest.raises(InvalidInputError, match="pool 'empty' has nothing to rebuild"):
        Pool.open("empty", e5, path=tmp_path).rebuild()
    np.testing.assert_allclose(
        pool.records(with_vectors=True)[1][0], e5.embed_documents([before[0].text])[0], atol=1e-5
    )
