"""Accuracy of each LID backend on NTREX and Tatoeba sentences and on 3-word snippets.

    .venv/bin/python bench/lid.py [--per-source 200]

For every language, up to ``--per-source`` lines are taken from NTREX-128 and from Tatoeba, and
the first three words of each NTREX/Tatoeba line form the short snippets (CJK lines, which have no
spaces, give their first six characters). Each backend identifies every text in open-set mode;
snippets are also identified in restricted mode ({expected language, English}), the mode short
answers need. A language a backend cannot output scores 0.

Prints the table, the best backend per language (the defaults stored in
``xling.lid.defaults``), writes ``bench/out/lid.png`` and ends with
``RESULT langdetect=… lingua=… py3langid=… pycld2=… auto=…`` (macro-averaged accuracy over the
open-set cells). Exits 1 when a goal is missed: the per-language defaults ("auto") must beat every
single backend, and each stored default must be within 0.02 of the best backend for its language.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from xling.lid import LID_DEFAULTS, available_lid_backends, get_identifier

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
# language → (NTREX file code, Tatoeba code); None where the set lacks the language.
LANGS: dict[str, tuple[str | None, str | None]] = {
    "eng": ("eng-US", None),  # Tatoeba's English side is read from the deu pairs
    "deu": ("deu", "deu"),
    "fra": ("fra", "fra"),
    "spa": ("spa", "spa"),
    "swh": ("swa", "swh"),
    "wol": ("wol", None),
    "hau": ("hau", None),
    "yor": ("yor", None),
    "arb": ("arb", "ara"),
    "hin": ("hin", "hin"),
    "jpn": ("jpn", "jpn"),
    "cmn": ("zho-CN", "cmn"),
    "ind": (None, "ind"),
    "por": (None, "por"),
    "rus": (None, "rus"),
    "tur": (None, "tur"),
}
SOURCES = ("ntrex", "tatoeba", "short")
TOLERANCE = 0.02


def read(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return [line.strip() for line in lines if line.strip()]


def snippet(text: str) -> str:
    words = text.split()
    return " ".join(words[:3]) if len(words) >= 3 else text[:6]


def samples(per_source: int) -> dict[str, dict[str, list[str]]]:
    """Texts per language and source, evenly spread over each file."""
    out: dict[str, dict[str, list[str]]] = {}
    for lang, (ntrex, tatoeba) in LANGS.items():
        texts: dict[str, list[str]] = {}
        if ntrex:
            name = "newstest2019-src.eng.txt" if lang == "eng" else f"newstest2019-ref.{ntrex}.txt"
            texts["ntrex"] = spread(read(DATA / "ntrex" / name), per_source)
        tato = "deu" if lang == "eng" else tatoeba
        if tato:
            side = "eng" if lang == "eng" else tato
            texts["tatoeba"] = spread(
                read(DATA / "tatoeba" / f"tatoeba.{tato}-eng.{side}"), per_source
            )
        full = texts.get("ntrex", []) + texts.get("tatoeba", [])
        texts["short"] = spread([snippet(t) for t in full], per_source)
        out[lang] = texts
    return out


def spread(lines: list[str], n: int) -> list[str]:
    if len(lines) <= n:
        return lines
    return [lines[i] for i in np.linspace(0, len(lines) - 1, n).astype(int)]


def accuracy(
    backend: str, lang: str, texts: list[str], restricted: bool, bar: tqdm
) -> float | None:
    identifier = get_identifier(backend)
    if lang not in identifier.supported_languages():
        bar.update(len(texts))
        return 0.0
    candidates = sorted({lang, "eng"}) if restricted else None
    if restricted and "eng" not in identifier.supported_languages():
        return None
    hits = 0
    for text in texts:
        hits += identifier.detect(text, candidates).lang == lang
        bar.update(1)
    return hits / len(texts)


def measure(
    data: dict[str, dict[str, list[str]]], backends: list[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """results[backend][lang][column] with columns ntrex, tatoeba, short, short_restricted."""
    total = sum(len(t) for texts in data.values() for t in texts.values())
    total += sum(len(texts["short"]) for texts in data.values())
    results: dict[str, dict[str, dict[str, float]]] = {}
    for backend in backends:
        results[backend] = {}
        with tqdm(total=total, desc=backend, unit="text") as bar:
            for lang, texts in data.items():
                row: dict[str, float] = {}
                for source, items in texts.items():
                    row[source] = accuracy(backend, lang, items, False, bar) or 0.0
                restricted = accuracy(backend, lang, texts["short"], True, bar)
                row["short_restricted"] = restricted or 0.0
                results[backend][lang] = row
    return results


def open_mean(row: dict[str, float]) -> float:
    return float(np.mean([row[s] for s in SOURCES if s in row]))


def pick_defaults(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, str]:
    """The best backend per language by mean open-set accuracy (ties: registry order)."""
    langs = next(iter(results.values())).keys()
    return {
        lang: max(results, key=lambda b: (open_mean(results[b][lang]), -list(results).index(b)))
        for lang in langs
    }


def macro(results: dict[str, dict[str, float]], pick: Callable[[str], dict[str, float]]) -> float:
    cells = [pick(lang)[s] for lang in results for s in SOURCES if s in pick(lang)]
    return float(np.mean(cells))


def plot(results: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(results)
    langs = list(next(iter(results.values())))
    width = 0.8 / len(backends)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, backend in enumerate(backends):
        xs = np.arange(len(langs)) + (i - (len(backends) - 1) / 2) * width
        ax.bar(xs, [open_mean(results[backend][lang]) for lang in langs], width, label=backend)
    ax.set_xticks(np.arange(len(langs)), langs)
    ax.set_ylabel("accuracy (mean of NTREX, Tatoeba, 3-word)")
    ax.set_ylim(0, 1)
    ax.legend(ncols=len(backends))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-source", type=int, default=200, help="texts per language+source")
    args = parser.parse_args(argv)
    backends = available_lid_backends()
    data = samples(args.per_source)
    started = time.perf_counter()
    results = measure(data, backends)
    elapsed = time.perf_counter() - started

    console = Console(width=160)
    table = Table(title=f"LID accuracy ({args.per_source} texts per cell, {elapsed:.0f} s)")
    table.add_column("lang")
    columns = [*SOURCES, "short_restricted"]
    for backend in backends:
        for column in columns:
            table.add_column(f"{backend}\n{column.replace('_restricted', '+R')}", justify="right")
    for lang in data:
        cells = []
        for backend in backends:
            row = results[backend][lang]
            shown = [c for c in columns if c in data[lang] or c == "short_restricted"]
            cells += [f"{row[c]:.2f}" if c in shown else "-" for c in columns]
        table.add_row(lang, *cells)
    console.print(table)

    defaults = pick_defaults(results)
    console.print("best backend per language (mean of open-set NTREX/Tatoeba/short):")
    console.print(repr(defaults))
    per_backend = {b: macro(results[b], lambda lang, b=b: results[b][lang]) for b in backends}
    auto = macro(results[backends[0]], lambda lang: results[defaults[lang]][lang])
    restricted = {
        b: float(np.mean([results[b][lang]["short_restricted"] for lang in data])) for b in backends
    }
    console.print(
        "3-word snippets, restricted to {expected, eng}: "
        + ", ".join(f"{b}={v:.3f}" for b, v in restricted.items())
    )
    plot(results, OUT / "lid.png")

    failures = []
    best_single = max(per_backend.values())
    if auto < best_single:
        failures.append(
            f"per-language defaults ({auto:.3f}) lose to a single backend ({best_single:.3f})"
        )
    for lang, best in defaults.items():
        stored = LID_DEFAULTS.get(lang)
        if stored is None:
            failures.append(f"no stored default for {lang} (best: {best})")
            continue
        gap = open_mean(results[best][lang]) - open_mean(results[stored][lang])
        if gap > TOLERANCE:
            failures.append(f"stored default for {lang} is {stored}, {gap:.3f} behind {best}")
    for failure in failures:
        console.print(f"[bold red]goal missed:[/] {failure}")
    print(
        "RESULT " + " ".join(f"{b}={v:.3f}" for b, v in per_backend.items()) + f" auto={auto:.3f}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
