"""``/v1/select-examples`` goes through ``select_examples`` on the pool's own embedder."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server.conftest import running
from xling.data import sample_path
from xling.embedders import Embedder
from xling.selectors import SelectionConfig, aligned_pool, select_examples
from xling.server.config import ServiceConfig
from xling.store import Pool, load_aligned


def test_selection_uses_the_pools_vectors_and_embedder(tmp_path: Path, use_m3: Embedder) -> None:
    pool = Pool.open("m3-sample", use_m3, path=tmp_path)
    pool.index(load_aligned(sample_path("eng"), sample_path("fra"), "eng", "fra"))
    queries = ["Who presented the iPhone?", "A prison was set alight during a riot."]
    config = ServiceConfig(pools=["m3-sample"], chroma_path=str(tmp_path), rate_limit=0)
    with running(config) as url:
        body = {"queries": queries, "src": "eng", "tgt": "fra", "method": "s2s", "k": 3}
        response = httpx.post(f"{url}/v1/select-examples", json=body, timeout=60)
        # "strategy" is the field's 0.1 name, still read.
        old = {"queries": queries, "src": "eng", "tgt": "fra", "strategy": "s2s", "k": 3}
        again = httpx.post(f"{url}/v1/select-examples", json=old, timeout=60)
    assert response.status_code == 200, response.text
    assert again.status_code == 200 and again.json()["results"] == response.json()["results"]
    served = response.json()["results"]
    # The library on that pool, with the pool's embedder (use-m3) and its stored vectors.
    aligned = aligned_pool(pool, "eng", "fra")
    assert aligned.embedder_id == "use-m3" and aligned.source_vectors is not None
    library = select_examples(
        queries, aligned, SelectionConfig(method="s2s", k=3, embedder="use-m3"), embedder=use_m3
    )
    assert served == library.records()
    # Selected with e5 (the old default), the examples differ: the server did not use it.
    e5_rows = [
        [e.row for e in examples]
        for examples in select_examples(
            queries, aligned, SelectionConfig(method="s2s", k=3)
        ).examples
    ]
    assert [[e["row"] for e in r["examples"]] for r in served] != e5_rows
    assert [r["query"] for r in served] == queries
    assert all(len(r["examples"]) == 3 for r in served)
    assert served[0]["prompt"].startswith("English sentence\n")


def test_pairs_added_while_serving_are_selected(tmp_path: Path) -> None:
    lines = {
        lang: sample_path(lang).read_text(encoding="utf-8").split("\n") for lang in ("eng", "fra")
    }
    first = {lang: tmp_path / f"first.{lang}" for lang in lines}
    for lang, path in first.items():
        path.write_text("\n".join(lines[lang][:50]), encoding="utf-8")
    pool = Pool.open("growing", "use-m3", path=tmp_path / "db")
    pool.index(load_aligned(first["eng"], first["fra"], "eng", "fra"))
    # Most of sample line 60 (row 60 once the whole file is indexed), not all of it: the
    # leakage guard would drop the identical pair.
    query = " ".join(lines["eng"][60].split()[:-2])
    body = {"queries": [query], "src": "eng", "tgt": "fra", "method": "bm25", "k": 1}
    config = ServiceConfig(pools=["growing"], chroma_path=str(tmp_path / "db"), rate_limit=0)
    with running(config) as url:
        before = httpx.post(f"{url}/v1/select-examples", json=body, timeout=60).json()
        pool.index(load_aligned(sample_path("eng"), sample_path("fra"), "eng", "fra"))
        after = httpx.post(f"{url}/v1/select-examples", json=body, timeout=60).json()
    assert before["results"][0]["examples"][0]["row"] < 50
    assert after["results"][0]["examples"][0]["row"] == 60
