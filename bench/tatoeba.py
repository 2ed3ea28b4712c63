"""Tatoeba bitext-mining accuracy (100 - xSIM) of the bundled embedders on the 112 languages.

Each language's sentences are matched against the English side (xxx → eng), with cosine
nearest-neighbour search and with the ratio margin (k=4, every target rescored). Both sides use the
passage role (e5's ``passage:`` prefix) unless ``--symmetric-roles`` says otherwise (``query``:
both ``query:``; ``query-document``: the xxx side ``query:``; ``bench/symmetric_roles.py``
compares the three). Embeddings go through the persistent embedding cache
(``~/.cache/xling/embeddings.sqlite`` by default), so a rerun is fast.

    .venv/bin/python bench/tatoeba.py                 # all 112 languages (~1 h the first time)
    .venv/bin/python bench/tatoeba.py --langs deu,cmn,swh
    .venv/bin/python bench/tatoeba.py --symmetric-roles query

Prints a table, writes ``bench/out/tatoeba.png`` (per-language bars) and ``bench/out/tatoeba.json``
and ends with ``RESULT e5_cos_avg=… e5_margin_avg=… use_cos_avg=…`` (percent). Exits 1 when a goal
is missed: margin must beat cosine on average for e5, and on a full run the e5 averages must stay
within 1.5 points of the figures measured when this benchmark was written (66.86 cosine,
75.08 margin; passage/passage, so the anchors are checked only with ``--symmetric-roles document``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from xling.embedders import (
    SYMMETRIC_ROLES,
    Embedder,
    EmbeddingCache,
    Role,
    SymmetricRoles,
    get_embedder,
    symmetric_role_pair,
)
from xling.eval.mining import xsim

ROOT = Path(__file__).resolve().parents[1]
TATOEBA = ROOT.parent / "shared" / "data" / "tatoeba"
OUT = ROOT / "bench" / "out"
ANCHORS = {"e5_cos": 66.86, "e5_margin": 75.08}  # bundled 4-bit e5, all 112 languages
TOLERANCE = 1.5
CHUNK = 256  # texts per embedding call, so progress and the cache advance steadily
# (column, embedder spec, mining kind)
RUNS = (
    ("e5_cos", "e5-small-q4", "cosine"),
    ("e5_margin", "e5-small-q4", "ratio"),
    ("use_cos", "use-m3", "cosine"),
    ("use_margin", "use-m3", "ratio"),
)


def languages() -> list[str]:
    """The Tatoeba language codes present in the data folder."""
    return sorted(p.name.split(".")[1].split("-")[0] for p in TATOEBA.glob("tatoeba.*-eng.eng"))


def read(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_pairs(langs: list[str] | tuple[str, ...]) -> dict[str, tuple[list[str], list[str]]]:
    """Per language, its Tatoeba side and the aligned English side."""
    return {
        lang: (
            read(TATOEBA / f"tatoeba.{lang}-eng.{lang}"),
            read(TATOEBA / f"tatoeba.{lang}-eng.eng"),
        )
        for lang in langs
    }


def embed(embedder: Embedder, texts: list[str], role: Role, bar: tqdm) -> np.ndarray:
    """Embeddings in a role (the anchors were measured with e5's ``passage:`` on both sides).

    Texts are embedded shortest first so that batches pad little, then put back in order.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(order), CHUNK):
        rows = order[start : start + CHUNK]
        out[rows] = embedder.embed([texts[i] for i in rows], role)
        bar.update(len(rows))
    return out


def evaluate(
    langs: list[str], cache: EmbeddingCache, symmetric_roles: SymmetricRoles = "document"
) -> dict[str, dict[str, float]]:
    """Accuracy per language for every run in :data:`RUNS`, xxx side and English side in the
    roles of ``symmetric_roles``."""
    source_role, target_role = symmetric_role_pair(symmetric_roles)
    pairs = read_pairs(langs)
    total = sum(len(s) + len(t) for s, t in pairs.values())
    results: dict[str, dict[str, float]] = {lang: {} for lang in langs}
    for spec in dict.fromkeys(spec for _, spec, _ in RUNS):
        embedder = get_embedder(spec, cache=cache)
        with tqdm(total=total, desc=f"embedding ({spec})", unit="sent", file=sys.stderr) as bar:
            for lang, (src, tgt) in pairs.items():
                bar.set_postfix_str(lang)
                x = embed(embedder, src, source_role, bar)
                y = embed(embedder, tgt, target_role, bar)
                for column, run_spec, kind in RUNS:
                    if run_spec == spec:
                        results[lang][column] = xsim(x, y, kind=kind, k=4).accuracy
                done = ", ".join(f"{c}={v:.1f}" for c, v in results[lang].items())
                bar.write(f"{lang}: {done}")
                # Partial figures survive an interrupted run (the cache keeps the embeddings).
                OUT.mkdir(parents=True, exist_ok=True)
                (OUT / "tatoeba.partial.json").write_text(json.dumps(results, indent=1))
    return results


def plot(results: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = sorted(results, key=lambda lang: -results[lang]["e5_margin"])
    columns = [c for c, _, _ in RUNS]
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(8, len(langs) * 0.32), 5))
    for i, column in enumerate(columns):
        xs = np.arange(len(langs)) + (i - (len(columns) - 1) / 2) * width
        ax.bar(xs, [results[lang][column] for lang in langs], width, label=column)
    ax.set_xticks(np.arange(len(langs)), langs, rotation=90, fontsize=7)
    ax.set_ylabel("Tatoeba accuracy (%)")
    ax.set_title("Tatoeba xxx→eng accuracy, bundled embedders")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--langs", help="comma-separated Tatoeba codes (default: all 112)")
    parser.add_argument("--cache", type=Path, help="embedding cache file (default: xling's)")
    parser.add_argument(
        "--symmetric-roles",
        choices=SYMMETRIC_ROLES,
        default="document",
        help="roles of the xxx and English sides (default: document, as the anchors)",
    )
    args = parser.parse_args(argv)
    available = languages()
    langs = args.langs.split(",") if args.langs else available
    unknown = sorted(set(langs) - set(available))
    if unknown:
        print(f"unknown Tatoeba language(s) {unknown}; allowed: {' '.join(available)}")
        return 2
    started = time.perf_counter()
    results = evaluate(langs, EmbeddingCache(args.cache), args.symmetric_roles)
    elapsed = time.perf_counter() - started

    columns = [c for c, _, _ in RUNS]
    table = Table(
        title=f"Tatoeba accuracy (%), {len(langs)} languages, roles {args.symmetric_roles}, "
        f"{elapsed:.0f} s"
    )
    table.add_column("lang")
    for column in columns:
        table.add_column(column, justify="right")
    for lang in langs:
        table.add_row(lang, *(f"{results[lang][c]:.1f}" for c in columns))
    avg = {c: float(np.mean([results[lang][c] for lang in langs])) for c in columns}
    table.add_row("[bold]avg", *(f"[bold]{avg[c]:.2f}" for c in columns))
    console = Console(width=120)
    console.print(table)
    gain = avg["e5_margin"] - avg["e5_cos"]
    console.print(
        f"e5 margin - cosine: {gain:+.2f} points; use-m3 margin - cosine: "
        f"{avg['use_margin'] - avg['use_cos']:+.2f} points"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tatoeba.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    plot(results, OUT / "tatoeba.png")

    failures = []
    if gain <= 0:
        failures.append(
            f"e5 margin ({avg['e5_margin']:.2f}) does not beat cosine ({avg['e5_cos']:.2f})"
        )
    if set(langs) == set(available) and args.symmetric_roles == "document":
        for key, anchor in ANCHORS.items():
            if abs(avg[key] - anchor) > TOLERANCE:
                failures.append(
                    f"{key} average {avg[key]:.2f} is off the anchor {anchor} by more "
                    f"than {TOLERANCE}"
                )
    for failure in failures:
        console.print(f"[bold red]goal missed:[/] {failure}")
    print(
        f"RESULT e5_cos_avg={avg['e5_cos']:.2f} e5_margin_avg={avg['e5_margin']:.2f} "
        f"use_cos_avg={avg['use_cos']:.2f}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
