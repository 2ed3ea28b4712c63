"""BM25 that grows: adding 1,000 passages to a 1M-passage index against rebuilding it.

The passages are SYNTHETIC recombinations of real sentences: each is two sentences drawn at
random (seeded) from FLORES (dev and devtest, 5 languages), NTREX (13 references) and
Tatoeba (every file), so the vocabulary and lengths are those of real text in many scripts
but the passages are not. Ids are random hex strings, as a pool's content hashes are.

The index is built directly (:class:`xling.retrieval.bm25_segments.GrowingBM25`), not through
Chroma: writing and embedding 1M passages would take hours on two cores. So the figures leave
out what a pool adds to each side: a rebuild also reads every text from Chroma, an update
reads every id (``pool_ids``) and only the added texts.

Measured:
- ``bm25_rebuild_s``: tokenizing all passages and building one segment (a rebuild);
- ``bm25_add_s``: adding the 1,000 passages as a segment, applying the compaction policy and
  saving (the base segment is already on disk, so only the new segment and the manifest);
- ``bm25_add_vs_rebuild`` = rebuild time / add time (how many times cheaper adding is);
- ``bm25_query_ms_1seg`` / ``bm25_query_ms_9seg``: mean time per query of a batch of 100
  FLORES devtest queries (k = 10) on the index as one segment and as the base plus 8 added
  segments of 1,000 (the most the policy leaves: more are merged);
- ``bm25_equal``: 1.0 when the grown index ranks exactly as a from-scratch one;
- ``bm25_eager_build_s`` / ``bm25_query_ms_eager``: the index xling had before (bm25s' eager
  index, :class:`~xling.retrieval.bm25_index.BM25Index`, rebuilt on every change), for the
  price of scoring at query time.

    .venv/bin/python bench/scale_bm25.py                    # 50,000 passages, about a minute
    .venv/bin/python bench/scale_bm25.py --passages 1000000 # the issue's size

Ends with ``RESULT bm25_add_vs_rebuild=…``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from xling.retrieval.bm25_index import BM25Index
from xling.retrieval.bm25_segments import GrowingBM25, Segment, save_index

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _sentences(data: Path) -> list[str]:
    """Real sentences from FLORES, NTREX and Tatoeba."""
    paths = sorted((data / "flores").glob("*/*.txt")) + sorted((data / "ntrex").glob("*.txt"))
    paths += sorted((data / "tatoeba").glob("tatoeba.*"))
    out: list[str] = []
    for path in paths:
        out.extend(x for x in path.read_text(encoding="utf-8").split("\n") if x.strip())
    return out


def _passages(sentences: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sentences), size=(n, 2))
    texts = [f"{sentences[a]} {sentences[b]}" for a, b in pick.tolist()]
    ids = [f"{x:016x}" for x in rng.integers(0, 2**63, size=n, dtype=np.int64).tolist()]
    return ids, texts


def _query_ms(index: GrowingBM25, queries: list[str]) -> float:
    index.search(queries[:2], 10)  # vocabularies built once, outside the timing
    start = time.perf_counter()
    index.search(queries, 10)
    return (time.perf_counter() - start) * 1000 / len(queries)


def run(
    console: Console,
    *,
    passages: int = 1_000_000,
    added: int = 1_000,
    eager: bool = True,
    data: Path = DATA,
) -> dict[str, float]:
    """Measures adding ``added`` passages to a ``passages``-passage index against a rebuild."""
    sentences = _sentences(data)
    console.print(f"{len(sentences):,} real sentences; {passages:,} synthetic passages")
    ids, texts = _passages(sentences, passages + 8 * added, seed=0)
    queries = (data / "flores" / "eng" / "devtest.txt").read_text("utf-8").split("\n")[:100]
    base_ids, base_texts = ids[:passages], texts[:passages]

    start = time.perf_counter()
    base = Segment.build(base_ids, base_texts)
    rebuild = time.perf_counter() - start
    console.print(f"rebuild (tokenize + one segment): {rebuild:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bm25"
        index = GrowingBM25([base])
        start = time.perf_counter()
        save_index(index, folder, {"state": ["bench", passages]})
        save_full = time.perf_counter() - start
        one_ms = _query_ms(index, queries)
        start = time.perf_counter()
        index.add(ids[passages : passages + added], texts[passages : passages + added])
        index.compact()
        save_index(index, folder, {"state": ["bench", len(index)]})
        add = time.perf_counter() - start
        console.print(f"add {added:,} (segment + policy + save): {add * 1000:.0f} ms")
        for s in range(1, 8):
            part = slice(passages + s * added, passages + (s + 1) * added)
            index.add(ids[part], texts[part])
        nine_ms = _query_ms(index, queries)
        grown = index.search(queries[:20], 10)
    total = passages + 8 * added
    fresh = GrowingBM25([Segment.build(ids[:total], texts[:total])])
    equal = float(fresh.search(queries[:20], 10) == grown)
    figures = {
        "bm25_rebuild_s": rebuild,
        "bm25_save_full_s": save_full,
        "bm25_add_s": add,
        "bm25_add_vs_rebuild": rebuild / add,
        "bm25_query_ms_1seg": one_ms,
        "bm25_query_ms_9seg": nine_ms,
        "bm25_equal": equal,
    }
    if eager:
        start = time.perf_counter()
        old = BM25Index(base_texts)
        figures["bm25_eager_build_s"] = time.perf_counter() - start
        old.search(queries[:2], 10)
        start = time.perf_counter()
        old.search(queries, 10)
        figures["bm25_query_ms_eager"] = (time.perf_counter() - start) * 1000 / len(queries)
    for name, value in figures.items():
        console.print(f"{name} = {value:.4g}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--added", type=int, default=1_000)
    parser.add_argument("--no-eager", action="store_true", help="skip the bm25s eager index")
    args = parser.parse_args()
    console = Console()
    figures = run(console, passages=args.passages, added=args.added, eager=not args.no_eager)
    console.print(f"RESULT bm25_add_vs_rebuild={figures['bm25_add_vs_rebuild']:.1f}")
    return 0 if figures["bm25_equal"] == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
