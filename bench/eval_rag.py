"""The field's RAG recipes on the project's multilingual document questions (``xling eval rag``).

The Debian Reference questions of ``bench/documents.py`` (``bench/data/documents/``) are asked of
a pool of the manual's HTML in several languages. A retrieved chunk is relevant when its text
holds the question's gold string (a command, option, path or package name), as in the documents
benchmark, so Recall@k needs no passage ids (``relevance = "answers"``); the same string is the
gold answer of char-3-gram recall / EM / F1.

**A subset, and why.** The whole manual in 11 languages is ~10,000 chunks, which the bundled
e5 embeds at ~1-3 chunks a second on the shared 2-core machine: hours. By default this
benchmark ingests three chapters (``ch03``, ``ch05``, ``ch08``: 9 of the 56 questions) in
English, German and French (~150 chunks each), and asks those questions in English, German,
French and Swahili (no Swahili pages: the ``user`` recipe has nothing to find for them), 36
questions. ``--chapters`` and ``--doc-langs`` widen it.

Two studies, each a resumable ``xling eval rag`` folder under ``--out``:

1. **retrieval** (no LLM): Recall@1/5/10 of every recipe (``user``, ``pivot``, ``all``,
   ``balanced``) with ``--method`` (default dense), per asker's language;
2. **answers** (``--llm-url``, else the embedded vLLM server is started; skipped with
   ``--retrieval-only``): every recipe × instruction language (``user``: the instruction written
   in the asker's language; ``eng``: in English), with query translation too under
   ``--translate``; answer metrics, the share of answers in the asker's language at the first
   attempt and after the re-ask, tokens and latency.

What the embedded LLM (SmolLM2-135M-Instruct) can and cannot show. It can show what does not
depend on the model's skill: the retrieval recipes' Recall@k (the same with any LLM), whether
an instruction in the asker's language moves a small model's first answer into that language,
how often the re-ask is needed, and what each recipe costs in tokens and seconds. It cannot show
which recipe gives *better answers*: a 135M model copies or paraphrases passage text, rarely
in German, French or Swahili, so answer char-3-gram recall mostly measures whether the gold
string was in the context it copied from, EM is ~0, and differences between recipes are within
the noise of 36 questions (the bootstrap tests say so). Query translation by a 135M model is
poor, so ``--translate`` understates what translation is worth with a real model. Run it
with ``--llm-url`` of a real model for those questions.

    PYTHONPATH=src .venv/bin/python bench/eval_rag.py --retrieval-only
    PYTHONPATH=src .venv/bin/python bench/eval_rag.py --llm-url http://127.0.0.1:8000/v1

Ends with ``RESULT best_recipe=… recall5_best=… recall5_user_only=…
lang_ok_translated_instruction=… lang_ok_english_instruction=… asker_lang_acc=…
verdict_agreement_min=… margin_default_r1=…``; the last three come from running the other
parts' benchmarks after this one (``bench/asker_language.py``, ``bench/rag_language.py`` on the
saved answers, ``bench/retrieval.py --part crosslingual``; ``--no-other-parts`` skips them).
The others: the recipe with the best
overall Recall@5 (retrieval study; ties broken by R@1), its R@5 and the ``user`` recipe's (in
%), and, on the answer study's rows of that recipe, the share of *first* answers in the asker's
language with the instruction in the asker's language and in English (before the re-ask, which
hides the instruction's effect; ``nan`` with ``--retrieval-only``).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xling import Pool
from xling.documents import Document
from xling.embedders import get_embedder
from xling.embedders.cache import EmbeddingCache
from xling.eval.qa_datasets import QAExample, write_qa_examples
from xling.experiments import RagStudyConfig, RagSummary, run_rag_study
from xling.retrieval import RECIPES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from documents import DOC_LANGS, load_questions, unpack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("ch03", "ch05", "ch08")
DOC_LANGS_DEFAULT = ("en", "de", "fr")
QUESTION_LANGS = ("eng", "deu", "fra", "swh")

console = Console() if sys.stdout.isatty() else Console(width=150)


def documents(root: Path, langs: list[str], chapters: list[str]) -> list[Document]:
    """The chosen chapters' HTML in the chosen Debian languages."""
    return [
        Document(doc_id=f"{lang}/{stem}.{lang}.html",
                 path=root / "html" / lang / f"{stem}.{lang}.html", lang=DOC_LANGS[lang])
        for lang in langs for stem in chapters
    ]  # fmt: skip


def questions(path: Path, chapters: list[str], langs: list[str]) -> list[QAExample]:
    """The benchmark's questions about the chosen chapters, in the chosen languages."""
    rows = [json.loads(line) for line in (ROOT / "bench/data/documents/questions.jsonl")
            .read_text("utf-8").splitlines() if line.strip()]  # fmt: skip
    files = {(r["qid"], r["lang"]): r["file"] for r in rows}
    chosen = [
        QAExample(f"{q.qid}-{q.lang}", q.question, q.lang, (q.gold,))
        for q in load_questions()
        if files[(q.qid, q.lang)] in chapters and q.lang in langs
    ]
    write_qa_examples(path, chosen)
    return chosen


def recall_table(summary: RagSummary, k: int) -> Table:
    """R@k per recipe (rows) and asker's language (columns)."""
    langs = summary.langs()
    table = Table(title=f"retrieval: R@{k} per asker's language (%)")
    table.add_column("row")
    for lang in langs:
        table.add_column(lang, justify="right")
    for row in summary.rows:
        values = [summary.value(row, f"R@{k}", lang) for lang in langs]
        table.add_row(row, *("-" if v is None else f"{v:.1f}" for v in values))
    return table


def answer_table(summary: RagSummary) -> Table:
    """The answer study's overall figures per row."""
    metrics = ("R@5", "char3_recall", "em", "f1", "lang_ok_first", "lang_ok_final",
               "calls", "prompt_tokens", "completion_tokens", "seconds")  # fmt: skip
    table = Table(title="answers: all questions (shares in %)")
    table.add_column("row")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for row in summary.rows:
        values = [summary.value(row, m) for m in metrics]
        table.add_row(row, *("-" if v is None else f"{v:.2f}" for v in values))
    return table


def first_share(summary: RagSummary, rows: list[str]) -> float:
    """Mean first-attempt share in the asker's language over ``rows`` (nan without any)."""
    values = [v for r in rows if (v := summary.value(r, "lang_ok_first")) is not None]
    return sum(values) / len(values) if values else math.nan


# The other parts, measured by their own benchmarks: script, arguments, keys taken from
# its RESULT line (asker's language, the open-set verdict re-measured on the saved answers
# without an LLM, the cross-lingual retrieval defaults).
OTHER_PARTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("asker_language.py", (), ("asker_lang_acc",)),
    ("rag_language.py", ("--answers", str(ROOT / "bench" / "data" / "rag_language_answers.jsonl")),
     ("verdict_agreement_min",)),
    ("retrieval.py", ("--part", "crosslingual"), ("margin_default_r1",)),
)  # fmt: skip


def other_parts() -> dict[str, str]:
    """Runs the other parts' benchmarks one after another and takes their figures (``nan``
    where one failed)."""
    figures: dict[str, str] = {}
    for script, extra, keys in OTHER_PARTS:
        console.print(f"running bench/{script} {' '.join(extra)}")
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), "")
        values = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        figures.update({key: values.get(key, "nan") for key in keys})
        taken = " ".join(f"{k}={figures[k]}" for k in keys)
        console.print(f"  {taken} ({time.perf_counter() - started:.0f} s, exit {run.returncode})")
    return figures


def main() -> int:
    """Runs the studies and prints their tables and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "eval_rag")
    parser.add_argument("--chapters", default=",".join(CHAPTERS))
    parser.add_argument("--doc-langs", default=",".join(DOC_LANGS_DEFAULT))
    parser.add_argument("--question-langs", default=",".join(QUESTION_LANGS))
    parser.add_argument("--method", default="dense")
    parser.add_argument("--embedder", default="e5-small-q4")
    parser.add_argument("--retrieval-only", action="store_true")
    parser.add_argument(
        "--no-other-parts",
        action="store_true",
        help="Skip running bench/asker_language.py, rag_language.py (saved answers) and "
        "retrieval.py --part crosslingual for the RESULT line's last three keys.",
    )
    parser.add_argument("--translate", action="store_true", help="Also translate_query = true.")
    parser.add_argument("--llm-url", default=None)
    parser.add_argument("-k", type=int, default=3, help="Passages shown to the LLM.")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--samples", type=int, default=300, help="Bootstrap resamples.")
    args = parser.parse_args()
    chapters = [c for c in args.chapters.split(",") if c]
    doc_langs = [x for x in args.doc_langs.split(",") if x]
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = unpack(out)
    embedder = get_embedder(args.embedder, cache=EmbeddingCache(out / "embeddings.sqlite"))
    name = f"dr-{'-'.join(doc_langs)}-{'-'.join(chapters)}"
    pool = Pool.open(name, embedder, path=out / "db")
    began = time.perf_counter()
    report = pool.ingest(documents(root, doc_langs, chapters))
    console.print(f"pool {name}: {report.summary()}; {pool.count()} chunks "
                  f"({time.perf_counter() - began:.0f} s)")  # fmt: skip
    asked = questions(out / "questions.jsonl", chapters, args.question_langs.split(","))
    console.print(f"{len(asked)} questions ({args.question_langs}) about {', '.join(chapters)} "
                  f"in {', '.join(doc_langs)}")  # fmt: skip
    base = RagStudyConfig(name="retrieval", questions=str(out / "questions.jsonl"), pool=name,
                          recipes=RECIPES, methods=(args.method,), recall_k=(1, 5, 10),
                          relevance="answers", retrieval_only=True,
                          baseline=f"{args.method}/user")  # fmt: skip
    retrieval = run_rag_study(base, out / "retrieval", pool=pool, n_samples=args.samples,
                              on_status=console.print)  # fmt: skip
    assert retrieval.summary is not None
    console.print(recall_table(retrieval.summary, 5))
    console.print(recall_table(retrieval.summary, 10))
    console.print((out / "retrieval" / "summary.md").read_text("utf-8"), markup=False)
    r5 = {r: retrieval.summary.value(r, "R@5") or 0.0 for r in retrieval.summary.rows}
    r1 = {r: retrieval.summary.value(r, "R@1") or 0.0 for r in retrieval.summary.rows}
    best = max(r5, key=lambda r: (r5[r], r1[r]))  # ties on R@5 broken by R@1
    best_recipe = best.split("/")[1]
    lang_user = lang_eng = math.nan
    if not args.retrieval_only:
        answers = run_rag_study(
            base.with_changes(name="answers", retrieval_only=False,
                              translate_query=(False, True) if args.translate else None,
                              instruction_langs=("user", "eng"),
                              baseline=f"{args.method}/user/eng",
                              answer={"k": args.k, "max_tokens": args.max_tokens}),
            out / "answers", pool=pool, llm_url=args.llm_url, n_samples=args.samples,
            on_status=console.print,
        )  # fmt: skip
        assert answers.summary is not None
        console.print(answer_table(answers.summary))
        console.print((out / "answers" / "summary.md").read_text("utf-8"), markup=False)
        mine = [r for r in answers.summary.rows if r.split("/")[1] == best_recipe]
        lang_user = first_share(answers.summary, [r for r in mine if r.endswith("/user")])
        lang_eng = first_share(answers.summary, [r for r in mine if r.endswith("/eng")])
    others = {} if args.no_other_parts else other_parts()
    console.print(
        f"RESULT best_recipe={best_recipe} recall5_best={r5[best]:.1f} "
        f"recall5_user_only={r5[f'{args.method}/user']:.1f} "
        f"lang_ok_translated_instruction={lang_user:.1f} "
        f"lang_ok_english_instruction={lang_eng:.1f}"
        + "".join(f" {key}={value}" for key, value in others.items()),
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
