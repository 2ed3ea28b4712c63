"""The retrieval seam on real Chroma with the bundled e5, over the bundled FLORES sample."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.records import Hit, QueryHits, hits_from_run, hits_to_run
from xling.core.tokenize import tokenize
from xling.data import sample_path
from xling.embedders import Embedder
from xling.eval import evaluate_run
from xling.rerankers import RerankRequest
from xling.retrieval import (
    BM25Retriever,
    MarginRetriever,
    available_retrievers,
    get_retriever,
)
from xling.store import Pool, load_lines

# The margin as first shipped: ratio over pool neighbourhoods, no centering.
SHIPPED: dict[str, Any] = {"kind": "ratio", "reference": "pool", "center": False}


def _lines(lang: str) -> list[str]:
    return sample_path(lang).read_text(encoding="utf-8").split("\n")


def test_registry_names_every_method(pool: Pool) -> None:
    assert available_retrievers() == ["dense", "bm25", "hybrid", "margin"]
    with pytest.raises(UnknownSpecError, match="unknown retrieval method 'sparse'.*dense, bm25"):
        get_retriever("sparse", pool)
    with pytest.raises(UnknownSpecError, match="unexpected keyword argument 'fusion'"):
        get_retriever("dense", pool, fusion="rrf")
    with pytest.raises(InvalidInputError, match="k=0"):
        get_retriever("dense", pool).retrieve(["x"], k=0)


def test_dense_scores_are_cosines_and_hits_keep_everything(pool: Pool) -> None:
    assert pool.count() == 500  # one passage per text: English once, not four times
    query = "Wer hat das iPhone auf der Bühne vorgestellt?"
    (result,) = get_retriever("dense", pool).retrieve([query], k=5, query_lang="de")
    assert result.qid == "0" and result.query_lang == "deu"
    ids, texts, metas, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    q = np.asarray(pool.embedder.embed_queries([query], task="asymmetric"))[0]
    cosines = dict(zip(ids, (vectors @ q).tolist(), strict=True))
    # Chroma's distances turned into cosines agree with the dot product of unit vectors, and
    # the first hit is the brute-force best.
    for hit in result.hits:
        assert hit.score == pytest.approx(cosines[hit.id], abs=1e-4)
    assert result.hits[0].id == max(cosines, key=cosines.__getitem__)
    assert result.hits[0].metadata["row"] == 60  # "Apple CEO Steve Jobs unveiled the device"
    assert set(result.hits[0].metadata) == {"row", "source"}
    assert len({h.id for h in result.hits}) == 5


def test_filters_languages_metadata_and_excluded_ids(pool: Pool) -> None:
    dense = get_retriever("dense", pool, task="symmetric")
    line = _lines("eng")[2]  # the Gripen crash
    (only_swh,) = dense.retrieve([line], k=3, langs=["sw"])
    assert {h.lang for h in only_swh.hits} == {"swh"}
    assert only_swh.hits[0].text == _lines("swh")[2]
    (no_eng,) = dense.retrieve([line], k=8, exclude_langs="eng")
    assert "eng" not in {h.lang for h in no_eng.hits}
    assert {h.text for h in no_eng.hits[:4]} == {_lines(x)[2] for x in ("fra", "deu", "swh", "wol")}
    (rows,) = dense.retrieve([line], k=4, where={"row": {"$lt": 2}})
    assert {h.metadata["row"] for h in rows.hits} <= {0, 1}
    (own,) = dense.retrieve([line], k=1)
    (skipped,) = dense.retrieve([line], k=1, exclude_ids=[[own.hits[0].id]])
    assert own.hits[0].text == line and skipped.hits[0].id != own.hits[0].id
    with pytest.raises(InvalidInputError, match="both included and excluded"):
        dense.retrieve([line], langs="fr", exclude_langs="fra")


def test_bm25_matches_bm25s_and_follows_upserts(pool: Pool) -> None:
    import bm25s

    retriever = BM25Retriever(pool)
    query = "Gripen runway airport"
    (result,) = retriever.retrieve([query], k=3)
    assert result.hits[0].text == _lines("eng")[2]
    ids, texts, _, _ = pool.listing()
    reference = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    reference.index([tokenize(t) for t in texts], show_progress=False)
    expected = reference.get_scores(tokenize(query))
    by_id = dict(zip(ids, expected.tolist(), strict=True))
    assert [h.score for h in result.hits] == pytest.approx([by_id[h.id] for h in result.hits])
    assert retriever.builds == 1
    # Persisted beside the pool: a second retriever loads it instead of building.
    again = BM25Retriever(pool)
    again.retrieve([query], k=1)
    assert again.builds == 0
    # An upsert makes it stale: the next query sees the new passage, added as a segment.
    pool.index(load_lines(_write(pool, "Mpira wa Gripen ulianguka jana.\n"), "swh"))
    (fresh,) = again.retrieve(["Gripen mpira"], k=1)
    assert fresh.hits[0].text == "Mpira wa Gripen ulianguka jana."
    assert (again.builds, again.updates) == (0, 1)


def _write(pool: Pool, text: str) -> Path:
    assert pool.db.folder is not None
    path = Path(pool.db.folder).parent / "extra.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_bm25_over_scripts_without_spaces(tmp_path: Path, e5: Embedder, shared_data: Path) -> None:
    lines = (shared_data / "tatoeba" / "tatoeba.jpn-eng.jpn").read_text("utf-8").split("\n")[:60]
    path = tmp_path / "jpn.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    pool = Pool.open("jpn", e5, path=tmp_path / "db")
    pool.index(load_lines(path, "jpn"))
    target = lines[17]
    (result,) = BM25Retriever(pool).retrieve([target[: max(4, len(target) // 2)]], k=1)
    assert result.hits[0].text == target


def test_hybrid_rrf_is_the_sum_of_reciprocal_ranks(pool: Pool) -> None:
    query = "Nadal und Raonic beim Brisbane Open"
    dense = get_retriever("dense", pool).retrieve([query], k=100)[0]
    lexical = get_retriever("bm25", pool).retrieve([query], k=100)[0]
    (fused,) = get_retriever("hybrid", pool, fusion="rrf", depth=100).retrieve([query], k=5)
    for hit in fused.hits:
        expected = sum(
            1 / (60 + result.ids.index(hit.id) + 1)
            for result in (dense, lexical)
            if hit.id in result.ids
        )
        assert hit.score == pytest.approx(expected)
    scores = [h.score for h in fused.hits]
    assert scores == sorted(scores, reverse=True)
    (weighted,) = get_retriever("hybrid", pool, fusion="weighted", weight=1.0).retrieve(
        [query], k=3
    )
    assert weighted.ids == dense.ids[:3]


def test_hybrid_default_is_weighted_with_a_dense_share_of_0_7(pool: Pool) -> None:
    hybrid = get_retriever("hybrid", pool)
    assert (hybrid.fusion, hybrid.weight) == ("weighted", 0.7)
    query = "Nadal und Raonic beim Brisbane Open"
    dense = get_retriever("dense", pool).retrieve([query], k=100)[0]
    lexical = get_retriever("bm25", pool).retrieve([query], k=100)[0]
    (fused,) = hybrid.retrieve([query], k=3)

    def scaled(result, hid):  # type: ignore[no-untyped-def]
        scores = [h.score for h in result.hits]
        lo, hi = min(scores), max(scores)
        by_id = {h.id: h.score for h in result.hits}
        return (by_id[hid] - lo) / (hi - lo) if hid in by_id else 0.0

    for hit in fused.hits:
        expected = 0.7 * scaled(dense, hit.id) + 0.3 * scaled(lexical, hit.id)
        assert hit.score == pytest.approx(expected, abs=1e-6)


def test_margin_statistics_are_the_pool_knn_means_and_update_incrementally(pool: Pool) -> None:
    margin = MarginRetriever(pool, neighbors=4, **SHIPPED)
    margin.prepare()
    ids, _, _, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    expected = np.sort(sims, axis=1)[:, ::-1][:, :4].mean(axis=1)
    got = np.asarray([margin._means[i] for i in ids])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert margin.work == 500 * 500
    # Adding passages costs added × pool, and gives what a rebuild gives.
    extra = [f"{line} (updated)" for line in _lines("eng")[:10]]
    pool.index(load_lines(_write(pool, "\n".join(extra)), "eng"))
    margin.work = 0
    margin.prepare()
    assert margin.work == 10 * 510
    fresh = MarginRetriever(pool, neighbors=4, **SHIPPED)
    shutil.rmtree(Path(str(pool.db.folder)) / "xling-derived")
    fresh.prepare()
    assert fresh.work == 510 * 510
    for rid, value in fresh._means.items():
        assert margin._means[rid] == pytest.approx(value, abs=1e-5)


def test_margin_rescores_a_dense_shortlist(pool: Pool) -> None:
    query = _lines("eng")[45]  # Arthur Guinness
    dense = get_retriever("dense", pool, task="symmetric").retrieve([query], k=100)[0]
    retriever = MarginRetriever(pool, neighbors=4, shortlist=100, task="symmetric", **SHIPPED)
    (result,) = retriever.retrieve([query], k=5)
    sims = {h.id: h.score for h in dense.hits}
    own = float(np.mean(sorted(sims.values(), reverse=True)[:4]))
    for hit in result.hits:
        expected = sims[hit.id] / ((own + retriever._means[hit.id]) / 2)
        assert hit.score == pytest.approx(expected, rel=1e-4)


def test_hits_go_into_a_reranker_and_the_eval_run_format(pool: Pool) -> None:
    results = get_retriever("dense", pool, task="symmetric").retrieve(
        [_lines("eng")[3], _lines("eng")[4]], k=5, exclude_langs="eng", qids=["q3", "q4"]
    )
    request = RerankRequest.of(results[0])
    assert request.qid == "q3" and request.candidates == results[0].hits
    assert request.candidates[0].metadata["row"] == 3
    # Relevant: the query's four translations, found by their row.
    qrels = {
        r.qid: {h.id: 1 for h in r.hits if h.metadata["row"] == int(r.qid[1:])} for r in results
    }
    scores = evaluate_run(hits_to_run(results), qrels, ["R@5"]).metrics
    assert scores["R@5"] == 1.0
    # And back: a run (as read from a file) becomes hits again, texts from the pool.
    back = hits_from_run(hits_to_run(results), {r.qid: r.query for r in results}, pool.get)
    assert [b.ids for b in back] == [r.ids for r in results]
    assert back[0].hits[0].text == results[0].hits[0].text
    with pytest.raises(InvalidInputError, match="not in the pool, e.g. 'nope'"):
        hits_from_run({"q3": {"nope": 1.0}}, {"q3": "x"}, pool.get)
    line = results[1].to_dict()
    assert QueryHits.from_dict(line) == results[1]
    assert set(line["hits"][0]) == {"id", "text", "lang", "score", "metadata"}
    with pytest.raises(InvalidInputError, match="candidate 'x' has text"):
        Hit("x", " ")
