"""BM25 that grows: a pool's index after adds, deletions and updates equals one built from
scratch, checked against bm25s directly and xling's own full build, in several scripts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.core.tokenize import tokenize
from xling.documents.records import Document
from xling.embedders import Embedder
from xling.retrieval import BM25Retriever
from xling.retrieval.base import Filter
from xling.retrieval.bm25_index import BM25_METHODS, BM25Params
from xling.retrieval.bm25_segments import (
    MAX_SEGMENTS,
    GrowingBM25,
    Segment,
    load_index,
    save_index,
)
from xling.retrieval.derived import snapshot
from xling.store import Pool


def _bm25s_ranking(
    ids: Sequence[str], texts: Sequence[str], query: str, k: int, method: str
) -> list[tuple[str, float]]:
    """The reference: bm25s built from scratch over the passages, ties to the lower id."""
    import bm25s

    model = bm25s.BM25(k1=1.5, b=0.75, method=method)
    model.index([tokenize(t) or ["\x00"] for t in texts], show_progress=False)
    known = [t for t in tokenize(query) if t in model.vocab_dict]
    scores = model.get_scores(known) if known else np.zeros(len(ids))
    ranked = sorted((-float(s), i) for i, s in zip(ids, scores, strict=True) if s > 0)
    return [(i, -s) for s, i in ranked[:k]]


def _assert_same_ranking(
    got: list[tuple[str, float]], expected: list[tuple[str, float]], rtol: float = 1e-5
) -> None:
    """Same scores within float tolerance, same ids in the same order except among near-ties
    (bm25s scores in float32, so near-equal scores may swap; their sets must agree)."""
    assert len(got) == len(expected)
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=rtol)
    groups: dict[int, tuple[set[str], set[str]]] = {}
    group = 0
    for n, ((gi, gs), (ei, _)) in enumerate(zip(got, expected, strict=True)):
        if n and abs(gs - got[n - 1][1]) > rtol * abs(gs):
            group += 1
        mine, theirs = groups.setdefault(group, (set(), set()))
        mine.add(gi)
        theirs.add(ei)
    # The last group may be cut by k differently on each side: only its size is compared.
    for g, (mine, theirs) in groups.items():
        assert g == group or mine == theirs


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> dict[str, list[str]]:
    """Real lines in four scripts: Latin (FLORES), Han (NTREX), Thai and Hangul (Tatoeba)."""
    flores = shared_data / "flores"
    read = lambda p: [x for x in p.read_text(encoding="utf-8").split("\n") if x.strip()]  # noqa: E731
    return {
        "eng": read(flores / "eng" / "dev.txt")[:96],
        "fra": read(flores / "fra" / "dev.txt")[96:120],
        "zho": read(shared_data / "ntrex" / "newstest2019-ref.zho-CN.txt")[:24],
        "tha": read(shared_data / "tatoeba" / "tatoeba.tha-eng.tha")[:24],
        "kor": read(shared_data / "tatoeba" / "tatoeba.kor-eng.kor")[:12],
    }


def _docs(prefix: str, lines: list[str], lang: str, per_doc: int = 4) -> list[Document]:
    return [
        Document(f"{prefix}-{i}", "\n\n".join(lines[s : s + per_doc]), lang=lang)
        for i, s in enumerate(range(0, len(lines), per_doc))
    ]


def _check_pool(retriever: BM25Retriever, pool: Pool, queries: list[str], k: int = 8) -> None:
    """The retriever's rankings equal xling's full build exactly, and bm25s' within float32."""
    snap = snapshot(pool, with_vectors=False)
    rebuilt = GrowingBM25([Segment.build(snap.ids, snap.texts)])
    got = retriever.ranked(queries, k, Filter())
    assert got == rebuilt.search(queries, k, retriever.params)
    for query, row in zip(queries, got, strict=True):
        _assert_same_ranking(row, _bm25s_ranking(snap.ids, snap.texts, query, k, "lucene"))


def test_pool_index_grows_with_adds_deletions_and_updates(
    tmp_path: Path, e5: Embedder, texts: dict[str, list[str]]
) -> None:
    pool = Pool.open("grow", e5, path=tmp_path / "db")
    pool.ingest(_docs("eng", texts["eng"][:64], "eng") + _docs("zho", texts["zho"], "zho"))
    queries = [
        texts["eng"][3][:60], texts["eng"][70], texts["fra"][2], "Gripen airport runway",
        texts["zho"][5][:12], texts["tha"][3], texts["kor"][4], "the of and",
    ]  # fmt: skip
    retriever = BM25Retriever(pool)
    _check_pool(retriever, pool, queries)
    assert (retriever.builds, retriever.updates) == (1, 0)

    # Added documents (more English, French, Thai, Korean) become a segment: no rebuild.
    pool.ingest(
        _docs("eng2", texts["eng"][64:], "eng")
        + _docs("fra", texts["fra"], "fra")
        + _docs("tha", texts["tha"], "tha")
        + _docs("kor", texts["kor"], "kor")
    )
    _check_pool(retriever, pool, queries)
    assert (retriever.builds, retriever.updates) == (1, 1)
    assert retriever._index is not None and len(retriever._index.segments) == 2

    # A deleted document never appears, and the statistics exclude it.
    gone = set(pool.listing({"doc_id": "eng2-1"})[0])
    assert gone
    pool.delete(["eng2-1"])
    _check_pool(retriever, pool, queries)
    hits = retriever.ranked([texts["eng"][68], texts["eng"][69]], 50, Filter())
    assert not gone & {i for row in hits for i, _ in row}

    # An updated document: its old chunks deleted, its new ones added.
    pool.ingest([Document("tha-0", "\n\n".join(texts["tha"][:2] + texts["eng"][:1]), lang="tha")])
    _check_pool(retriever, pool, queries)
    assert (retriever.builds, retriever.updates) == (1, 3)

    # Every variant equals bm25s over the same passages.
    snap = snapshot(pool, with_vectors=False)
    for method in BM25_METHODS:
        variant = BM25Retriever(pool, variant=method)
        for query, row in zip(queries, variant.ranked(queries, 6, Filter()), strict=True):
            _assert_same_ranking(row, _bm25s_ranking(snap.ids, snap.texts, query, 6, method))
        # Raw postings serve every variant: the stored index is loaded, not rebuilt.
        assert (variant.builds, variant.updates) == (0, 0)

    # A filter masks by Chroma's where, segment by segment.
    (result,) = retriever.retrieve([texts["tha"][3]], k=5, langs="tha")
    assert result.hits and {h.lang for h in result.hits} == {"tha"}

    # A new process (a new retriever) loads the stored segments and tombstones.
    again = BM25Retriever(pool)
    assert again.ranked(queries, 8, Filter()) == retriever.ranked(queries, 8, Filter())
    assert (again.builds, again.updates) == (0, 0)


def _corpus(shared_data: Path) -> tuple[list[str], list[str]]:
    lines = [
        x
        for name in ("flores/eng/dev.txt", "flores/deu/dev.txt", "ntrex/newstest2019-ref.hin.txt")
        for x in (shared_data / name).read_text(encoding="utf-8").split("\n")[:300]
        if x.strip()
    ]
    return [f"p{i:05d}" for i in range(len(lines))], lines


def test_segments_compact_and_equal_a_fresh_index(shared_data: Path) -> None:
    ids, lines = _corpus(shared_data)
    queries = [lines[i][:50] for i in (5, 350, 700, 899)] + ["und der", "भारत"]
    index = GrowingBM25([Segment.build(ids[:700], lines[:700])])
    for start in range(700, 900, 20):  # ten small segments
        index.add(ids[start : start + 20], lines[start : start + 20])
    assert len(index.segments) == 11
    dead = set(ids[100:180]) | {ids[720], ids[890]}
    assert index.delete(dead) == len(dead)
    live = [(i, t) for i, t in zip(ids[:900], lines[:900], strict=True) if i not in dead]
    fresh = GrowingBM25([Segment.build([i for i, _ in live], [t for _, t in live])])
    for method in BM25_METHODS:
        params = BM25Params(method=method)
        assert index.search(queries, 10, params) == fresh.search(queries, 10, params)
    # Policy: more than MAX_SEGMENTS segments: all but the largest merge into one, from postings
    # (the largest too when the rest reaches half its size).
    assert index.compact() and len(index.segments) == 2
    for method in BM25_METHODS:
        params = BM25Params(method=method)
        assert index.search(queries, 10, params) == fresh.search(queries, 10, params)
    small = GrowingBM25([Segment.build(ids[:100], lines[:100])])
    for start in range(100, 800, 100):
        small.add(ids[start : start + 100], lines[start : start + 100])
    assert not small.compact() and len(small.segments) == MAX_SEGMENTS
    small.add(ids[800:], lines[800:])
    assert small.compact() and len(small.segments) == 1
    everything = GrowingBM25([Segment.build(ids, lines)])
    assert small.search(queries, 10) == everything.search(queries, 10)
    # Tombstones over a quarter of a segment: it is rewritten without them.
    index.delete(ids[:200])
    assert index.compact() and all(live.all() for live in index.live)
    assert sorted(index.live_ids()) == sorted(i for i, _ in live if i >= ids[200])
    with pytest.raises(InvalidInputError, match="already in it"):
        index.add([ids[300]], ["again"])


def test_stored_index_is_atomic_and_survives_a_restart(tmp_path: Path, shared_data: Path) -> None:
    ids, lines = _corpus(shared_data)
    folder = tmp_path / "bm25"
    index = GrowingBM25([Segment.build(ids[:300], lines[:300])])
    save_index(index, folder, {"state": ["c/0", 300]})
    sizes = {300}
    stop = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                loaded = load_index(folder)
                assert loaded is not None
                seen.append(len(loaded[0]))
                assert loaded[1]["state"][1] == len(loaded[0])
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for start in range(300, 700, 20):  # a writer adding, deleting and compacting
            index.add(ids[start : start + 20], lines[start : start + 20])
            index.delete([ids[start - 250]])
            index.compact()
            sizes.add(len(index))
            save_index(index, folder, {"state": ["c/0", len(index)]})
    finally:
        stop.set()
        reader.join()
    assert not failures and seen and set(seen) <= sizes
    loaded = load_index(folder)
    assert loaded is not None
    queries = [lines[i][:40] for i in (310, 450, 600)]
    assert loaded[0].search(queries, 5) == index.search(queries, 5)
    assert len(list(folder.glob("seg-*.npz"))) == len(index.segments) <= MAX_SEGMENTS


def test_unreadable_store_means_a_rebuild(tmp_path: Path) -> None:
    folder = tmp_path / "bm25"
    assert load_index(folder) is None
    save_index(GrowingBM25([Segment.build(["a", "b"], ["red fox", "blue whale"])]), folder, {})
    for seg in folder.glob("seg-*.npz"):
        seg.write_bytes(b"not a zip")
    assert load_index(folder) is None
    with pytest.raises(InvalidInputError, match="same passage id twice"):
        Segment.build(["a", "a"], ["x", "y"])
    custom: Callable[[str], list[str]] = str.split
    with pytest.raises(InvalidInputError, match="only a BM25 index built with xling's tokenize"):
        save_index(GrowingBM25([Segment.build(["a"], ["x"], custom)], tokenizer=custom), folder, {})


def test_sparse_and_dense_scoring_agree_bit_for_bit() -> None:
    from xling.retrieval.bm25_segments import _dense_top, _sparse_top

    rng = np.random.default_rng(7)
    m, nq, k = 500, 6, 7
    flat = rng.integers(0, nq * m, size=900)
    weights = rng.choice([0.25, 0.5, 1.0, 1.5], size=900)  # many exact ties
    live = rng.random(m) > 0.1
    allowed = [rng.random(m) > 0.3]
    for mask in (None, allowed):
        dense = _dense_top(flat, weights, m, k, nq, np.zeros(nq), live, mask, 0)
        assert _sparse_top(flat, weights, m, k, live, mask, 0) == dense
