"""Fits the weak-judge guard's weight of each reranker on a FLORES dev set disjoint from the tests.

The task is ``bench/llamaindex_rerank.py``'s: English FLORES dev sentences are the queries, the
pool is the first ``--pool-rows`` FLORES dev rows in French, German, Swahili and Wolof, a
query's relevant candidates are its own translations, and each query's candidates are its dense
top ``--depth`` (the bundled ``e5-small-q4``). The queries here are dev rows ``--first`` ..
``--first + --queries - 1`` (100-119 by default), disjoint from that benchmark's 20 test
queries (rows 0-19), so the weight is not chosen on the rows it is judged on.

Each reranker named by ``--reranker`` (default: every registered LLM reranker the issue names;
give a name again to add one, e.g. ``--reranker setwise-heapsort``) reranks every query with the
guard off over the LLM server at ``--url``; its raw orders are cached in
``bench/out/fit_guard/<name>.jsonl``, so a refit (``--refit``: cached rerankers only) is
instant. Then for each weight ``w`` of the grid 0.05, 0.1 ... 0.9, 1.0 the orders are fused with the
first-stage order (:func:`xling.rerankers.guard.fuse_orders`, ``k = 60``) and scored by nDCG@10.

A costly reranker (PRP heapsort makes hundreds of calls a query at depth 40) can rerank the
first N dev queries only (``--queries-for prp-heapsort=5``); it is then judged against dense on
those N.

Rule: a reranker's weight (``FITTED_GUARDS`` in ``xling/rerankers/guard.py``) is the largest
``w`` of the grid whose fused nDCG@10 is at least dense's (on the queries it reranked) minus
0.01 on this dev set (the issue's goal: the guard never costs more than 0.01 nDCG@10); the
weight of every other reranker (``DEFAULT_GUARD``) is the largest ``w`` for which every
reranker passes. A reranker for which no weight passes gets the smallest weight of the grid,
reported with ``passes=no``.

    .venv/bin/python bench/fit_guard.py [--url http://127.0.0.1:8021/v1] [--reranker listwise]
    .venv/bin/python bench/fit_guard.py --refit

Prints a table (rerankers × weights, and each one's weight) and ``RESULT guard_weight=…
dense_ndcg=… worst_guard_ndcg=… worst_delta=…`` (the weight every reranker passes with, the
worst reranker's fused nDCG@10 at its own weight, and the worst fused-minus-dense difference).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from xling.eval import evaluate_run
from xling.llm import LLMClient
from xling.rerankers import RerankRequest, get_reranker
from xling.rerankers.guard import DEFAULT_GUARD_K, fuse_orders
from xling.retrieval import get_retriever
from xling.store import Pool, load_aligned, read_lines

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
RERANKERS = ("listwise", "first", "tdpart", "prp-heapsort", "pointwise", "setwise-heapsort")
# The report's grid (0.1 ... 1.0) with a lower step: on the dev set no weight of 0.1 or more keeps
# the bundled model's pointwise order (no better than a random one) within 0.01 of dense.
GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TOLERANCE = 0.01
console = Console(stderr=True, width=160)


def _requests(args: argparse.Namespace) -> tuple[list[RerankRequest], dict[str, dict[str, int]]]:
    """Each dev query with its dense top-depth, and qrels (the query's translations)."""
    flores = SHARED / "flores"
    pool = Pool.open("fit-guard", "e5-small-q4", path=args.work / "db")
    if pool.count() == 0:
        for lang in ("fra", "deu", "swh", "wol"):
            records = load_aligned(flores / "eng/dev.txt", flores / f"{lang}/dev.txt", "eng", lang)
            pool.index([r for r in records if r.side == "tgt" and r.row < args.pool_rows])
    rows = list(range(args.first, args.first + args.queries))
    english = read_lines(flores / "eng/dev.txt")
    results = get_retriever("dense", pool, task="symmetric").retrieve(
        [english[row] for row in rows], args.depth, qids=[str(row) for row in rows]
    )
    requests, qrels = [], {}
    for result in results:
        row = int(result.qid)
        requests.append(RerankRequest(result.query, tuple(result.hits), "eng", result.qid))
        qrels[result.qid] = {h.id: 1 for h in result.hits if h.metadata["row"] == row}
    return requests, qrels


def _orders(
    name: str, requests: list[RerankRequest], qrels: dict, args: argparse.Namespace
) -> dict:
    """The reranker's raw orders (first-stage positions) per qid, from the cache or the LLM."""
    path = args.work / f"{name}.jsonl"
    qids = [r.qid for r in requests]
    if path.exists():
        cached = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        # Each line keeps its own first-stage candidates: the approximate index may return
        # near-ties in another order in a later process, so positions alone would drift.
        found = {c["qid"]: c for c in cached if c.get("depth") == args.depth and "candidates" in c}
        if all(q in found for q in qids):
            return {q: found[q] for q in qids}
    if args.refit:
        raise SystemExit(f"no cached orders for {name} at {path}; run without --refit")
    client = LLMClient(args.url, args.model, max_concurrency=args.concurrency, timeout=1800)
    reranker = get_reranker(name, client, guard=None)
    started = time.perf_counter()
    results = reranker.rerank_many(requests)
    wall = time.perf_counter() - started
    lines = []
    for request, result in zip(requests, results, strict=True):
        lines.append(
            {
                "qid": result.qid,
                "depth": args.depth,
                "candidates": [h.id for h in request.candidates],
                "relevant": sorted(h.id for h in request.candidates if h.id in qrels[request.qid]),
                "order": [c.first_stage_rank for c in result.candidates],
                "calls": result.usage.calls,
                "fallbacks": [f.kind for f in result.fallbacks],
                "wall_s": round(wall, 1),
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    console.print(f"{name}: {len(results)} queries in {wall:.0f} s, cached in {path}")
    return {line["qid"]: line for line in lines}


def _ndcg(cached: dict[str, dict], orders: dict[str, list[int]]) -> float:
    """Mean nDCG@10 of ``orders`` (positions into each cached query's own candidates)."""
    run, judged = {}, {}
    for qid, line in cached.items():
        order, ids = orders[qid], line["candidates"]
        run[qid] = {ids[i]: float(len(order) - place) for place, i in enumerate(order)}
        judged[qid] = {doc: 1 for doc in line["relevant"]}
    return evaluate_run(run, judged, ["nDCG@10"]).metrics["nDCG@10"]


def main() -> None:
    """Reranks (or reads the cache), fuses at each weight, prints the table and the choice."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8021/v1")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--reranker", action="append", help="a registered name (repeatable)")
    parser.add_argument("--first", type=int, default=100, help="first FLORES dev row (query)")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--pool-rows", type=int, default=400)
    parser.add_argument(
        "--queries-for",
        action="append",
        default=[],
        metavar="NAME=N",
        help="rerank only the first N dev queries with NAME (a costly reranker); it is then "
        "judged against dense on those N",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--refit", action="store_true", help="cached orders only, no LLM calls")
    parser.add_argument("--work", type=Path, default=HERE / "out" / "fit_guard")
    args = parser.parse_args()
    if args.first < 20:
        raise SystemExit(f"--first {args.first} overlaps the test queries (rows 0-19); use >= 20")
    args.work.mkdir(parents=True, exist_ok=True)
    names = args.reranker or list(RERANKERS)
    limits = {k: int(v) for k, _, v in (item.partition("=") for item in args.queries_for)}
    requests, qrels = _requests(args)

    def first_stage(cached: dict[str, dict]) -> float:
        return _ndcg(cached, {q: list(range(len(c["candidates"]))) for q, c in cached.items()})

    everyone = {
        qid: {"candidates": [h.id for h in r.candidates], "relevant": list(qrels[qid])}
        for r in requests
        if (qid := str(r.qid))
    }
    dense = first_stage(everyone)
    table = Table(title=f"FLORES dev queries × dense top-{args.depth}: nDCG@10")
    for column in (
        "reranker",
        "queries",
        "dense",
        *(f"w={w:g}" for w in GRID),
        "calls/q",
        "weight",
    ):
        table.add_column(column, justify="right")
    fused: dict[str, dict[float, float]] = {}
    base: dict[str, float] = {}
    weights: dict[str, float] = {}
    for name in names:
        subset = requests[: limits.get(name, len(requests))]
        cached = _orders(name, subset, qrels, args)
        raw = {q: c["order"] for q, c in cached.items()}
        base[name] = first_stage(cached)
        fused[name] = {
            w: _ndcg(cached, {q: fuse_orders(o, w, DEFAULT_GUARD_K) for q, o in raw.items()})
            for w in GRID
        }
        calls = sum(c["calls"] for c in cached.values()) / len(cached)
        # Each reranker is judged against dense on the queries it reranked.
        own = [w for w in GRID if fused[name][w] >= base[name] - TOLERANCE]
        weights[name] = max(own) if own else min(GRID)
        table.add_row(name, str(len(subset)), f"{base[name]:.4f}",
                      *(f"{fused[name][w]:.4f}" for w in GRID), f"{calls:.1f}",
                      f"{weights[name]:g}")  # fmt: skip
    passing = [w for w in GRID if all(fused[n][w] >= base[n] - TOLERANCE for n in names)]
    chosen = max(passing) if passing else min(GRID)
    worst = min(fused[n][weights[n]] for n in names)
    worst_delta = min(fused[n][weights[n]] - base[n] for n in names)
    console.print(table)
    console.print(
        f"dense nDCG@10 {dense:.4f}; each reranker's weight: the largest w with its fused "
        f"nDCG@10 >= dense - {TOLERANCE}; every reranker passes up to w={chosen:g} "
        f"({'passes' if passing else 'no weight passes'})"
    )
    summary: dict[str, Any] = {
        "dense": dense, "dense_on_subset": base, "fused": fused, "chosen": chosen,
        "weights": weights,
        "names": names, "queries_for": limits,
    }  # fmt: skip
    (args.work / "fit.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"RESULT guard_weight={chosen:g} dense_ndcg={dense:.4f} worst_guard_ndcg={worst:.4f} "
        f"worst_delta={worst_delta:+.4f} passes={'yes' if passing else 'no'} "
        + " ".join(f"w_{n.replace('-', '_')}={weights[n]:g}" for n in names)
    )


if __name__ == "__main__":
    main()
