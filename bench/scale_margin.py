"""Margin statistics at scale: the pool's neighbourhoods exactly and through its HNSW index.

A piece of ``bench/scale.py`` (``run(console, **sizes)``), runnable alone. Three parts:

1. **Agreement** on the FLORES-200 devtest pool of ``bench/retrieval.py`` part 1 (eng, fra,
   deu, swh, wol × 1,012 lines, ``e5-small-q4``; real text, the same pool folder and the
   same queries, qrels and metrics): the margin as first shipped (ratio, no centering) and
   the centred CSLS margin, each with ``reference="pool"`` and the exact and the approximate
   neighbour search. Reported: mAP (top 100, the four translations) and R@1 per target
   language (averaged), and the approximate minus the exact in points.
2. **Time at ``pool_100k`` passages**: the 5,060 real e5 vectors of that pool, plus
   **synthetic** vectors (stated): perturbed copies of the real ones,
   ``normalise(v + 0.6·n/√d)`` with ``n`` standard normal (cosine to the original about
   0.86), so the pool has the real vectors' directions and a plausible density, but not
   real text. The records are written into a Chroma pool directly (their texts are
   ``synthetic <i>``); building its HNSW index is timed separately. Then ``prepare()`` of
   the margin's statistics (cold: the derived index removed first; it reads the pool's
   vectors back too) exactly and approximately, their ratio
   (``margin_ann_speedup_100k``) and the mean absolute difference of the neighbourhood
   means.
3. **Approximate at ``pool_1m`` passages**, synthetic as above: index build, then the
   statistics (the exact search is not run; its time is extrapolated quadratically from
   part 2).

Measured (20:44 UTC, 2 cores shared with four other jobs, load ~7; ``--pool-100k 20000
--pool-1m 50000 --queries 200``, 4 min in all): mAP/R@1 deltas (approximate − exact, points)
−0.001/0.000 shipped, −0.033/0.000 centred; at 20k: exact 20.2 s, approximate 13.8 s (1.5×),
index build 9.4 s, means off by 1.8·10⁻⁴ on average (0.022 at most); at 50k: build 36 s,
approximate 47 s. Chroma's ``query`` is ~90 % of the approximate time (~1,700 passages/s
here), so it grows as N while the exact search grows as N². At 100k (same load, 21:00 UTC):
build 122 s, approximate 102 s, exact 591 s (5.8×), means off by 1.5·10⁻⁴ on average (0.076
at most).

Pools live under ``--work`` (default ``bench/out/scale_margin/``, git-ignored) and are
reused when they hold the wanted count. ``python bench/scale_margin.py`` runs small
(``--pool-100k 20000 --pool-1m 50000``); ``bench/scale.py`` runs the full sizes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import retrieval as part1  # noqa: E402  (bench/retrieval.py: its pool, queries and metrics)
from xling.core.records import hits_to_run  # noqa: E402
from xling.embedders import Embedder, get_embedder  # noqa: E402
from xling.eval import evaluate_run  # noqa: E402
from xling.retrieval import MarginRetriever  # noqa: E402
from xling.store import Pool  # noqa: E402

T = TypeVar("T")
NOISE = 0.6
SEARCHES = ("exact", "approximate")
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {"kind": "ratio", "center": False},
    "centred": {"kind": "distance", "center": True},
}


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall time in seconds."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def margin(pool: Pool, search: str, variant: str) -> MarginRetriever:
    """The pool-reference margin of a variant with one neighbour search (queries symmetric)."""
    return MarginRetriever(
        pool,
        task="symmetric",
        reference="pool",
        neighbour_search=search,  # type: ignore[arg-type]
        **VARIANTS[variant],
    )


def agreement(console: Console, work: Path, queries: int, depth: int) -> dict[str, float]:
    """Part 1: mAP and R@1 of the pool-reference margin, exact vs approximate."""
    test = part1.flores("devtest")
    embedder = get_embedder("e5-small-q4")
    records = [r for lang in part1.LANGS for r in test[lang]]
    pool = part1.open_pool(work, f"flores-devtest-{part1.slug(embedder.id)}", embedder, records)
    english = test[part1.QUERY_LANG][:queries]
    texts = [r.text for r in english]
    qids = [str(r.row) for r in english]
    own = [[r.id] for r in english]
    qrels = {q: {test[lang][i].id: 1 for lang in part1.TARGETS} for i, q in enumerate(qids)}
    per_lang = {
        lang: {q: {test[lang][i].id: 1} for i, q in enumerate(qids)} for lang in part1.TARGETS
    }
    out: dict[str, float] = {}
    table = Table(title=f"margin agreement, FLORES devtest pool ({pool.count():,} passages)")
    for col in ("variant", "search", "prepare s", "mAP", "R@1 (mean of 4)"):
        table.add_column(col)
    for variant in VARIANTS:
        for search in SEARCHES:
            part1.drop_derived(pool)
            retriever = margin(pool, search, variant)
            _, seconds = timed(retriever.prepare)
            results = part1.retrieve_chunked(retriever, texts, depth, qids=qids, exclude_ids=own)
            ap = evaluate_run(hits_to_run(results), qrels, ("AP",)).metrics["AP"]
            r1 = []
            for lang in part1.TARGETS:
                got = part1.retrieve_chunked(
                    retriever, texts, 1, langs=[lang], qids=qids, exclude_ids=own
                )
                r1.append(evaluate_run(hits_to_run(got), per_lang[lang], ("R@1",)).metrics["R@1"])
            out[f"{variant}_{search}_map"] = ap
            out[f"{variant}_{search}_r1"] = float(np.mean(r1))
            table.add_row(variant, search, f"{seconds:.1f}", f"{ap:.4f}", f"{np.mean(r1):.4f}")
    console.print(table)
    part1.drop_derived(pool)
    figures = {
        "margin_ann_map_delta": 100 * (out["shipped_approximate_map"] - out["shipped_exact_map"]),
        "margin_ann_r1_delta": 100 * (out["shipped_approximate_r1"] - out["shipped_exact_r1"]),
        "margin_ann_map_delta_centred": 100
        * (out["centred_approximate_map"] - out["centred_exact_map"]),
        "margin_ann_r1_delta_centred": 100
        * (out["centred_approximate_r1"] - out["centred_exact_r1"]),
    }
    return figures | {f"margin_{k}": v for k, v in out.items()}


def real_vectors(work: Path) -> tuple[np.ndarray, list[str]]:
    """The FLORES devtest pool's e5 vectors and languages (part 1 builds the pool)."""
    embedder = get_embedder("e5-small-q4")
    pool = Pool.open(f"flores-devtest-{part1.slug(embedder.id)}", embedder, path=work / "chroma")
    _, _, metas, vectors = pool.listing(with_vectors=True)
    assert vectors is not None and len(vectors), "part 1's pool is missing"
    return vectors, [str(m.get("lang", "")) for m in metas]


def synthetic_pool(
    console: Console,
    work: Path,
    size: int,
    base: np.ndarray,
    langs: list[str],
    embedder: Embedder,
) -> tuple[Pool, float]:
    """A pool of ``size`` vectors: ``base`` then perturbed copies of it (see the module).

    Returns:
        The pool and the seconds its writes (and so its HNSW index) took; 0 when reused.
    """
    pool = Pool.open(f"margin-synthetic-{size}", embedder, path=work / "chroma")
    if pool.count() == size:
        console.print(f"pool of {size:,} synthetic vectors reused")
        return pool, 0.0
    if pool.count():
        raise SystemExit(f"pool margin-synthetic-{size} is half-written: remove {work}")
    rng = np.random.default_rng(size)
    dim = base.shape[1]
    start = time.perf_counter()
    step = 5_000
    with pool.writing():
        for first in range(0, size, step):
            rows = np.arange(first, min(size, first + step))
            source = rows % len(base)
            vectors = base[source].copy()
            copies = rows >= len(base)
            noise = rng.standard_normal((int(copies.sum()), dim)).astype(np.float32)
            vectors[copies] += NOISE * noise / np.sqrt(dim)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with pool.committing() as collection:
                collection.add(
                    ids=[f"s{i}" for i in rows],
                    embeddings=vectors,
                    documents=[f"synthetic {i}" for i in rows],
                    metadatas=[
                        {"lang": langs[s], "source": "synthetic", "row": int(i)}
                        for i, s in zip(rows, source, strict=True)
                    ],
                )
            console.print(f"  wrote {rows[-1] + 1:,}/{size:,}", end="\r")
    seconds = time.perf_counter() - start
    console.print(f"pool of {size:,} vectors ({len(base):,} real) written in {seconds:.0f}s")
    return pool, seconds


def statistics_time(pool: Pool, search: str) -> tuple[float, dict[str, float]]:
    """Cold ``prepare()`` of the shipped pool margin: seconds and the neighbourhood means."""
    part1.drop_derived(pool)
    retriever = margin(pool, search, "shipped")
    _, seconds = timed(retriever.prepare)
    return seconds, retriever._means


def run(
    console: Console,
    *,
    pool_100k: int = 100_000,
    pool_1m: int = 1_000_000,
    queries: int = 1012,
    depth: int = 100,
    work: Path | None = None,
) -> dict[str, float]:
    """All three parts; the figures by name (times in seconds, deltas in points)."""
    work = work or HERE / "out" / "scale_margin"
    work.mkdir(parents=True, exist_ok=True)
    wall = time.perf_counter()
    figures = agreement(console, work, queries, depth)
    base, langs = real_vectors(work)
    embedder = get_embedder("e5-small-q4")
    pool, build = synthetic_pool(console, work, pool_100k, base, langs, embedder)
    exact_s, exact = statistics_time(pool, "exact")
    approx_s, approx = statistics_time(pool, "approximate")
    errors = np.abs(np.asarray([approx[i] - exact[i] for i in exact]))
    figures |= {
        "margin_pool_100k": float(pool_100k),
        "margin_exact_100k_s": exact_s,
        "margin_approximate_100k_s": approx_s,
        "margin_index_build_100k_s": build,
        "margin_ann_speedup_100k": exact_s / approx_s,
        "margin_ann_mean_error_100k": float(errors.mean()),
        "margin_ann_max_error_100k": float(errors.max()),
    }
    big, build_1m = synthetic_pool(console, work, pool_1m, base, langs, embedder)
    approx_1m, _ = statistics_time(big, "approximate")
    figures |= {
        "margin_pool_1m": float(pool_1m),
        "margin_index_build_1m_s": build_1m,
        "margin_approximate_1m_s": approx_1m,
        "margin_exact_1m_s_extrapolated": exact_s * (pool_1m / pool_100k) ** 2,
        "margin_wall_s": time.perf_counter() - wall,
    }
    table = Table(title="margin statistics: exact vs approximate (HNSW) neighbour search")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.4g}")
    console.print(table)
    return figures


def main() -> int:
    """Runs small by default; prints the figures and a RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-100k", type=int, default=20_000)
    parser.add_argument("--pool-1m", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1012)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    figures = run(
        console,
        pool_100k=args.pool_100k,
        pool_1m=args.pool_1m,
        queries=args.queries,
        work=args.work,
    )
    console.print(
        f"RESULT margin_ann_speedup_100k={figures['margin_ann_speedup_100k']:.2f} "
        f"margin_ann_map_delta={figures['margin_ann_map_delta']:.3f} "
        f"margin_ann_r1_delta={figures['margin_ann_r1_delta']:.3f}"
    )
    # The goal: mAP and R@1 within 0.5 points of exact.
    ok = abs(figures["margin_ann_map_delta"]) <= 0.5 and abs(figures["margin_ann_r1_delta"]) <= 0.5
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
