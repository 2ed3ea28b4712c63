"""Language-agnostic retrieval from a multilingual pool: dense, BM25, hybrid and margin.

Part 0, cross-lingual question answering retrieval (``--part crosslingual``, a few minutes):
LAReQA-style, a question in one language must find its answer sentence in another. The pool is
the bundled FLORES sample (:func:`xling.data.sample_path`, 100 dev sentences in each of eng,
fra, deu, swh and wol, 500 passages); the questions are ``bench/data/rag_questions.jsonl``
(200 questions written in eng, fra, deu and swh, each with its answer line(s)), so there are
16 directions X→Y (4 question languages x the 4 other sentence languages; there are no Wolof
questions). For direction X→Y a question is asked of the whole pool with its answer sentences
in every language but Y excluded (``exclude_ids``), so the answer in Y competes with the 499
other sentences, those of the question's own language among them; R@1 is the share of
questions whose first hit is the answer in Y, averaged over the 16 directions (macro). The
monolingual row asks the same questions for the answer in their own language (X→X, the
answers in other languages excluded), the ceiling that the cross-lingual/monolingual gap is
measured against. Questions are embedded in e5's query role (``task="asymmetric"``); each
direction's questions go in one batch (the batch's query-side statistics come from them),
except in the ``one query per call`` row (the reference sample instead). Recipes: dense;
``margin`` as first shipped (ratio, pool neighbourhoods, no centering); the same with
per-language mean centering; centering plus CSLS (``kind="distance"``) with pool, batch or
reference-sample neighbourhoods; ``margin``'s defaults (the best of those); the same over the
``ensemble:e5-small-q4=0.7,use-m3=0.3`` embedder. Ends with ``RESULT margin_default_r1=…
best_recipe_r1=… dense_r1=… mono_r1=…`` when run alone.

Part 1, quality (the LAReQA setting, Roy et al. 2020), on FLORES-200 devtest: one pool holds
the five languages eng, fra, deu, swh and wol (5 x 1,012 passages, ``load_lines`` per language,
rows are line numbers), embedded with the default embedder (``e5-small-q4``). The queries are
the English lines (``--queries``); a query's relevant passages are its four translations (same
row, other languages) and its own English line is excluded from its results (``exclude_ids``).
Every retriever embeds queries in the document role (``task="symmetric"``: a sentence against
its translations). Per method:

- mAP: average precision over the four translations in the unrestricted top ``--depth``;
- R@1 / R@10 per target language L: the retrieval is run again restricted to L
  (``langs=[L]``), which has exactly one relevant passage, and R@k is the share of queries that
  find it in the top k;
- same-language share: of the unrestricted top-10 hits, the share in English, the query's own
  language (the same-language bias that the margin should reduce).

Methods: ``dense`` (Chroma HNSW, cosine), ``bm25``, ``hybrid`` (RRF of both), ``margin``
(ratio margin, neighbourhoods within the pool) and ``margin-q`` (ratio margin, neighbourhoods
over ``--reference`` FLORES *dev* English lines given as ``reference_queries``).

Part 2, speed, at a pool of ``--timing-pool`` passages (default 50,000): FLORES dev + devtest
(five languages), then NTREX-128 newstest2019 (13 files), then Tatoeba (sorted by file name)
until the size is reached, identical texts kept once. Embedding 50k sentences with e5 takes
about 35 minutes on this machine, so the timing pool is embedded with the bundled multilingual
USE by default (``--timing-embedder use-m3``); the printed figures say so. The derived indexes
are removed first, so ``prepare()`` is a cold build (the cost of a rebuild: BM25 is linear in
the pool, the pool-margin statistics quadratic, the reference-query margin linear); the time of
loading them back is reported too, and builds are extrapolated to 100k passages. Then every
method answers the same ``--timing-queries`` English FLORES lines in one batched call, k=10,
after one warm-up call (so query vectors come from the embedding cache); rounds alternate
between methods and the best of ``--repeats`` is kept. Times are ms per query and their ratio
to dense.

    .venv/bin/python bench/retrieval.py                         # ~15-25 min the first time
    .venv/bin/python bench/retrieval.py --queries 200 --timing-pool 10000

Pools and derived indexes live under ``--work`` (default ``bench/out/retrieval/``, git-ignored),
where ``results.json`` and ``retrieval.png`` (mAP and same-language share per method) are
written too. Ends with ``RESULT map_dense=… map_bm25=… map_hybrid=… map_margin=…
margin_vs_dense_time=… map_margin_q=… same_lang_dense=… same_lang_margin=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xling.core.errors import InvalidInputError
from xling.core.records import QueryHits, hits_to_run
from xling.data import SAMPLE_LANGS, sample_path
from xling.embedders import Embedder, get_embedder
from xling.eval import evaluate_run
from xling.retrieval import Retriever, get_retriever
from xling.retrieval.derived import derived_dir
from xling.store import Pool, Record, load_lines, read_lines

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FLORES = SHARED / "flores"
NTREX = SHARED / "ntrex"
TATOEBA = SHARED / "tatoeba"
LANGS = ("eng", "fra", "deu", "swh", "wol")
QUERY_LANG = LANGS[0]
TARGETS = LANGS[1:]
METHODS = ("dense", "bm25", "hybrid", "margin", "margin-q")
DERIVED = ("bm25", "margin", "margin-q")  # methods whose prepare() builds an index
SQL_VARIABLES = 30_000  # results per Chroma query call, below SQLite's 32,766 (retrieve_chunked)
SHORTLIST = 100  # the results margin and hybrid ask Chroma for per query, whatever k is
TOP = 10  # the cut-off of the same-language share and of the per-language recall
QUESTIONS = ROOT / "bench" / "data" / "rag_questions.jsonl"
ENSEMBLE = "ensemble:e5-small-q4=0.7,use-m3=0.3"
# Wide enough for the quality table when the output goes to a log.
console = Console() if sys.stdout.isatty() else Console(width=170)
T = TypeVar("T")


def progress_bar() -> Progress:
    """A rich progress bar in the style of the other benchmarks' bars."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Runs ``fn`` once.

    Args:
        fn: What to run.

    Returns:
        Its result and the wall time in seconds.
    """
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Fastest run of each function, taking turns round by round.

    Load from other processes on this shared machine then falls on all contenders alike.

    Args:
        fns: Name → function to time.
        repeats: Rounds.

    Returns:
        Name → best wall time in seconds.
    """
    best = dict.fromkeys(fns, float("inf"))
    with progress_bar() as bar:
        task = bar.add_task("timing rounds", total=repeats * len(fns))
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
                bar.advance(task)
    return best


def slug(text: str) -> str:
    """A pool-name-safe form of an embedder id (``st:BAAI/bge-m3`` → ``st-BAAI-bge-m3``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "pool"


def read_texts(path: Path) -> list[str]:
    """A UTF-8 file's lines without line endings (a final newline is optional).

    Args:
        path: The file.

    Returns:
        Its lines, blank ones included (callers skip them).
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def flores(split: str) -> dict[str, list[Record]]:
    """The FLORES records of a split, per language (rows are line numbers).

    Args:
        split: ``dev`` or ``devtest``.

    Returns:
        Language → its records, in line order.
    """
    return {lang: load_lines(FLORES / lang / f"{split}.txt", lang) for lang in LANGS}


def open_pool(work: Path, name: str, embedder: Embedder, records: Sequence[Record]) -> Pool:
    """Opens a pool under the work folder and indexes what it does not hold yet.

    Args:
        work: The work folder (the Chroma database is ``work/chroma``).
        name: The pool name.
        embedder: Its embedder.
        records: Its records (already present ones are skipped).

    Returns:
        The pool.
    """
    pool = Pool.open(name, embedder, path=work / "chroma")
    with progress_bar() as bar:
        task = bar.add_task(f"indexing {name} ({embedder.id})", total=len(records))

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        (report, seconds) = timed(lambda: pool.index(records, on_progress=on_progress))
    console.print(
        f"pool {name}: {pool.count():,} passages ({report.added:,} added in {seconds:.0f}s, "
        f"{report.skipped:,} already there)"
    )
    return pool


def drop_derived(pool: Pool) -> None:
    """Removes the pool's persisted derived indexes, so that the next ``prepare()`` builds."""
    shutil.rmtree(derived_dir(pool, pool.state()[0]), ignore_errors=True)


def make_retriever(method: str, pool: Pool, reference: list[str]) -> Retriever:
    """One of :data:`METHODS` over a pool, queries in the document role.

    Args:
        method: A name of :data:`METHODS` (``margin-q`` is ``margin`` with reference queries).
        pool: The pool.
        reference: The reference queries of ``margin-q``.

    Returns:
        The retriever (not prepared yet).
    """
    # The margin of parts 1 and 2 is the first shipped one (ratio, no centering), so that
    # their figures stay comparable from run to run.
    shipped = {"kind": "ratio", "center": False}
    if method == "margin-q":
        return get_retriever(
            "margin", pool, task="symmetric", reference_queries=reference, **shipped
        )
    if method == "margin":
        return get_retriever("margin", pool, task="symmetric", reference="pool", **shipped)
    return get_retriever(method, pool, task="symmetric")


def retrieve_chunked(
    retriever: Retriever,
    queries: list[str],
    k: int,
    *,
    qids: list[str],
    exclude_ids: list[list[str]],
    langs: list[str] | None = None,
) -> list[QueryHits]:
    """``retriever.retrieve`` over slices of the queries, results concatenated.

    An embedded Chroma query fails ("too many SQL variables", reported by xling as a damaged
    pool) once queries x results passes SQLite's 32,766 variables, and the dense query sends
    all queries in one call; margin and hybrid ask for at least 100 results per query
    internally, so each slice holds at most :data:`SQL_VARIABLES` / max(k + excluded, 100)
    queries.

    Args:
        retriever: The retriever.
        queries: Query texts.
        k: Hits per query.
        qids: Query ids.
        exclude_ids: Per query, passage ids it must not find.
        langs: Only passages in these languages.

    Returns:
        One :class:`QueryHits` per query, in input order.
    """
    extra = max((len(x) for x in exclude_ids), default=0)
    step = max(1, SQL_VARIABLES // max(k + extra, SHORTLIST))
    out: list[QueryHits] = []
    for start in range(0, len(queries), step):
        end = start + step
        out += retriever.retrieve(
            queries[start:end],
            k,
            langs=langs,
            qids=qids[start:end],
            exclude_ids=exclude_ids[start:end],
            query_lang=QUERY_LANG,
        )
    return out


def same_language_share(results: Sequence[QueryHits], lang: str, top: int) -> float:
    """The share of the top ``top`` hits of all queries that are in ``lang``.

    Args:
        results: The retrieval results.
        lang: The queries' language.
        top: The cut-off.

    Returns:
        Hits in ``lang`` over all hits counted (0 when there are none).
    """
    hits = [h for result in results for h in result.hits[:top]]
    return sum(h.lang == lang for h in hits) / len(hits) if hits else 0.0


def quality(args: argparse.Namespace, work: Path) -> dict[str, dict[str, float]]:
    """Part 1: mAP, per-language recall and same-language share of every method on FLORES.

    Args:
        args: The command line.
        work: The work folder.

    Returns:
        Method → figure name → value.
    """
    test = flores("devtest")
    embedder = get_embedder(args.embedder)
    pool = open_pool(
        work,
        f"flores-devtest-{slug(embedder.id)}",
        embedder,
        [r for lang in LANGS for r in test[lang]],
    )
    english = test[QUERY_LANG][: args.queries]
    queries = [r.text for r in english]
    qids = [str(r.row) for r in english]
    own = [[r.id] for r in english]
    qrels = {q: {test[lang][i].id: 1 for lang in TARGETS} for i, q in enumerate(qids)}
    per_lang = {lang: {q: {test[lang][i].id: 1} for i, q in enumerate(qids)} for lang in TARGETS}
    reference = read_lines(FLORES / QUERY_LANG / "dev.txt")[: args.reference]
    drop_derived(pool)
    out: dict[str, dict[str, float]] = {}
    with progress_bar() as bar:
        task = bar.add_task("retrieval runs", total=len(METHODS) * (1 + len(TARGETS)))
        for method in METHODS:
            retriever = make_retriever(method, pool, reference)
            _, prepare_s = timed(retriever.prepare)
            search = partial(retrieve_chunked, retriever, queries, qids=qids, exclude_ids=own)
            results, run_s = timed(partial(search, args.depth))
            bar.advance(task)
            ev = evaluate_run(hits_to_run(results), qrels, ("AP", f"R@{TOP}"))
            row = {
                "prepare_s": prepare_s,
                "run_s": run_s,
                "mAP": ev.metrics["AP"],
                f"R@{TOP}": ev.metrics[f"R@{TOP}"],
                "same_lang": same_language_share(results, QUERY_LANG, TOP),
            }
            for lang in TARGETS:
                restricted = retrieve_chunked(
                    retriever, queries, TOP, langs=[lang], qids=qids, exclude_ids=own
                )
                bar.advance(task)
                ev = evaluate_run(hits_to_run(restricted), per_lang[lang], ("R@1", f"R@{TOP}"))
                row[f"{lang}_R@1"] = ev.metrics["R@1"]
                row[f"{lang}_R@{TOP}"] = ev.metrics[f"R@{TOP}"]
            out[method] = row
    return out


@dataclass(frozen=True)
class Question:
    """A question of the cross-lingual set: its id, language, text and answer rows (0-based)."""

    qid: str
    lang: str
    text: str
    rows: tuple[int, ...]


def read_questions() -> list[Question]:
    """The questions of ``bench/data/rag_questions.jsonl`` in the pool's languages (answer lines
    are 1-based there)."""
    out = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["lang"] not in LANGS:  # spa/por/ind questions have no sentences of their own here
            continue
        rows = tuple(int(x) - 1 for x in item["answer_lines"])
        out.append(Question(item["qid"], item["lang"], item["question"], rows))
    return out


def qa_pool(work: Path, spec: str) -> tuple[Pool, dict[tuple[str, int], str]]:
    """The bundled FLORES sample's 500 sentences as a pool, and (language, row) → passage id.

    Args:
        work: The work folder.
        spec: The embedder spec.

    Returns:
        The pool and the id of each (language, row).
    """
    embedder = get_embedder(spec)
    records = [r for lang in SAMPLE_LANGS for r in load_lines(sample_path(lang), lang)]
    pool = open_pool(work, f"qa-sample-{slug(embedder.id)}", embedder, records)
    return pool, {(r.lang, r.row): r.id for r in records}


def qa_ranks(
    retriever: Retriever,
    questions: list[Question],
    ids: dict[tuple[str, int], str],
    target: str | None,
    *,
    single: bool = False,
) -> list[tuple[str, str, int]]:
    """Where each question finds its answer in the target language.

    Args:
        retriever: The retriever.
        questions: The questions (those in ``target`` are left out unless ``target`` is None).
        ids: (language, row) → passage id.
        target: The answers' language; ``None``: each question's own language (monolingual).
        single: One question per call (no batch statistics).

    Returns:
        (question language, target language, 1-based rank of the first answer or 0 if it is
        not in the top :data:`TOP`) per question asked.
    """
    asked = [q for q in questions if target is None or q.lang != target]
    wanted = [q.lang if target is None else target for q in asked]
    relevant = [{ids[(y, r)] for r in q.rows} for q, y in zip(asked, wanted, strict=True)]
    excluded = [
        [ids[(lang, r)] for lang in SAMPLE_LANGS if lang != y for r in q.rows]
        for q, y in zip(asked, wanted, strict=True)
    ]
    texts, langs = [q.text for q in asked], [q.lang for q in asked]
    if single:
        results = [
            retriever.retrieve([t], TOP, exclude_ids=[x], query_lang=lang)[0]
            for t, x, lang in zip(texts, excluded, langs, strict=True)
        ]
    else:
        results = retriever.retrieve(texts, TOP, exclude_ids=excluded, query_lang=langs)
    out = []
    for q, y, rel, res in zip(asked, wanted, relevant, results, strict=True):
        rank = next((i + 1 for i, h in enumerate(res.hits) if h.id in rel), 0)
        out.append((q.lang, y, rank))
    return out


def direction_scores(ranks: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Macro R@1 and R@10 over directions, and R@1 per direction."""
    by: dict[str, list[int]] = {}
    for x, y, rank in ranks:
        by.setdefault(f"{x}>{y}", []).append(rank)
    r1 = {d: sum(r == 1 for r in v) / len(v) for d, v in by.items()}
    r10 = {d: sum(r >= 1 for r in v) / len(v) for d, v in by.items()}
    return {
        "R@1": 100 * sum(r1.values()) / len(r1),
        f"R@{TOP}": 100 * sum(r10.values()) / len(r10),
        "directions": {d: 100 * v for d, v in sorted(r1.items())},
        "questions": len(ranks),
    }


# label → (embedder spec, method, options, one query per call)
RECIPES: dict[str, tuple[str, str, dict[str, Any], bool]] = {
    "dense": ("e5-small-q4", "dense", {}, False),
    "dense + centering": ("e5-small-q4", "dense", {"center": True}, False),
    "margin as shipped (ratio, pool)": (
        "e5-small-q4",
        "margin",
        {"center": False, "kind": "ratio", "reference": "pool"},
        False,
    ),
    "margin + centering (ratio, pool)": (
        "e5-small-q4",
        "margin",
        {"center": True, "kind": "ratio", "reference": "pool"},
        False,
    ),
    "centering + CSLS, pool stats": (
        "e5-small-q4",
        "margin",
        {"center": True, "kind": "distance", "reference": "pool"},
        False,
    ),
    "centering + CSLS, batch stats": (
        "e5-small-q4",
        "margin",
        {"center": True, "kind": "distance", "reference": "batch"},
        False,
    ),
    "centering + CSLS, sample stats": (
        "e5-small-q4",
        "margin",
        {"center": True, "kind": "distance", "reference": "sample"},
        False,
    ),
    "centering + ratio, batch stats": (
        "e5-small-q4",
        "margin",
        {"center": True, "kind": "ratio", "reference": "batch"},
        False,
    ),
    "margin defaults": ("e5-small-q4", "margin", {}, False),
    "margin defaults, one query per call": ("e5-small-q4", "margin", {}, True),
    "dense + centering, one query per call": ("e5-small-q4", "dense", {"center": True}, True),
    "ensemble: dense": (ENSEMBLE, "dense", {}, False),
    "ensemble: margin defaults": (ENSEMBLE, "margin", {}, False),
    "ensemble, no coverage: dense": (ENSEMBLE + "?coverage=false", "dense", {}, False),
    "ensemble, no coverage: margin defaults": (
        ENSEMBLE + "?coverage=false",
        "margin",
        {},
        False,
    ),
}


def crosslingual(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    """Part 0: macro R@1 over the 16 directions of every recipe, and the monolingual rows.

    Args:
        args: The command line.
        work: The work folder.

    Returns:
        Row label → ``R@1``, ``R@10``, per-direction R@1 and seconds.
    """
    questions = read_questions()
    pools = {spec: qa_pool(work, spec) for spec in dict.fromkeys(r[0] for r in RECIPES.values())}
    rows: dict[str, dict[str, Any]] = {}
    recipes = dict(RECIPES)
    recipes["monolingual dense"] = ("e5-small-q4", "dense", {}, False)
    recipes["monolingual margin defaults"] = ("e5-small-q4", "margin", {}, False)
    with progress_bar() as bar:
        task = bar.add_task("cross-lingual recipes", total=len(recipes))
        for label, (spec, method, options, single) in recipes.items():
            pool, ids = pools[spec]
            retriever = get_retriever(method, pool, task="asymmetric", **options)
            start = time.perf_counter()
            retriever.prepare()
            if label.startswith("monolingual"):
                ranks = qa_ranks(retriever, questions, ids, None)
            else:
                ranks = []
                for target in SAMPLE_LANGS:
                    ranks += qa_ranks(retriever, questions, ids, target, single=single)
            rows[label] = direction_scores(ranks) | {"seconds": time.perf_counter() - start}
            rows[label]["embedder"] = spec
            console.print(
                f"  {label}: R@1 {rows[label]['R@1']:.1f}, R@{TOP} {rows[label][f'R@{TOP}']:.1f} "
                f"({rows[label]['seconds']:.0f}s)"
            )
            bar.advance(task)
    return rows


def crosslingual_table(rows: dict[str, dict[str, Any]]) -> Table:
    """The table of part 0."""
    table = Table(
        title="cross-lingual QA retrieval: 200 questions (eng/fra/deu/swh) against the 500 "
        "sentences of the bundled FLORES sample (eng/fra/deu/swh/wol), 16 directions, macro"
    )
    table.add_column("recipe")
    table.add_column("embedder")
    table.add_column("R@1", justify="right")
    table.add_column(f"R@{TOP}", justify="right")
    for lang in SAMPLE_LANGS:
        table.add_column(f"→{lang} R@1", justify="right")
    table.add_column("s", justify="right")
    for label, row in rows.items():
        per_target = {
            y: [v for d, v in row["directions"].items() if d.endswith(f">{y}")]
            for y in SAMPLE_LANGS
        }
        table.add_row(
            label,
            {"e5-small-q4": "e5", ENSEMBLE: "e5+USE 0.7/0.3"}.get(
                row["embedder"], "e5+USE 0.7/0.3, no coverage"
            ),
            f"{row['R@1']:.1f}",
            f"{row[f'R@{TOP}']:.1f}",
            *[f"{sum(v) / len(v):.1f}" if v else "-" for v in per_target.values()],
            f"{row['seconds']:.1f}",
        )
    return table


def timing_records(size: int) -> tuple[list[Record], dict[str, int]]:
    """The timing pool: FLORES dev + devtest, NTREX, then Tatoeba, up to ``size`` texts.

    Identical texts are kept once (whatever their language); blank lines are skipped.

    Args:
        size: The number of passages wanted.

    Returns:
        The records and how many came from each corpus.
    """
    files: list[tuple[str, Path, str]] = []
    for split in ("dev", "devtest"):
        files += [("flores", FLORES / lang / f"{split}.txt", lang) for lang in LANGS]
    for path in sorted(NTREX.glob("newstest2019-*.txt")):
        # newstest2019-ref.eng-US.txt, newstest2019-src.eng.txt → eng
        files.append(("ntrex", path, path.stem.split(".")[-1].split("-")[0]))
    for path in sorted(TATOEBA.glob("tatoeba.*-eng.*")):
        files.append(("tatoeba", path, path.name.split(".")[-1]))
    seen: set[str] = set()
    records: list[Record] = []
    counts: dict[str, int] = {}
    for corpus, path, lang in files:
        source = f"{corpus}/{path.parent.name}/{path.name}"
        for row, text in enumerate(read_texts(path)):
            if len(records) >= size:
                return records, counts
            if text in seen:
                continue
            try:
                record = Record(text, lang, None, None, row, source)
            except InvalidInputError:  # a blank line
                continue
            seen.add(text)
            records.append(record)
            counts[corpus] = counts.get(corpus, 0) + 1
    return records, counts


def speed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 2: prepare (build and load) times and ms per query of every method at scale.

    Args:
        args: The command line.
        work: The work folder.

    Returns:
        ``pool`` (size, embedder, composition), ``build_s``, ``load_s``, ``ms_per_query``,
        ``vs_dense``, ``build_100k_linear_s``, ``build_100k_quadratic_s``, ``margin_work`` and
        the load averages around the timing.
    """
    records, counts = timing_records(args.timing_pool)
    if len(records) < args.timing_pool:
        console.print(f"[yellow]only {len(records):,} distinct texts available[/yellow]")
    embedder = get_embedder(args.timing_embedder)
    pool = open_pool(work, f"timing-{slug(embedder.id)}-{len(records)}", embedder, records)
    size = pool.count()
    reference = read_lines(FLORES / QUERY_LANG / "dev.txt")[: args.reference]
    queries = read_lines(FLORES / QUERY_LANG / "devtest.txt")[: args.timing_queries]
    load_before = os.getloadavg()
    drop_derived(pool)
    retrievers: dict[str, Retriever] = {}
    build_s: dict[str, float] = {}
    for method in METHODS:  # bm25 before hybrid: hybrid then loads the index bm25 built
        retrievers[method] = make_retriever(method, pool, reference)
        _, build_s[method] = timed(retrievers[method].prepare)
        console.print(f"  prepare {method}: {build_s[method]:.2f}s")
    load_s = {m: timed(make_retriever(m, pool, reference).prepare)[1] for m in DERIVED}
    margin_work = {m: int(getattr(retrievers[m], "work", 0)) for m in ("margin", "margin-q")}
    for retriever in retrievers.values():  # warm-up: query vectors into the cache
        retriever.retrieve(queries, TOP)
    best = interleaved(
        {m: partial(r.retrieve, queries, TOP) for m, r in retrievers.items()}, args.repeats
    )
    ms = {m: 1000 * s / len(queries) for m, s in best.items()}
    scale = 100_000 / size
    return {
        "pool": {"size": size, "embedder": embedder.id, "composition": counts},
        "queries": len(queries),
        "k": TOP,
        "repeats": args.repeats,
        "build_s": build_s,
        "load_s": load_s,
        "build_100k_linear_s": {m: build_s[m] * scale for m in DERIVED},
        "build_100k_quadratic_s": {m: build_s[m] * scale**2 for m in DERIVED},
        "margin_work": margin_work,
        "ms_per_query": ms,
        "vs_dense": {m: ms[m] / ms["dense"] for m in ms},
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }


def quality_table(rows: dict[str, dict[str, float]], args: argparse.Namespace) -> Table:
    """The table of part 1."""
    table = Table(
        title=f"FLORES devtest, {len(LANGS)} x 1,012 passages, {args.queries} English queries, "
        f"{args.embedder}, task=symmetric"
    )
    table.add_column("method")
    table.add_column(f"mAP@{args.depth}", justify="right")
    table.add_column(f"R@{TOP} (4 rel.)", justify="right")
    table.add_column(f"eng share top-{TOP}", justify="right")
    for lang in TARGETS:
        table.add_column(f"{lang} R@1 / R@{TOP}", justify="right")
    table.add_column("prepare s", justify="right")
    table.add_column("run s", justify="right")
    for method, row in rows.items():
        table.add_row(
            method,
            f"{row['mAP']:.4f}",
            f"{row[f'R@{TOP}']:.4f}",
            f"{row['same_lang']:.4f}",
            *[f"{row[f'{lang}_R@1']:.3f} / {row[f'{lang}_R@{TOP}']:.3f}" for lang in TARGETS],
            f"{row['prepare_s']:.2f}",
            f"{row['run_s']:.2f}",
        )
    return table


def speed_table(figures: dict[str, Any]) -> Table:
    """The table of part 2."""
    pool = figures["pool"]
    table = Table(
        title=f"speed: {pool['size']:,} passages embedded with {pool['embedder']} (not e5), "
        f"{figures['queries']} queries in one call, k={figures['k']}, best of "
        f"{figures['repeats']}"
    )
    table.add_column("method")
    table.add_column("ms/query", justify="right")
    table.add_column("x dense", justify="right")
    table.add_column("build s (cold prepare)", justify="right")
    table.add_column("load s", justify="right")
    table.add_column("100k build s, linear", justify="right")
    table.add_column("100k build s, quadratic", justify="right")
    for method in METHODS:
        derived = method in DERIVED
        table.add_row(
            method,
            f"{figures['ms_per_query'][method]:.2f}",
            f"{figures['vs_dense'][method]:.2f}",
            f"{figures['build_s'][method]:.2f}" + ("" if derived or method == "dense" else " *"),
            f"{figures['load_s'][method]:.2f}" if derived else "-",
            f"{figures['build_100k_linear_s'][method]:.1f}" if derived else "-",
            f"{figures['build_100k_quadratic_s'][method]:.1f}" if derived else "-",
        )
    return table


def plot(rows: dict[str, dict[str, float]], path: Path) -> None:
    """Bar charts of mAP and of the same-language share per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label, color in (
        (axes[0], "mAP", "mAP (4 translations per English query)", "tab:blue"),
        (axes[1], "same_lang", f"share of top-{TOP} hits in English", "tab:orange"),
    ):
        values = [rows[n][key] for n in names]
        bars = ax.bar(names, values, color=color)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.set_ylim(0, max(1.0, max(values) * 1.1))
    fig.suptitle("FLORES devtest, eng queries against a 5-language pool (e5, symmetric)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    """Runs both parts, prints the tables and the RESULT line.

    Returns:
        The exit code (0).
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--queries", type=int, default=1012, help="English devtest queries")
    parser.add_argument("--depth", type=int, default=100, help="hits per query for mAP")
    parser.add_argument("--embedder", default="e5-small-q4", help="embedder of part 1")
    parser.add_argument("--reference", type=int, default=300, help="margin-q reference lines")
    parser.add_argument("--timing-pool", type=int, default=50_000, help="passages of part 2")
    parser.add_argument("--timing-embedder", default="use-m3", help="embedder of part 2")
    parser.add_argument("--timing-queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "retrieval")
    parser.add_argument("--skip-speed", action="store_true", help="no part 2")
    parser.add_argument(
        "--part",
        choices=("all", "crosslingual", "translations"),
        default="all",
        help="crosslingual: part 0 only; translations: parts 1 and 2",
    )
    args = parser.parse_args()
    if not 1 <= args.queries <= 1012:
        parser.error("--queries must be in 1..1012")
    if not 1 <= args.timing_queries <= SQL_VARIABLES // SHORTLIST:
        # timed as one retrieve() call, which Chroma refuses beyond SQLite's variable limit
        parser.error(f"--timing-queries must be in 1..{SQL_VARIABLES // SHORTLIST}")
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    qa: dict[str, dict[str, Any]] | None = None
    if args.part in ("all", "crosslingual"):
        qa = crosslingual(args, work)
        console.print(crosslingual_table(qa))
        cross = {k: v for k, v in qa.items() if not k.startswith("monolingual")}
        best = max(cross, key=lambda k: cross[k]["R@1"])
        mono = qa["monolingual dense"]["R@1"]
        console.print(
            f"notes: best recipe {best!r} ({cross[best]['R@1']:.1f}); cross-lingual/monolingual "
            f"gap: dense {mono - qa['dense']['R@1']:.1f} points, margin defaults "
            f"{mono - qa['margin defaults']['R@1']:.1f}, best "
            f"{mono - cross[best]['R@1']:.1f} (monolingual dense {mono:.1f}, monolingual margin "
            f"defaults {qa['monolingual margin defaults']['R@1']:.1f}). Per direction R@1: "
            + "; ".join(
                f"{k}: " + " ".join(f"{d} {v:.0f}" for d, v in qa[k]["directions"].items())
                for k in ("dense", "margin defaults")
            )
        )
        qa_line = (
            f"margin_default_r1={qa['margin defaults']['R@1']:.1f} "
            f"best_recipe_r1={cross[best]['R@1']:.1f} dense_r1={qa['dense']['R@1']:.1f} "
            f"mono_r1={mono:.1f}"
        )
        if args.part == "crosslingual":
            (work / "crosslingual.json").write_text(json.dumps(qa, indent=2), encoding="utf-8")
            console.print(f"wrote {work / 'crosslingual.json'}")
            print(f"RESULT {qa_line}")
            return 0

    rows = quality(args, work)
    console.print(quality_table(rows, args))
    console.print(
        f"notes: mAP over the 4 translations in the unrestricted top {args.depth} (own line "
        f"excluded); per-language R@1 / R@{TOP} come from a second retrieval restricted to that "
        f"language (langs=[L]), which holds exactly one relevant passage; 'eng share' is the "
        f"share of the unrestricted top-{TOP} hits that are English (other English lines). "
        f"margin = ratio margin, k=10, pool neighbourhoods; margin-q = the same over "
        f"{args.reference} FLORES dev English lines (reference_queries). prepare s is a cold "
        "build (derived indexes removed first); hybrid's prepare loads the BM25 index just built."
    )
    plot_path = work / "retrieval.png"
    plot(rows, plot_path)

    figures: dict[str, Any] | None = None
    if not args.skip_speed:
        figures = speed(args, work)
        console.print(speed_table(figures))
        console.print(
            f"notes: the timing pool is embedded with {figures['pool']['embedder']} (fast "
            f"bundled USE, 512-d), not e5, to keep the run short; composition "
            f"{figures['pool']['composition']}. ms/query: one batched retrieve() of "
            f"{figures['queries']} queries (query vectors from the embedding cache after a "
            "warm-up), rounds interleaved, best kept. build = cold prepare(); hybrid's is a "
            "load of the BM25 index (*); dense derives nothing. 100k: bm25 and margin-q build "
            "in O(n) (linear column), margin's pool statistics in O(n^2) (quadratic column). "
            f"margin work (products): {figures['margin_work']}. load average before "
            f"{tuple(round(x, 2) for x in figures['loadavg_before'])}, after "
            f"{tuple(round(x, 2) for x in figures['loadavg_after'])} (2 cores)."
        )

    wall = time.perf_counter() - start
    results = {
        "crosslingual": qa,
        "quality": {
            "embedder": args.embedder,
            "queries": args.queries,
            "depth": args.depth,
            "reference_queries": args.reference,
            "methods": rows,
        },
        "speed": figures,
        "wall_s": wall,
    }
    (work / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    console.print(f"wrote {work / 'results.json'} and {plot_path}; wall time {wall / 60:.1f} min")
    ratio = figures["vs_dense"]["margin"] if figures else float("nan")
    print(
        f"RESULT map_dense={rows['dense']['mAP']:.4f} map_bm25={rows['bm25']['mAP']:.4f} "
        f"map_hybrid={rows['hybrid']['mAP']:.4f} map_margin={rows['margin']['mAP']:.4f} "
        f"margin_vs_dense_time={ratio:.3f} map_margin_q={rows['margin-q']['mAP']:.4f} "
        f"same_lang_dense={rows['dense']['same_lang']:.4f} "
        f"same_lang_margin={rows['margin']['same_lang']:.4f}"
        + (f" {qa_line}" if qa is not None else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
