"""Sharded pools (by language, by count) answer as one collection does, embedded and on a real
``chroma run`` server: the reference is the same passages in a one-collection pool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xling.core.errors import InvalidInputError
from xling.core.records import QueryHits
from xling.documents import Document
from xling.embedders import Embedder
from xling.retrieval import get_retriever
from xling.store import Pool, Record
from xling.store.chroma_client import connect
from xling.store.collection import pool_names
from xling.store.shards import ShardedCollection, ShardRule

LANGS = ("eng", "fra", "deu", "swh")
ROWS = 30  # FLORES dev rows per language: 120 passages
QUERIES = {
    "eng": "A new study of the disease was published by the university hospital.",
    "fra": "Le président a parlé aux journalistes après le match.",
    "swh": "Wanasayansi wamegundua aina mpya ya wanyama.",
}


@pytest.fixture(scope="module")
def records(flores: Callable[[str, str], list[str]]) -> list[Record]:
    return [
        Record(text, lang, row=row, source=f"flores-{lang}")
        for lang in LANGS
        for row, text in enumerate(flores(lang, "dev")[:ROWS])
    ]


@pytest.fixture(scope="module")
def pools(
    tmp_path_factory: pytest.TempPathFactory, chroma_url: str, e5: Embedder, records: list[Record]
) -> dict[str, Pool]:
    """The reference (one collection) and four sharded pools holding the same records."""
    db = tmp_path_factory.mktemp("shards") / "db"
    made = {
        "one": Pool.open("one", e5, path=db),
        "lang": Pool.open("bylang", e5, path=db, shards="lang"),
        "count": Pool.open("bycount", e5, path=db, shards="count:3"),
        "server-lang": Pool.open("shards-lang", e5, url=chroma_url, shards="lang"),
        "server-count": Pool.open("shards-count", e5, url=chroma_url, shards="count:3"),
    }
    for pool in made.values():
        pool.index(records)
    return made


SHARDED = ("lang", "count", "server-lang", "server-count")


def _flat(results: list[QueryHits]) -> list[list[tuple[str, float]]]:
    return [[(h.id, float(h.score or 0.0)) for h in q.hits] for q in results]


def _same(got: list[QueryHits], want: list[QueryHits]) -> None:
    for g, w in zip(_flat(got), _flat(want), strict=True):
        assert [i for i, _ in g] == [i for i, _ in w]
        assert all(abs(a - b) <= 1e-6 for (_, a), (_, b) in zip(g, w, strict=True))


def test_layout_records_spread_and_listing(pools: dict[str, Pool], tmp_path: Path) -> None:
    lang, count = pools["lang"], pools["count"]
    assert lang.shard_rule == ShardRule("lang") and count.shard_rule == ShardRule("count", 3)
    assert pools["one"].shard_rule is None
    with lang.reading() as collection:
        assert isinstance(collection, ShardedCollection)
        assert {k: s.count() for k, s in collection.shards.items()} == dict.fromkeys(LANGS, ROWS)
    with count.reading() as collection:
        sizes = [s.count() for s in collection.shards.values()]
    assert list(collection.shards) == ["0", "1", "2"] and sum(sizes) == 120 and min(sizes) > 20
    assert all(p.count() == 120 for p in pools.values())
    # Listings name each pool once; its shards are not pools.
    assert pool_names(lang.db.client) == ["bycount", "bylang", "one"]
    # Reopened without the option: the recorded rule; with another one: refused.
    again = Pool.open("bylang", path=lang.db.folder)
    assert again.shard_rule == ShardRule("lang") and again.count() == 120
    with pytest.raises(InvalidInputError, match=r"exists with shards 'lang'; shards='count:2'"):
        Pool.open("bylang", path=lang.db.folder, shards="count:2")
    with pytest.raises(InvalidInputError, match="exists with one collection"):
        Pool.open("one", path=lang.db.folder, shards="lang")
    for bad in ("language", "count:1", "count:x", "count:1001", 3):
        with pytest.raises(InvalidInputError, match=r"shards=.* is not allowed; use 'lang'"):
            Pool.open("fresh", path=tmp_path, shards=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="names a shard of pool 'bylang'"):
        Pool.open("bylang.xling-shard-eng", path=lang.db.folder)
    assert pool_names(connect(tmp_path)) == []  # nothing was made by the refused calls


@pytest.mark.parametrize("which", SHARDED)
@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid", "margin"])
def test_every_method_and_filter_answers_as_one_collection(
    pools: dict[str, Pool], which: str, method: str
) -> None:
    one, sharded = get_retriever(method, pools["one"]), get_retriever(method, pools[which])
    queries = list(QUERIES.values())
    excluded = [[h.id for h in q.hits[:2]] for q in one.retrieve(queries, k=2)]
    cases: list[dict[str, Any]] = [
        {},
        {"langs": ["fra", "deu"]},
        {"exclude_langs": ["eng"], "where": {"row": {"$lt": 20}}},
        {"exclude_ids": excluded},
    ]
    for case in cases:
        _same(sharded.retrieve(queries, k=8, **case), one.retrieve(queries, k=8, **case))


@pytest.mark.parametrize("which", ["count", "server-lang"])
def test_reads_page_across_shards(pools: dict[str, Pool], which: str) -> None:
    one, sharded = pools["one"], pools[which]
    sharded.max_batch = 7  # pages end inside shards and cross from one shard to the next
    try:
        for where in (None, {"lang": {"$in": ["deu", "swh"]}}, {"row": {"$gte": 25}}):
            got, want = sharded.listing(where, with_vectors=True), one.listing(where, True)
            assert got[:3] == want[:3]
            assert got[3] is not None and want[3] is not None
            assert abs(got[3] - want[3]).max() < 1e-6
        ids = one.listing()[0][::9] + ["no-such-id"]
        assert sharded.get(ids) == one.get(ids)
    finally:
        sharded.max_batch = one.max_batch
    assert sharded.state()[1] == 120


def _documents(shared: Path, variant: int = 0) -> list[Document]:
    def lines(lang: str, start: int, n: int) -> str:
        text = (shared / "flores" / lang / "dev.txt").read_text(encoding="utf-8").splitlines()
        return " ".join(text[start : start + n])

    return [
        Document("notes.md", text=f"# Notes\n\n{lines('eng', 100 + variant * 40, 3)}\n\n"
                 f"## More\n\n{lines('eng', 110, 3)}\n", lang="en"),
        Document("fr.md", text=lines("fra", 120, 4), lang="fr"),
        Document("sw.md", text=lines("swh", 130, 4), lang="sw"),
    ]  # fmt: skip


@pytest.mark.parametrize("where", ["embedded", "server"])
@pytest.mark.parametrize("shards", ["lang", "count:3"])
def test_documents_ingest_update_and_delete_on_a_sharded_pool(
    tmp_path: Path, shared_data: Path, chroma_url: str, e5: Embedder, where: str, shards: str
) -> None:
    name = f"docs-{shards.replace(':', '')}"
    place: dict[str, Any] = {"path": tmp_path} if where == "embedded" else {"url": chroma_url}
    one = Pool.open(f"{name}-one", e5, path=tmp_path / "one")
    sharded = Pool.open(name, e5, shards=shards, **place)
    for pool in (one, sharded):
        pool.ingest(_documents(shared_data), chunk_tokens=48, overlap=0)
        pool.ingest(_documents(shared_data, variant=1), chunk_tokens=48, overlap=0)  # an update
    assert sharded.documents() == one.documents()
    (ids, texts, metas, _), want = sharded.listing(), one.listing()
    assert (ids, texts) == want[:2]
    unstamped = [[{k: v for k, v in m.items() if k != "xling:written"} for m in ms]
                 for ms in (metas, want[2])]  # fmt: skip
    assert unstamped[0] == unstamped[1]
    with sharded.reading() as collection:
        owners = {k: {m["doc_id"] for m in s.get(include=["metadatas"])["metadatas"]}
                  for k, s in collection.shards.items()}  # fmt: skip
    if shards == "count:3":  # a document's chunks are in one shard
        assert sum(len(docs) for docs in owners.values()) == 3
    else:
        assert owners == {"eng": {"notes.md"}, "fra": {"fr.md"}, "swh": {"sw.md"}}
    dense = [get_retriever("dense", p) for p in (one, sharded)]
    got, want = (r.retrieve(["a trip"], k=5, neighbours=1) for r in dense[::-1])
    _same(got, want)
    assert [h.text for h in got[0].hits] == [h.text for h in want[0].hits]
    state = sharded.state()
    assert sharded.delete(["fr.md"]) == one.delete(["fr.md"])
    assert sharded.delete(where={"lang": "swh"}) == one.delete(where={"lang": "swh"})
    assert [d.doc_id for d in sharded.documents()] == ["notes.md"]
    assert sharded.state() != state and sharded.count() == one.count()
    assert sharded.verify(sample=None).ok
    with pytest.raises(InvalidInputError, match="is sharded and cannot be rebuilt in place"):
        sharded.rebuild()


def test_cli_creates_sharded_pools_and_refuses_bad_rules(
    tmp_path: Path, flores: Callable[[str, str], list[str]]
) -> None:
    from typer.testing import CliRunner

    from xling.cli.app import _register, app

    _register()
    lines = tmp_path / "fra.txt"
    lines.write_text("\n".join(flores("fra", "dev")[:12]) + "\n", encoding="utf-8")
    db = str(tmp_path / "db")
    run = CliRunner().invoke
    made = run(app, ["index", "--pool", "cli-sharded", "--src", str(lines), "--src-lang", "fr",
                     "--chroma-path", db, "--shards", "count:2"])  # fmt: skip
    assert made.exit_code == 0, made.output
    again = run(app, ["index", "--pool", "cli-sharded", "--src", str(lines), "--src-lang", "fr",
                      "--chroma-path", db])  # fmt: skip
    assert again.exit_code == 0 and "0 added, 12 already there, 12 records" in again.output
    assert Pool.open("cli-sharded", path=db).shard_rule == ShardRule("count", 2)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(" ".join(flores("deu", "dev")[:5]), encoding="utf-8")
    ingested = run(app, ["ingest", str(docs), "--pool", "cli-lang", "--chroma-path", db,
                         "--shards", "lang"])  # fmt: skip
    assert ingested.exit_code == 0, ingested.output
    assert Pool.open("cli-lang", path=db).documents()[0].langs == ("deu",)
    bad = run(app, ["index", "--pool", "cli-bad", "--src", str(lines), "--src-lang", "fr",
                    "--chroma-path", db, "--shards", "count:0"])  # fmt: skip
    assert bad.exit_code == 2 and "shards='count:0' is not allowed; use 'lang'" in bad.output
    assert pool_names(connect(db)) == ["cli-lang", "cli-sharded"]


def test_a_new_language_written_by_another_pool_object_is_seen(
    tmp_path: Path, e5: Embedder, flores: Callable[[str, str], list[str]]
) -> None:
    import time

    from xling.store.shards import REFRESH_S

    writer = Pool.open("grows", e5, path=tmp_path, shards="lang")
    writer.index([Record(t, "eng") for t in flores("eng", "dev")[:3]])
    reader = Pool.open("grows", e5, path=tmp_path)
    assert reader.count() == 3
    writer.index([Record(t, "fra") for t in flores("fra", "dev")[:2]])
    time.sleep(REFRESH_S + 0.1)
    assert reader.count() == 5
    (found,) = get_retriever("dense", reader).retrieve([flores("fra", "dev")[0]], k=1)
    assert found.hits[0].lang == "fra"
