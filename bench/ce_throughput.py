"""Cross-encoder throughput: query-passage pairs scored per second by ``ce:``, torch vs ONNX.

Speed only: the model is the tests' tiny cross-encoder (a 2-layer BERT, hidden 128, built and
saved here from FLORES lines by ``tests/rerankers/tiny_ce.py``), whose scores mean nothing.
The pairs are FLORES dev sentences: English queries, each with 40 candidates (French, German,
Swahili and Wolof lines), as in the top-40 reranking task of ``bench/llamaindex_rerank.py``;
all requests go through ``arerank_many`` with ``batch_size`` 32. The model is loaded and run
once before timing, so load time and ONNX export are not counted.

    .venv/bin/python bench/ce_throughput.py [--pairs 2000] [--rounds 3]

Each backend runs ``--rounds`` times, alternating, and its best rate is kept.

Prints ``RESULT ce_pairs_per_s=<torch> ce_onnx_pairs_per_s=<onnx> onnx_speedup=<ratio>``.
Figures from a shared machine are noisy: compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
# The tiny model's builder lives with the tests that use it.
sys.path.insert(0, str(HERE.parent))

from tests.rerankers.tiny_ce import build_tiny_cross_encoder  # noqa: E402

from xling.rerankers import RerankRequest  # noqa: E402
from xling.rerankers.cross_encoder import CrossEncoderReranker  # noqa: E402

CANDIDATES = 40
LANGS = ("fra", "deu", "swh", "wol")


def _lines(lang: str) -> list[str]:
    return (SHARED / "flores" / lang / "dev.txt").read_text(encoding="utf-8").splitlines()


def flores_requests(n_pairs: int) -> list[RerankRequest]:
    """English FLORES queries with 40 candidates each, ``n_pairs`` pairs in all (rounded up)."""
    english = _lines("eng")
    others = [line for lang in LANGS for line in _lines(lang)]
    requests = []
    for q in range(-(-n_pairs // CANDIDATES)):
        start = (q * CANDIDATES) % (len(others) - CANDIDATES)
        requests.append(
            RerankRequest.from_texts(english[q % len(english)], others[start : start + CANDIDATES])
        )
    return requests


def pairs_per_s(model_dir: str | Path, backend: str, n_pairs: int) -> float:
    """Pairs scored per second by ``ce:<model_dir>`` on ``backend`` (``torch`` or ``onnx``).

    Args:
        model_dir: A cross-encoder folder.
        backend: ``torch`` or ``onnx``.
        n_pairs: Pairs to score (in requests of 40 candidates).

    Returns:
        Pairs per second of wall time, after one untimed warm-up request.
    """
    reranker = CrossEncoderReranker(str(model_dir), backend=backend, batch_size=32, rank_end=None)
    requests = flores_requests(n_pairs)
    reranker.rerank(requests[0])  # load (and export to ONNX) outside the timing
    started = time.perf_counter()
    reranker.rerank_many(requests)
    seconds = time.perf_counter() - started
    return len(requests) * CANDIDATES / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2000, help="pairs per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per backend (best kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        lines = [line for lang in ("eng", "fra", "deu", "swh") for line in _lines(lang)[:300]]
        model_dir = build_tiny_cross_encoder(Path(folder), lines)
        # Alternating rounds, best of each: other work on a shared machine only slows a run.
        rates: dict[str, list[float]] = {"torch": [], "onnx": []}
        for _ in range(args.rounds):
            for backend in ("onnx", "torch"):
                rates[backend].append(pairs_per_s(model_dir, backend, args.pairs))
        torch_rate, onnx_rate = max(rates["torch"]), max(rates["onnx"])
    print(f"torch: {torch_rate:.0f} pairs/s, onnx: {onnx_rate:.0f} pairs/s ({args.pairs} pairs)")
    print(
        f"RESULT ce_pairs_per_s={torch_rate:.1f} ce_onnx_pairs_per_s={onnx_rate:.1f} "
        f"onnx_speedup={onnx_rate / torch_rate:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
