"""Pools on real Chroma: embedded and a `chroma run` server, with the bundled embedders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.embedders import Embedder, get_embedder
from xling.retrieval import get_retriever
from xling.selectors import aligned_pool
from xling.store import Pool, Record, aligned_records, connect, load_aligned


@pytest.fixture
def eng_fra(shared_data: Path) -> list[Record]:
    folder = shared_data / "flores"
    return load_aligned(folder / "eng/dev.txt", folder / "fra/dev.txt", "eng", "fra")[:200]


def test_index_search_across_languages(
    tmp_path: Path, use_m3: Embedder, eng_fra: list[Record]
) -> None:
    pool = Pool.open("flores-eng-fra", use_m3, path=tmp_path)
    report = pool.index(eng_fra, batch_size=64)
    assert (report.total, report.added, report.skipped) == (200, 200, 0)
    assert pool.count() == 200
    english = [r.text for r in eng_fra if r.side == "src"][:20]
    hits = [r.hits for r in get_retriever("dense", pool).retrieve(english, k=3, langs="fr")]
    # Each English query finds its own French translation first.
    rows = [h[0].metadata["row"] for h in hits]
    assert rows == list(range(20))
    assert all(h.lang == "fra" for q in hits for h in q)
    assert all(q[0].score >= q[1].score >= q[2].score for q in hits)
    config = pool.collection.configuration
    assert config["hnsw"]["space"] == "cosine"


def test_reindexing_is_idempotent_and_embeds_nothing(
    tmp_path: Path, use_m3: Embedder, eng_fra: list[Record]
) -> None:
    pool = Pool.open("idem", use_m3, path=tmp_path)
    pool.index(eng_fra)
    calls: list[int] = []
    counting = get_embedder("use-m3", cache=False)
    original = counting._encode
    counting._encode = lambda batch, role: calls.append(len(batch)) or original(batch, role)  # type: ignore[method-assign]
    again = Pool.open("idem", counting, path=tmp_path)
    report = again.index(eng_fra)
    assert (report.added, report.skipped, again.count()) == (0, 200, 200)
    assert calls == []


def test_interrupted_index_resumes_without_duplicates(
    tmp_path: Path, use_m3: Embedder, eng_fra: list[Record]
) -> None:
    pool = Pool.open("resume", use_m3, path=tmp_path)

    def interrupt(done: int, total: int) -> None:
        if done >= 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pool.index(eng_fra, batch_size=50, on_progress=interrupt)
    assert pool.count() == 50
    report = Pool.open("resume", use_m3, path=tmp_path).index(eng_fra, batch_size=50)
    assert (report.added, report.skipped) == (150, 50)
    ids = pool.collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids)) == 200


def test_embedder_mismatch_is_refused(tmp_path: Path, use_m3: Embedder, e5: Embedder) -> None:
    pool = Pool.open("mine", use_m3, path=tmp_path)
    # Opening writes nothing: the pool exists from its first record on.
    assert pool.collection is None and pool.count() == 0
    assert [r.hits for r in get_retriever("dense", pool).retrieve(["x"], k=1)] == [()]
    Pool.open("mine", e5, path=tmp_path)
    pool.index([Record("Good morning.", "eng")])
    with pytest.raises(
        InvalidInputError,
        match=r"indexed with embedder 'use-m3' \(512-d\), not 'e5-small-q4' \(384-d\)",
    ):
        Pool.open("mine", e5, path=tmp_path)


def test_bad_pool_names_and_missing_pools(tmp_path: Path, use_m3: Embedder) -> None:
    with pytest.raises(InvalidInputError, match="pool name 'a' is not allowed"):
        Pool.open("a", use_m3, path=tmp_path)
    with pytest.raises(InvalidInputError, match="pool 'ghost' does not exist"):
        Pool.open("ghost", use_m3, path=tmp_path, create=False)


def test_batches_stay_under_chromas_maximum(tmp_path: Path, tiny_model_dir: Path) -> None:
    # 6,000 distinct records in one call with a batch size above Chroma's limit (5,461).
    embedder = get_embedder(f"hf:{tiny_model_dir}", cache=False, batch_size=512)
    records = [
        Record(f"sentence number {i}", "eng", row=i, source="synthetic") for i in range(6000)
    ]
    pool = Pool.open("big", embedder, path=tmp_path)
    assert pool.max_batch == 5461
    report = pool.index(records, batch_size=10_000)
    assert report.added == 6000 and pool.count() == 6000
    # Read back in pages of at most max_batch (one get of a large pool exceeds SQLite's limits).
    ids, texts, _, vectors = pool.listing(with_vectors=True)
    assert len(set(ids)) == 6000 and set(texts) == {r.text for r in records}
    assert vectors is not None and vectors.shape == (6000, embedder.dim)
    # 400 queries × 101 results is more than one SQLite statement takes: searched in slices.
    symmetric = get_retriever("dense", pool, task="symmetric")
    found = [r.hits for r in symmetric.retrieve([r.text for r in records[:400]], k=101)]
    assert len(found) == 400 and all(len(hits) == 101 for hits in found)
    assert [hits[0].text for hits in found[:5]] == [r.text for r in records[:5]]


def test_aligned_view_keeps_row_order_and_vectors(
    tmp_path: Path, use_m3: Embedder, eng_fra: list[Record]
) -> None:
    pool = Pool.open("aligned", use_m3, path=tmp_path)
    pool.index(list(reversed(eng_fra)))
    view = aligned_pool(pool, "en", "fra_Latn")
    assert view.rows == list(range(100))
    assert view.sources == [r.text for r in eng_fra if r.side == "src"]
    assert view.source_vectors is not None and view.source_vectors.shape == (100, 512)
    np.testing.assert_allclose(
        view.source_vectors[0], use_m3.embed_documents([view.sources[0]])[0], atol=1e-5
    )
    with pytest.raises(InvalidInputError, match="holds no fra->eng translation pairs"):
        aligned_pool(pool, "fra", "eng")


def test_a_sentence_in_four_pairs_is_one_passage(tmp_path: Path, e5: Embedder) -> None:
    from xling.data import sample_path

    pool = Pool.open("four-pairs", e5, path=tmp_path)
    added = 0
    for lang in ("fra", "deu", "swh", "wol"):
        records = load_aligned(sample_path("eng"), sample_path(lang), "eng", lang)[:40]
        report = pool.index(records)
        added += report.added
        # After the first direction the English side is there: only its pairs are added.
        assert report.updated == (0 if lang == "fra" else 20)
    assert pool.count() == 20 + 4 * 20 == added
    english = [line for line in sample_path("eng").read_text().split("\n")[:20]]
    symmetric = get_retriever("dense", pool, task="symmetric")
    hits = [r.hits for r in symmetric.retrieve(english[:5], k=10, langs="eng")]
    # Each English sentence is found once, not once per pair.
    assert [q[0].text for q in hits] == english[:5]
    assert all(len({h.id for h in q}) == len(q) == 10 for q in hits)
    assert "xling:pair" not in str(hits[0][0].metadata) and "lang" not in hits[0][0].metadata
    for lang in ("fra", "deu", "swh", "wol"):
        view = aligned_pool(pool, "eng", lang, with_vectors=False)
        assert view.sources == english and view.rows == list(range(20))
        expected = sample_path(lang).read_text(encoding="utf-8").split("\n")[:20]
        assert view.targets == expected


def test_server_and_embedded_share_the_code_path(chroma_url: str, use_m3: Embedder) -> None:
    records = aligned_records(["Good morning.", "Thank you."], ["Bonjour.", "Merci."], "en", "fr")
    pool = Pool.open("served", use_m3, url=chroma_url)
    assert pool.index(records).added == 4
    assert Pool.open("served", use_m3, url=chroma_url).index(records).added == 0
    hit = get_retriever("dense", pool).retrieve(["Merci beaucoup"], k=1, langs="eng")[0].hits[0]
    assert hit.text == "Thank you."
    with pytest.raises(InvalidInputError, match="indexed with embedder 'use-m3'"):
        Pool.open("served", get_embedder("e5-small-q4", cache=False), url=chroma_url)


def test_unreachable_chroma_url_is_named() -> None:
    from tests.conftest import refused_port

    url = f"http://127.0.0.1:{refused_port()}"
    with pytest.raises(ServiceUnavailableError, match=f"Chroma at {url} is unreachable"):
        connect(url=url)
    with pytest.raises(InvalidInputError, match="Chroma URL 'ftp://x' is not allowed"):
        connect(url="ftp://x")


def test_an_embedded_client_given_names_the_folder_and_writes_are_counted(
    tmp_path: Path, use_m3: Embedder, chroma_url: str
) -> None:
    records = aligned_records(["Good morning."], ["Bonjour."], "en", "fr")
    pool = Pool.open("given", use_m3, client=connect(path=tmp_path))
    assert pool.db is Pool.open("given", use_m3, path=tmp_path).db
    assert pool.db.folder == tmp_path.resolve()
    assert pool.index(records).added == 2
    # One committed batch: other processes' pools reopen their view when they see it.
    assert (tmp_path / ".xling-generation").read_text() == "1"
    assert Pool.open("given", use_m3, path=str(tmp_path)).count() == 2
    served = Pool.open("given", use_m3, url=chroma_url)
    assert served.db.guard is None and served.db.url == chroma_url  # the server serialises
