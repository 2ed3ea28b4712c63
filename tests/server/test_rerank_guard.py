"""The weak-judge guard is on by default in the service and the answer pipeline.

The service runs for real (uvicorn in a thread) over a stand-in LLM on loopback whose judge
(:class:`tests.rerankers.test_scripted_orders.Judge`) ranks ``c3 c1 c0 c2 c4``: FIRST answers
positions ``[3, 1, 0, 2, 4]``. Fused with the documents' order at k=60,
``w / (61 + rank) + (1 - w) / (61 + p)``, by hand:

* w=0.05: p0 .05/63+.95/61 = .016367, p1 1/62 = .016129, p2 .05/64+.95/63 = .015861,
  p3 .05/61+.95/64 = .015663, p4 1/65: ``0 1 2 3 4``;
* w=0.1: p0 .1/63+.9/61 = .016341, p1 1/62 = .016129, p2 .1/64+.9/63 = .015848,
  p3 .1/61+.9/64 = .015702, p4 1/65 = .015385: ``0 1 2 3 4``, the documents' order;
* w=0.2: p0 .016289, p1 .016129, p2 .015823, p3 .015779: ``0 1 2 3 4``;
* w=0.3: p0 .3/63+.7/61 = .016237, p1 1/62 = .016129, p3 .3/61+.7/64 = .015856,
  p2 .3/64+.7/63 = .015799, p4 1/65: ``0 1 3 2 4``;
* w=0.4: p0 .016185, p1 .016129, p3 .015932, p2 .015774: ``0 1 3 2 4``;
* w=0.5: p0 .016133, p1 .016129, p3 .016009, p2 .015749: ``0 1 3 2 4``;
* w=0.6: p1 .016129, p3 .6/61+.4/64 = .016086, p0 .6/63+.4/61 = .016081, p2 .015724:
  ``1 3 0 2 4``;
* w=0.7: p3 .016163, p1 .016129, p0 .016029, p2 .015699: ``3 1 0 2 4``, the judge's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.llm.standin import StandIn
from tests.rerankers.test_cli import run
from tests.rerankers.test_scripted_orders import TEXTS, judged
from xling.core.errors import InvalidInputError
from xling.embedders import Embedder
from xling.rag.pipeline import build_answer_pipeline
from xling.server.config import ServiceConfig
from xling.store import Pool

DOCUMENTS = list(TEXTS.values())
QUERY = "How do otters keep from drifting while sleeping?"
JUDGE = ["c3", "c1", "c0", "c2", "c4"]
OWN = [3, 1, 0, 2, 4]
# The fused order by weight, by hand (see the module docstring).
KEPT, PULLED = [0, 1, 2, 3, 4], [0, 1, 3, 2, 4]
FUSED = {0.05: KEPT, 0.1: KEPT, 0.2: KEPT, 0.3: PULLED, 0.4: PULLED, 0.5: PULLED,
         0.6: [1, 3, 0, 2, 4], 0.7: OWN}  # fmt: skip


def _order(url: str, path: str) -> list[int]:
    body = {"query": QUERY, "documents": DOCUMENTS, "model": "xling-first"}
    reply = httpx.post(f"{url}{path}", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    return [r["index"] for r in reply.json()["results"]]


@pytest.mark.parametrize(
    ("setting", "expected"),
    # By default FIRST's fitted weight, 0.6 (rerankers/guard.py's table).
    [({}, FUSED[0.6]), ({"rerank_guard": "off"}, OWN), ({"rerank_guard": 0.3}, FUSED[0.3]),
     ({"rerank_guard": "fitted"}, FUSED[0.6])],
)  # fmt: skip
def test_rerank_routes_fuse_by_the_server_setting(
    make_service: Callable[..., Any], setting: dict[str, Any], expected: list[int]
) -> None:
    with StandIn() as llm:
        judged(llm, truth=JUDGE)
        with make_service(llm_urls=[llm.url], llm_model="stand-in", **setting) as url:
            assert _order(url, "/v2/rerank") == expected
            assert _order(url, "/v1/rerank") == expected


def test_the_server_setting_reads_weights_and_off(tmp_path: Path) -> None:
    assert ServiceConfig().rerank_guard == "fitted"
    assert ServiceConfig(rerank_guard="Fitted").rerank_guard == "fitted"
    assert ServiceConfig(rerank_guard="off").rerank_guard is None
    assert ServiceConfig(rerank_guard="0.25").rerank_guard == 0.25
    toml = tmp_path / "serve.toml"
    toml.write_text("[serve]\nrerank_guard = 0.7\n")
    assert ServiceConfig.from_toml(toml).rerank_guard == 0.7
    assert ServiceConfig.from_toml(toml, rerank_guard="off").rerank_guard is None
    with pytest.raises(
        InvalidInputError, match="^rerank_guard 1.5 is not allowed.*fitted .* or off$"
    ):
        ServiceConfig(rerank_guard=1.5)
    with pytest.raises(InvalidInputError, match="^rerank_guard 'strong' is not allowed"):
        ServiceConfig(rerank_guard="strong")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--rerank-guard", "2"], "--rerank-guard"),
        (["ask", "q", "--pool", "sample", "--rerank", "listwise", "--guard", "0"],
         "--guard '0' is not allowed"),
    ],
)  # fmt: skip
def test_bad_guard_flags_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_answer_pipeline_guards_unless_told_otherwise(served_db: Path, e5: Embedder) -> None:
    pool = Pool.open("sample", e5, path=served_db)
    url = "http://127.0.0.1:9/v1"  # never called: building a pipeline talks to no server
    default = build_answer_pipeline(pool, url, rerank="listwise")
    # listwise's fitted weight, 0.8; a spec without a fitted weight gets 0.05.
    assert default.reranker is not None and default.reranker.config.guard == 0.8
    prp = build_answer_pipeline(pool, url, rerank="prp-heapsort")
    assert prp.reranker is not None and prp.reranker.config.guard == 0.05
    cascade = build_answer_pipeline(pool, url, rerank="cascade:pointwise→first")
    assert cascade.reranker is not None and cascade.reranker.config.guard == 0.6
    off = build_answer_pipeline(pool, url, rerank="listwise", rerank_options={"guard": None})
    assert off.reranker is not None and off.reranker.config.guard is None
    mine = build_answer_pipeline(pool, url, rerank="listwise", rerank_options={"guard": 0.3})
    assert mine.reranker is not None and mine.reranker.config.guard == 0.3
