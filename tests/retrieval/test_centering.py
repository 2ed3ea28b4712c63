"""Per-language mean centering and query-side margin statistics, on real Chroma.

The arithmetic is checked on a pool of four hand-made 3-d vectors (an embedder that looks them
up in a table), where the means and centred cosines are worked out by hand below; the stored
statistics and the batch margin on the bundled e5 over the bundled FLORES sample.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.data import REFERENCE_LANGS, SAMPLE_LANGS, reference_path, sample_path
from xling.embedders import Embedder, Role
from xling.retrieval import DenseRetriever, MarginRetriever, get_retriever
from xling.retrieval.centering import LanguageMeans, QueryMeans, center
from xling.retrieval.derived import derived_dir
from xling.store import Pool, Record, load_lines

R = 1 / math.sqrt(2)
# The z axis is "language" (+ English, - French), x and y are "content".
TABLE = {
    "e1": (0.8, 0.0, 0.6),
    "e2": (0.0, 0.8, 0.6),
    "f1": (0.8, 0.0, -0.6),
    "f2": (0.0, 0.8, -0.6),
    "e3": (0.0, 0.0, 1.0),
    "q1": (0.6, 0.0, 0.8),
    "q2": (0.0, 0.6, 0.8),
}


class TableEmbedder(Embedder):
    """Looks texts up in :data:`TABLE` (both roles alike)."""

    id = "table-3d"
    dim = 3

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return np.asarray([TABLE[t] for t in texts], dtype=np.float32)


def _records(names: list[str]) -> list[Record]:
    return [
        Record(n, "eng" if n[0] == "e" else "fra", None, None, i, "t") for i, n in enumerate(names)
    ]


@pytest.fixture
def tiny(tmp_path: Path) -> Pool:
    pool = Pool.open("tiny", TableEmbedder(), path=tmp_path / "db")
    pool.index(_records(["e1", "e2", "f1", "f2"]))
    return pool


def test_center_subtracts_the_mean_and_renormalises() -> None:
    got = center(np.asarray([[0.8, 0.0, 0.6], [0.0, 0.0, 1.0]]), np.asarray([0.4, 0.4, 0.6]))
    # (0.4, -0.4, 0) / 0.566 and (-0.4, -0.4, 0.4) / 0.693
    np.testing.assert_allclose(got[0], [R, -R, 0.0], atol=1e-6)
    s = 1 / math.sqrt(3)
    np.testing.assert_allclose(got[1], [-s, -s, s], atol=1e-6)
    # A vector equal to its mean stays zero rather than dividing by zero.
    np.testing.assert_array_equal(
        center(np.asarray([[0.0, 0.6, 0.8]]), [0.0, 0.6, 0.8]), [[0, 0, 0]]
    )


def test_language_means_are_stored_and_follow_an_add(tiny: Pool) -> None:
    means = LanguageMeans(tiny)
    assert means.prepare() is True
    np.testing.assert_allclose(means.means["eng"], [0.4, 0.4, 0.6], atol=1e-6)
    np.testing.assert_allclose(means.means["fra"], [0.4, 0.4, -0.6], atol=1e-6)
    assert means.counts == {"eng": 2, "fra": 2}
    assert means.prepare() is False  # same state: nothing to do
    folder = derived_dir(tiny, tiny.state()[0])
    assert (folder / "language-means.npz").is_file()
    # Another object loads what was stored.
    again = LanguageMeans(tiny)
    again.prepare()
    np.testing.assert_allclose(again.means["eng"], [0.4, 0.4, 0.6], atol=1e-6)
    tiny.index(_records(["e3"]))
    assert means.prepare() is True
    # eng: (0.8 + 0 + 0, 0 + 0.8 + 0, 0.6 + 0.6 + 1) / 3
    np.testing.assert_allclose(means.means["eng"], [0.8 / 3, 0.8 / 3, 2.2 / 3], atol=1e-6)
    np.testing.assert_allclose(means.means["fra"], [0.4, 0.4, -0.6], atol=1e-6)
    assert means.counts == {"eng": 3, "fra": 2}


def test_centred_dense_lifts_the_other_language(tiny: Pool) -> None:
    queries = ["q1", "q2"]
    plain = get_retriever("dense", tiny).retrieve(queries, k=4)
    # Raw cosines of q1: e1 0.96, e2 0.48 (wrong content, same language), f1 0, f2 -0.48.
    assert [h.text for h in plain[0].hits] == ["e1", "e2", "f1", "f2"]
    assert [h.score for h in plain[0].hits] == pytest.approx([0.96, 0.48, 0.0, -0.48], abs=1e-5)
    centred = DenseRetriever(tiny, center=True, query_means="batch")
    centred.query_means.min_batch = 2
    centred.language_means.min_count = 2
    got = centred.retrieve(queries, k=4, query_lang="eng")
    # Batch mean (0.3, 0.3, 0.8): q1 → (R, -R, 0). Pool means (0.4, 0.4, ±0.6): e1 and f1 →
    # (R, -R, 0), e2 and f2 → (-R, R, 0). So f1 ties e1 at 1 (e1 first: the earlier hit).
    assert [h.text for h in got[0].hits] == ["e1", "f1", "e2", "f2"]
    assert [h.score for h in got[0].hits] == pytest.approx([1, 1, -1, -1], abs=1e-5)
    assert [h.text for h in got[1].hits[:2]] == ["e2", "f2"]
    # A single query takes the pool's English mean: q1 - (0.4, 0.4, 0.6) = (1, -2, 1) / 5, whose
    # cosine with (1, -1, 0) is 3 / (sqrt(6) sqrt(2)) = sqrt(3) / 2.
    single = DenseRetriever(tiny, center=True)
    single.prepare()
    # Two passages per language are too few for a mean (min_count 10): nothing is centred.
    vectors = np.asarray([TABLE["e1"], TABLE["f2"]], dtype=np.float32)
    np.testing.assert_allclose(single.language_means.center(vectors, ["eng", "fra"]), vectors)
    single.language_means.min_count = 2
    (one,) = single.retrieve(["q1"], k=4, query_lang="eng")
    assert [h.text for h in one.hits] == ["e1", "f1", "e2", "f2"]
    h = math.sqrt(3) / 2
    assert [x.score for x in one.hits] == pytest.approx([h, h, -h, -h], abs=1e-5)


def test_query_means_from_the_batch_or_the_sample(e5: Embedder) -> None:
    texts = ["Where is the station?", "Who wrote this book?", "Où est la gare ?"]
    vectors = e5.embed_queries(texts, task="asymmetric")
    batch = QueryMeans(e5, "asymmetric", "batch", min_batch=2)
    means = batch.means(vectors, ["eng", "eng", "fra"])
    # Two English queries make their own mean; one French query takes the sample's.
    np.testing.assert_allclose(means[0], vectors[:2].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(means[1], means[0])
    lines = reference_path("fra").read_text(encoding="utf-8").split("\n")[:100]
    fra = e5.embed_queries(lines, task="asymmetric").mean(axis=0)
    np.testing.assert_allclose(means[2], fra, atol=1e-5)
    sample = QueryMeans(e5, "asymmetric", "sample").means(vectors, ["eng", None, "fra"])
    assert not np.allclose(sample[0], means[0])
    np.testing.assert_array_equal(sample[1], np.zeros(e5.dim))  # unknown language: as is
    assert batch.languages(texts, [None, "de", None]) == ["eng", "deu", "fra"]
    assert len(batch.sample()[1]) == 100 * len(REFERENCE_LANGS)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    db = tmp_path_factory.mktemp("centering") / "db"
    pool = Pool.open("sample", e5, path=db)
    pool.index([r for lang in SAMPLE_LANGS for r in load_lines(sample_path(lang), lang)])
    return db


@pytest.fixture
def pool(sample_db: Path, tmp_path: Path) -> Pool:
    db = tmp_path / "db"
    shutil.copytree(sample_db, db)
    return Pool.open("sample", path=db, create=False)


def test_stored_means_of_a_real_pool_update_after_an_add(pool: Pool, tmp_path: Path) -> None:
    means = LanguageMeans(pool)
    means.prepare()
    _, _, metas, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    langs = np.asarray([m["lang"] for m in metas])
    for lang in SAMPLE_LANGS:
        np.testing.assert_allclose(means.means[lang], vectors[langs == lang].mean(0), atol=1e-5)
    assert means.counts == dict.fromkeys(SAMPLE_LANGS, 100)
    extra = tmp_path / "extra.txt"
    extra.write_text("The station is closed on Sundays.\nThe museum opens at nine.\n")
    pool.index(load_lines(extra, "eng"))
    fresh = LanguageMeans(pool)
    fresh.prepare()  # a new object: it must not load the stale file
    means.prepare()
    _, _, metas, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    english = vectors[np.asarray([m["lang"] for m in metas]) == "eng"]
    assert len(english) == 102 and fresh.counts["eng"] == 102
    np.testing.assert_allclose(fresh.means["eng"], english.mean(0), atol=1e-5)
    np.testing.assert_allclose(means.means["eng"], english.mean(0), atol=1e-5)


def test_margin_defaults_are_centred_csls_over_the_batch(pool: Pool) -> None:
    margin = get_retriever("margin", pool)
    assert isinstance(margin, MarginRetriever)
    assert (margin.center, margin.kind, margin.reference) == (True, "distance", "batch")
    margin.min_batch = 3
    queries = [
        "Wer hat das iPhone vorgestellt?",
        "Who unveiled the iPhone?",
        "Qui a présenté l'iPhone ?",
    ]
    langs = ["deu", "eng", "fra"]
    got = margin.retrieve(queries, k=5, query_lang=langs)
    # The reference computation: every passage's centred vector, the batch's centred queries,
    # then cos - (m_k(q) + m_k(p)) / 2 over the query's 100 nearest raw neighbours.
    ids, _, metas, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    plang = [m["lang"] for m in metas]
    pmeans = {x: vectors[np.asarray(plang) == x].mean(0) for x in SAMPLE_LANGS}
    pc = vectors - np.stack([pmeans[x] for x in plang])
    pc /= np.linalg.norm(pc, axis=1, keepdims=True)
    q = pool.embedder.embed_queries(queries, task="asymmetric")
    qc = q - np.stack([pmeans[x] for x in langs])  # one query per language: the pool's means
    qc /= np.linalg.norm(qc, axis=1, keepdims=True)
    m_p = np.sort(pc @ qc.T, axis=1)[:, ::-1][:, :10].mean(axis=1)
    for i in range(3):
        shortlist = np.argsort(-(vectors @ q[i]), kind="stable")[:100]
        sims = pc[shortlist] @ qc[i]
        m_q = np.sort(sims)[::-1][:10].mean()
        scores = sims - (m_q + m_p[shortlist]) / 2
        best = shortlist[np.argsort(-scores, kind="stable")[:5]]
        assert [h.id for h in got[i].hits] == [ids[j] for j in best]
        assert got[i].hits[0].score == pytest.approx(scores.max(), abs=1e-4)
    assert got[0].hits[0].metadata["row"] == 60  # "Apple CEO Steve Jobs unveiled the device"


def test_shipped_margin_and_sample_margin_still_work(pool: Pool) -> None:
    shipped = MarginRetriever(pool, kind="ratio", reference="pool", center=False, neighbors=4)
    (a,) = shipped.retrieve(["Who unveiled the iPhone?"], k=3)
    assert a.hits[0].metadata["row"] == 60
    sample = MarginRetriever(pool, reference="sample")
    (b,) = sample.retrieve(["Qui a présenté l'iPhone ?"], k=3)  # language detected
    assert b.hits[0].metadata["row"] == 60
    assert sample.sample_vectors().shape == (100 * len(REFERENCE_LANGS), pool.embedder.dim)
    # A single question with the defaults: centred cosines, no passage statistics.
    (c,) = get_retriever("margin", pool).retrieve(["Wer hat das iPhone vorgestellt?"], k=3)
    assert c.hits[0].metadata["row"] == 60


def test_bad_options_are_named(pool: Pool) -> None:
    with pytest.raises(InvalidInputError, match="center='yes' is not allowed; use True or False"):
        get_retriever("dense", pool, center="yes")
    with pytest.raises(InvalidInputError, match="reference.*'corpus'.*pool, batch, sample"):
        get_retriever("margin", pool, reference="corpus")
    with pytest.raises(
        InvalidInputError,
        match="query_means='queries' is not allowed; use one of: batch, pool, sample",
    ):
        get_retriever("margin", pool, query_means="queries")
