"""Which e5 roles a symmetric task should embed its two sides in: three pairings, three tasks.

A symmetric task compares texts of the same kind (a sentence and its translations), so it has a
query side (the sentences searched for) and a candidate side (the pool searched). e5 has two
roles, ``query:`` and ``passage:``; the pairings measured (:data:`xling.embedders.SYMMETRIC_ROLES`):

* ``document``: both sides ``passage:`` (xling's choice before this benchmark),
* ``query``: both sides ``query:`` (e5's own guidance for symmetric tasks),
* ``query-document``: the query side ``query:``, the candidates ``passage:`` (the only change a
  search over an already stored pool can make, its vectors being passages).

Tasks, with the bundled e5 (``e5-small-q4``):

1. **Tatoeba** xxx→eng accuracy, cosine nearest neighbour (similarity search) and ratio margin
   (k = 4, mining), on all 112 languages, **subsampled** to ``--sample`` pairs per language
   (default 200; the same seeded sample for every pairing, and a smaller sample is a prefix of a
   larger one). The full 88,877 pairs embedded in two roles each take over an hour on two free
   cores. Fewer candidates make the task easier than the full set, so the absolute figures sit
   above ``bench/tatoeba.py``'s; the comparison between pairings is what counts.
2. **Selection**: the kNN-translation proxy of ``bench/select_quality.py`` (no LLM): pool = FLORES
   dev English→X (997 pairs), queries = FLORES devtest English (1,012); the target side of the
   best s2s example is the "translation", scored with chrF++ against the reference; with the
   dense and the margin selector (the real selectors, over the pairing's vectors).
3. **Mining**: FLORES devtest X→eng (the first ``--mining-lines`` pairs per language, default
   all 1,012), ratio margin k = 4 (xSIM accuracy, :func:`xling.eval.mining.xsim`) and BUCC-style
   F1 of the pairs mined over a margin threshold of 1.06 (:func:`xling.eval.mining.mine_pairs`,
   :func:`xling.eval.bucc.bucc_f1`); and the Tatoeba margin of part 1.

    .venv/bin/python bench/symmetric_roles.py                  # everything (~1.5 h the first time)
    .venv/bin/python bench/symmetric_roles.py --sample 10 --mining-lines 200   # as measured
    .venv/bin/python bench/symmetric_roles.py --langs deu,tha,swh --no-flores

Embeddings go through the persistent embedding cache, so a rerun is fast. Prints the tables,
writes ``bench/out/symmetric_roles.json`` and ends with ``RESULT tatoeba_document=…
tatoeba_query=… tatoeba_query-document=… …`` (averages per task and pairing). Exits 1 when a
task's shipped default (:data:`xling.embedders.POOL_SYMMETRIC_ROLES` for Tatoeba similarity,
:data:`xling.selectors.SELECTION_SYMMETRIC_ROLES`, :data:`xling.eval.MINING_SYMMETRIC_ROLES`)
is beaten by another pairing by more than half a point.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sacrebleu.metrics import CHRF
from tqdm import tqdm

from xling.core.records import AlignedPool
from xling.embedders import (
    POOL_SYMMETRIC_ROLES,
    SYMMETRIC_ROLES,
    Embedder,
    EmbeddingCache,
    Role,
    SymmetricRoles,
    get_embedder,
    symmetric_role_pair,
)
from xling.eval import MINING_SYMMETRIC_ROLES, bucc_f1, mine_pairs, xsim
from xling.selectors import SELECTION_SYMMETRIC_ROLES, DenseSelector, MarginSelector

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TATOEBA = DATA / "tatoeba"
FLORES = DATA / "flores"
OUT = ROOT / "bench" / "out"
FLORES_LANGS = ("fra", "deu", "swh", "wol")
ROLES: tuple[Role, ...] = ("query", "document")
CHUNK = 256
K = 4
THRESHOLD = 1.06  # ratio margin over which a pair counts as mined (BUCC-style F1)
SLACK = 0.5  # points by which a default may trail the best pairing
console = Console(width=140)


def read(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def tatoeba_languages() -> list[str]:
    return sorted(p.name.split(".")[1].split("-")[0] for p in TATOEBA.glob("tatoeba.*-eng.eng"))


def embed_roles(embedder: Embedder, texts: list[str]) -> dict[Role, np.ndarray]:
    """The texts in both roles, shortest first so batches pad little, then put back in order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: dict[Role, np.ndarray] = {}
    for role in ROLES:
        vectors = np.empty((len(texts), embedder.dim), dtype=np.float32)
        for start in range(0, len(order), CHUNK):
            rows = order[start : start + CHUNK]
            vectors[rows] = embedder.embed([texts[i] for i in rows], role)
        out[role] = vectors
    return out


def sides(
    x: dict[Role, np.ndarray], y: dict[Role, np.ndarray], pairing: SymmetricRoles
) -> tuple[np.ndarray, np.ndarray]:
    """The query side's and the candidate side's vectors under a pairing."""
    query_role, candidate_role = symmetric_role_pair(pairing)
    return x[query_role], y[candidate_role]


def tatoeba(
    embedder: Embedder, langs: list[str], sample: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Per language, per measure (cosine, margin), per pairing: accuracy in percent."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    # A seeded shuffle, so that the partial figures of an interrupted run are not all a-m.
    for lang in tqdm(random.Random(0).sample(langs, len(langs)), desc="tatoeba", file=sys.stderr):
        src = read(TATOEBA / f"tatoeba.{lang}-eng.{lang}")
        tgt = read(TATOEBA / f"tatoeba.{lang}-eng.eng")
        rows = sorted(random.Random(lang).sample(range(len(src)), min(sample, len(src))))
        x = embed_roles(embedder, [src[i] for i in rows])
        y = embed_roles(embedder, [tgt[i] for i in rows])
        targets = [tgt[i] for i in rows]
        results[lang] = {
            measure: {
                p: xsim(*sides(x, y, p), kind=kind, k=K, target_texts=targets).accuracy
                for p in SYMMETRIC_ROLES
            }
            for measure, kind in (("cosine", "cosine"), ("margin", "ratio"))
        }
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "symmetric_roles.partial.json").write_text(json.dumps(results, indent=1))
    return results


def flores(split: str, lang: str) -> list[str]:
    return read(FLORES / lang / f"{split}.txt")


def chrf(hyps: list[str], refs: list[str]) -> float:
    return float(CHRF(word_order=2).corpus_score(hyps, [refs]).score)


def selection(embedder: Embedder) -> dict[str, dict[str, dict[str, float]]]:
    """Per selector (dense, margin), per direction, per pairing: the proxy's chrF++."""
    pool_src = flores("dev", "eng")
    queries = flores("devtest", "eng")
    # Both roles into the cache, length-sorted; the selectors then embed from the cache.
    embed_roles(embedder, pool_src)
    embed_roles(embedder, queries)
    results: dict[str, dict[str, dict[str, float]]] = {"dense": {}, "margin": {}}
    for tgt in FLORES_LANGS:
        refs = flores("devtest", tgt)
        pool = AlignedPool(pool_src, flores("dev", tgt), list(range(len(pool_src))), "eng", tgt)
        for pairing in SYMMETRIC_ROLES:
            for name, cls in (("dense", DenseSelector), ("margin", MarginSelector)):
                selector = cls(pool, embedder, format="s2s", symmetric_roles=pairing)
                best = selector.rank_vectors(selector.embed_queries(queries), 1).indices[:, 0]
                score = chrf([pool.targets[i] for i in best], refs)
                results[name].setdefault(tgt, {})[pairing] = score
    return results


def mining(embedder: Embedder, lines: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per language, per measure (margin accuracy, BUCC F1), per pairing, X→eng, on the first
    ``lines`` devtest lines."""
    eng = flores("devtest", "eng")[:lines]
    y = embed_roles(embedder, eng)
    gold = [(i, i) for i in range(len(eng))]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for lang in FLORES_LANGS:
        x = embed_roles(embedder, flores("devtest", lang)[:lines])
        acc, f1 = {}, {}
        for pairing in SYMMETRIC_ROLES:
            xs, ys = sides(x, y, pairing)
            acc[pairing] = xsim(xs, ys, kind="ratio", k=K, target_texts=eng).accuracy
            mined = mine_pairs(xs, ys, kind="ratio", k=K)
            f1[pairing] = bucc_f1(mined, gold, THRESHOLD).f1
        results[lang] = {"margin": acc, "bucc_f1": f1}
    return results


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def pairing_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("")
    for p in SYMMETRIC_ROLES:
        table.add_column(p, justify="right")
    for name, row in rows.items():
        best = max(row.values())
        table.add_row(
            name, *(("[bold]" if row[p] == best else "") + f"{row[p]:.2f}" for p in SYMMETRIC_ROLES)
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--langs", help="comma-separated Tatoeba codes (default: all 112)")
    parser.add_argument("--sample", type=int, default=200, help="Tatoeba pairs per language")
    parser.add_argument("--mining-lines", type=int, default=1012, help="FLORES lines mined")
    parser.add_argument("--no-flores", action="store_true", help="skip selection and mining")
    parser.add_argument("--no-tatoeba", action="store_true", help="skip Tatoeba")
    parser.add_argument("--embedder", default="e5-small-q4")
    parser.add_argument("--cache", type=Path, help="embedding cache file (default: xling's)")
    args = parser.parse_args(argv)
    available = tatoeba_languages()
    langs = args.langs.split(",") if args.langs else available
    unknown = sorted(set(langs) - set(available))
    if unknown:
        print(f"unknown Tatoeba language(s) {unknown}; allowed: {' '.join(available)}")
        return 2
    embedder = get_embedder(args.embedder, cache=EmbeddingCache(args.cache))
    started = time.perf_counter()
    summary: dict[str, dict[str, float]] = {}
    figures: dict[str, object] = {"embedder": embedder.id, "sample": args.sample}
    defaults: dict[str, SymmetricRoles] = {}

    if not args.no_flores:
        sel = selection(embedder)
        mine = mining(embedder, args.mining_lines)
        figures |= {"selection": sel, "mining": mine}
        rows = {f"{name} eng->{t}": sel[name][t] for name in sel for t in FLORES_LANGS}
        console.print(pairing_table("Selection proxy: chrF++ of the best s2s example", rows))
        rows = {f"{m} {lang}->eng": mine[lang][m] for m in ("margin", "bucc_f1") for lang in mine}
        title = f"FLORES devtest mining, {args.mining_lines} lines: margin accuracy, BUCC F1 (%)"
        console.print(pairing_table(title, rows))
        for name in sel:
            summary[f"select_{name}"] = {
                p: mean([sel[name][t][p] for t in FLORES_LANGS]) for p in SYMMETRIC_ROLES
            }
        for m in ("margin", "bucc_f1"):
            summary[f"mining_{m}"] = {
                p: mean([mine[lang][m][p] for lang in mine]) for p in SYMMETRIC_ROLES
            }
        defaults |= {
            "select_dense": SELECTION_SYMMETRIC_ROLES,
            "select_margin": SELECTION_SYMMETRIC_ROLES,
            "mining_margin": MINING_SYMMETRIC_ROLES,
        }

    if not args.no_tatoeba:
        tat = tatoeba(embedder, langs, args.sample)
        figures["tatoeba"] = tat
        table = Table(title=f"Tatoeba xxx->eng cosine accuracy (%), {args.sample} pairs/language")
        table.add_column("lang")
        for p in SYMMETRIC_ROLES:
            table.add_column(p, justify="right")
        table.add_column("query - document", justify="right")
        for lang in langs:
            row = tat[lang]["cosine"]
            table.add_row(
                lang,
                *(f"{row[p]:.1f}" for p in SYMMETRIC_ROLES),
                f"{row['query'] - row['document']:+.1f}",
            )
        console.print(table)
        for measure in ("cosine", "margin"):
            summary[f"tatoeba_{measure}"] = {
                p: mean([tat[lang][measure][p] for lang in langs]) for p in SYMMETRIC_ROLES
            }
        contrasts = (("query", "document"), ("query-document", "document"))
        for a, b in (*contrasts, ("query", "query-document")):
            diffs = {lang: tat[lang]["cosine"][a] - tat[lang]["cosine"][b] for lang in langs}
            won = sorted((lang for lang in langs if diffs[lang] > 0), key=lambda g: -diffs[g])
            lost = sorted((lang for lang in langs if diffs[lang] < 0), key=lambda g: diffs[g])
            console.print(
                f"[bold]{a} vs {b}[/] (cosine): better on {len(won)}, worse on {len(lost)}, "
                f"tied on {len(langs) - len(won) - len(lost)} languages"
            )
            console.print("  better: " + " ".join(f"{g}({diffs[g]:+.1f})" for g in won))
            console.print("  worse:  " + " ".join(f"{g}({diffs[g]:+.1f})" for g in lost))
        defaults["tatoeba_cosine"] = POOL_SYMMETRIC_ROLES

    console.print(pairing_table("Averages per task (best in bold)", summary))
    console.print(f"{time.perf_counter() - started:.0f} s")
    figures["summary"] = summary
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "symmetric_roles.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")

    failures = []
    for task, default in defaults.items():
        row = summary[task]
        # A pool search can only choose the query side's role: its vectors are passages.
        allowed = [p for p in SYMMETRIC_ROLES if task != "tatoeba_cosine" or p != "query"]
        best = max(allowed, key=lambda p: row[p])
        if row[best] - row[default] > SLACK:
            failures.append(f"{task}: {default} {row[default]:.2f} < {best} {row[best]:.2f}")
    for failure in failures:
        console.print(f"[bold red]goal missed:[/] {failure}")
    print(
        "RESULT "
        + " ".join(f"{task}_{p}={row[p]:.2f}" for task, row in summary.items() for p in row)
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
