"""Margin statistics through the pool's HNSW index, against numpy brute force, on real FLORES.

The pool: the bundled FLORES sample (100 dev sentences in each of eng, fra, deu, swh and wol,
500 passages, the bundled e5) in an embedded Chroma folder. The reference is numpy: every
passage against every other. The agreement on the 5,060-passage FLORES devtest pool of
``bench/retrieval.py`` is measured by ``bench/scale_margin.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.data import sample_path
from xling.embedders import Embedder
from xling.retrieval import MarginRetriever
from xling.retrieval.derived import derived_dir
from xling.retrieval.neighbour_search import approximate_neighbours, resolve_search
from xling.store import Pool, load_aligned, load_lines

SHIPPED: dict[str, Any] = {"kind": "ratio", "reference": "pool", "center": False}
SIZE = 500
K = 10


def _write_lines(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _brute_force(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row's k most similar other rows by numpy: (indices, similarities), best first."""
    sims = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def _header(pool: Pool, retriever: MarginRetriever) -> dict[str, Any]:
    path = derived_dir(pool, pool.state()[0]) / f"{retriever._name()}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_the_index_finds_the_true_neighbours_and_never_the_passage_itself(pool: Pool) -> None:
    ids, _, _, vectors = pool.listing(with_vectors=True)
    assert vectors is not None and len(ids) == SIZE
    true_idx, _ = _brute_force(vectors, K)
    sims, found = approximate_neighbours(pool, ids, vectors, np.arange(len(ids)), K)
    assert found.shape == sims.shape == (SIZE, K)
    assert not (found == np.arange(len(ids))[:, None]).any()
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, true_idx, strict=True)])
    assert recall >= 0.95
    # The similarities kept are exact: the dot products of the rows found.
    again = np.einsum("nd,nkd->nk", vectors, vectors[found])
    np.testing.assert_allclose(sims, again, atol=1e-5)


def test_approximate_statistics_match_brute_force_and_say_how_they_were_made(pool: Pool) -> None:
    calls: list[tuple[int, int]] = []
    margin = MarginRetriever(
        pool,
        neighbors=K,
        neighbour_search="approximate",
        on_progress=lambda done, total: calls.append((done, total)),
        **SHIPPED,
    )
    margin.prepare()
    assert margin.work == 500 * 40  # 4·k candidates per passage, not 500 × 500
    assert margin.search_used == "approximate"
    assert _header(pool, margin)["search"] == "approximate"
    assert calls[-1] == (500, 500)
    ids, _, _, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    expected = _brute_force(vectors, K)[1].mean(axis=1)
    got = np.asarray([margin._means[i] for i in ids])
    assert np.abs(got - expected).max() < 2e-3
    assert np.abs(got - expected).mean() < 2e-4


def test_centred_statistics_rescore_the_candidates_on_centred_vectors(pool: Pool) -> None:
    margin = MarginRetriever(
        pool, neighbors=K, reference="pool", center=True, neighbour_search="approximate"
    )
    margin.prepare()
    ids, _, metas, vectors = pool.listing(with_vectors=True)
    assert vectors is not None
    # xling's centring (tested in test_centering.py), numpy's neighbours.
    centred = margin.language_means.center(vectors, [str(m["lang"]) for m in metas])
    expected = _brute_force(centred, K)[1].mean(axis=1)
    got = np.asarray([margin._means[i] for i in ids])
    # The index holds uncentred vectors (its order is the centred one only up to an offset
    # per language): a looser bound. Measured: 2e-4 on average, 0.014 at most.
    assert np.abs(got - expected).mean() < 1e-3
    assert np.abs(got - expected).max() < 3e-2


def test_added_passages_update_approximate_statistics_by_reverse_neighbours(
    pool: Pool, flores: Any, tmp_path: Path
) -> None:
    margin = MarginRetriever(pool, neighbors=K, neighbour_search="approximate", **SHIPPED)
    margin.prepare()
    extra = flores("eng", "devtest")[SIZE : SIZE + 20]
    pool.index(load_lines(_write_lines(tmp_path, "more.txt", extra), "eng"))
    margin.work = 0
    margin.prepare()
    assert margin.work == 20 * 40  # the new passages' 4·k candidates, not 20 × 520
    ids, _, _, vectors = pool.listing(with_vectors=True)
    assert vectors is not None and len(ids) == 520
    expected = _brute_force(vectors, K)[1].mean(axis=1)
    got = np.asarray([margin._means[i] for i in ids])
    assert np.abs(got - expected).max() < 2e-3
    assert _header(pool, margin)["search"] == "approximate"


def test_auto_is_exact_for_a_small_pool_and_exact_statistics_serve_both(pool: Pool) -> None:
    assert resolve_search("auto", 20_000) == "exact"
    assert resolve_search("auto", 20_001) == "approximate"
    auto = MarginRetriever(pool, neighbors=K, **SHIPPED)
    auto.prepare()
    assert (auto.search_used, auto.work) == ("exact", 500 * 500)
    # Exact statistics on disk are good enough for the approximate search: reused.
    approximate = MarginRetriever(pool, neighbors=K, neighbour_search="approximate", **SHIPPED)
    approximate.prepare()
    assert (approximate.search_used, approximate.work) == ("exact", 0)
    assert approximate._means == auto._means
    # Approximate ones are not reused when exact ones are asked for.
    shutil.rmtree(derived_dir(pool, pool.state()[0]))
    approximate = MarginRetriever(pool, neighbors=K, neighbour_search="approximate", **SHIPPED)
    approximate.prepare()
    exact = MarginRetriever(pool, neighbors=K, neighbour_search="exact", **SHIPPED)
    exact.prepare()
    assert (exact.search_used, exact.work) == ("exact", 500 * 500)
    assert _header(pool, exact)["search"] == "exact"


def test_translations_are_found_as_well_with_either_search(pool: Pool) -> None:
    """R@1 of English → French over the pool: exact and approximate within 0.5 points."""
    queries = sample_path("eng").read_text(encoding="utf-8").split("\n")[:50]
    r1 = {}
    for search in ("exact", "approximate"):
        margin = MarginRetriever(
            pool, neighbors=K, task="symmetric", neighbour_search=search, **SHIPPED
        )
        results = margin.retrieve(queries, k=1, langs=["fra"])
        r1[search] = np.mean(
            [r.hits[0].metadata["row"] == i for i, r in enumerate(results) if r.hits]
        )
    assert r1["exact"] > 0.8
    assert abs(r1["exact"] - r1["approximate"]) <= 0.005


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"neighbour_search": "fast"}, "neighbour_search='fast'"),
        ({"candidates": 0}, "candidates=0"),
    ],
)
def test_bad_search_options_are_refused_by_name(
    pool: Pool, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInputError, match=named):
        MarginRetriever(pool, **options)


def test_a_server_pool_is_searched_through_its_index_too(chroma_url: str, e5: Embedder) -> None:
    """Over HTTP (``chroma run``): the same neighbours as numpy, the passage itself never."""
    pool = Pool.open("margin-ann-served", e5, url=chroma_url)
    pool.index(load_aligned(sample_path("eng"), sample_path("fra"), "eng", "fra"))
    ids, _, _, vectors = pool.listing(with_vectors=True)
    assert vectors is not None and len(ids) == 200
    true_idx, true_sims = _brute_force(vectors, K)
    sims, found = approximate_neighbours(pool, ids, vectors, np.arange(len(ids)), K)
    assert not (found == np.arange(len(ids))[:, None]).any()
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, true_idx, strict=True)])
    assert recall >= 0.95
    assert np.abs(sims.mean(axis=1) - true_sims.mean(axis=1)).max() < 2e-3
