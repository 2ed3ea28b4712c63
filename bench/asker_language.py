"""Is the asker's language found? Each LID backend alone against the asker ensemble.

The questions are ``bench/data/asker/questions.jsonl``: 600 questions in 15 languages, half of
them short (3–8 words) and full of English or international names, each labelled with its
language. For every question:

* each backend alone, as the answer pipeline used one before the ensemble (``detect`` on the
  raw question, ``und`` read as English): pycld2 was the pipeline's default;
* pycld2 alone on the masked question, with the related pairs (``cld2+mask``: what
  ``AnswerConfig(lid_backend="pycld2")`` now does, without lingua's load: tens of seconds, ~1 GB);
* the ensemble, :func:`xling.lid.identify_asker_language`, with no priors;
* the ensemble with priors: ``expected`` = the 15 languages of the set (``+exp15``);
  ``expected`` = the question's language and two others drawn at random (``exp∋``), or three
  others without it (``exp∌``: what an unexpected asker costs); an ``Accept-Language`` hint of
  the question's language (``hint✓``) or of another one (``hint✗``).

Prints the accuracy per language and overall (and on the short questions with names), the
ensemble's confusions, and, when ``../shared/data/tatoeba`` is there, what resolving each
closely related pair costs: Tatoeba accuracy of both members with the pair resolved and not.

    .venv/bin/python bench/asker_language.py [--tatoeba-lines 100]

Ends with ``RESULT asker_lang_acc=<ensemble> asker_lang_acc_priors=… asker_lang_acc_pycld2=…
asker_lang_acc_lingua=… …``; exits 1 when the ensemble without priors is below 0.98.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xling.lid import RELATED, UNDETERMINED, get_identifier, identify_asker_language

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "data" / "asker" / "questions.jsonl"
TATOEBA = HERE.parents[1] / "shared" / "data" / "tatoeba"
SINGLE = ("pycld2", "lingua", "py3langid", "langdetect")
GOAL = 0.98
console = Console()


def load() -> list[dict[str, object]]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]


def single(backend: str, text: str) -> str:
    """The pipeline's former way: one backend on the raw question, undecided → English."""
    found = get_identifier(backend).detect(text).lang
    return found if found != UNDETERMINED else "eng"


def tatoeba_lines(code: str, limit: int) -> list[str]:
    path = TATOEBA / f"tatoeba.{code}-eng.{code}"
    if not path.is_file():
        return []
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line][:limit]


def pair_costs(limit: int) -> Table | None:
    """Tatoeba accuracy of both members of each related pair, resolved and not."""
    if not TATOEBA.is_dir():
        return None
    table = Table(title=f"Related pairs on Tatoeba ({limit} lines a language; ensemble, no priors)")
    for column in ("rarer", "likelier", "rarer: plain", "rarer: resolved", "likelier: plain",
                   "likelier: resolved"):  # fmt: skip
        table.add_column(column, justify="right")
    candidates = {**RELATED, "dan": "nob", "cat": "spa"}  # two pairs left out, for the record
    for rare, likely in candidates.items():
        row = [rare + ("" if rare in RELATED else " (left out)"), likely]
        for code in (rare, likely):
            lines = tatoeba_lines(code, limit)
            if not lines:
                row += ["–", "–"]
                continue
            for pairs in ({}, {rare: likely}):
                hits = sum(identify_asker_language(t, related=pairs).lang == code for t in lines)
                row.append(f"{hits / len(lines):.2f}")
        table.add_row(*row)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tatoeba-lines", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    questions = load()
    langs = sorted({str(q["lang"]) for q in questions})
    systems = [*SINGLE, "cld2+mask", "ensemble", "+exp15", "exp∋", "exp∌", "hint✓", "hint✗"]
    predictions: dict[str, list[str]] = {name: [] for name in systems}
    rng = random.Random(0)
    for q in questions:
        text, lang = str(q["question"]), str(q["lang"])
        others = rng.sample([x for x in langs if x != lang], 5)
        for backend in SINGLE:
            predictions[backend].append(single(backend, text))
        found = identify_asker_language(text, backends=["pycld2"])
        predictions["cld2+mask"].append(found.lang)
        runs = {
            "ensemble": {},
            "+exp15": {"expected": langs},
            "exp∋": {"expected": [lang, *others[:2]]},
            "exp∌": {"expected": others[2:]},
            "hint✓": {"hint": lang},
            "hint✗": {"hint": others[0]},
        }
        for name, priors in runs.items():
            found = identify_asker_language(text, **priors)  # type: ignore[arg-type]
            predictions[name].append(found.lang)
    gold = [str(q["lang"]) for q in questions]
    short = [bool(q["short_with_names"]) for q in questions]

    def accuracy(name: str, keep: list[bool]) -> float:
        pairs = [(p, g) for p, g, k in zip(predictions[name], gold, keep, strict=True) if k]
        return sum(p == g for p, g in pairs) / len(pairs)

    table = Table(title=f"Asker's language accuracy ({len(questions)} questions)")
    table.add_column("lang")
    table.add_column("n", justify="right")
    short_names = {"py3langid": "langid", "langdetect": "ldetect", "ensemble": "ens"}
    for name in systems:
        table.add_column(short_names.get(name, name), justify="right")
    for lang in langs:
        keep = [g == lang for g in gold]
        table.add_row(lang, str(sum(keep)), *(f"{accuracy(n, keep):.3f}" for n in systems))
    table.add_section()
    table.add_row("short, names", str(sum(short)), *(f"{accuracy(n, short):.3f}" for n in systems))
    everything = [True] * len(gold)
    overall = {name: accuracy(name, everything) for name in systems}
    table.add_row("overall", str(len(gold)), *(f"{overall[n]:.3f}" for n in systems))
    console.print(table)

    for name in ("pycld2", "ensemble", "+exp15", "exp∌"):
        errors: dict[tuple[str, str], list[str]] = defaultdict(list)
        for p, g, q in zip(predictions[name], gold, questions, strict=True):
            if p != g:
                errors[(g, p)].append(str(q["question"]))
        counts = Counter({key: len(v) for key, v in errors.items()})
        console.print(f"[bold]{name}[/bold]: {sum(counts.values())} wrong")
        for (g, p), n in counts.most_common(12):
            console.print(f"  {g} → {p}: {n}  e.g. {errors[(g, p)][0]}")

    costs = pair_costs(args.tatoeba_lines)
    if costs is not None:
        console.print(costs)
    console.print(f"{time.perf_counter() - started:.0f} s")
    order = ["ensemble", "+exp15", "exp∌", "hint✗", *SINGLE, "cld2+mask"]
    names = {
        "ensemble": "asker_lang_acc",
        "+exp15": "asker_lang_acc_priors",
        "exp∌": "asker_lang_acc_unexpected",
        "hint✗": "asker_lang_acc_wrong_hint",
        "cld2+mask": "asker_lang_acc_pycld2_masked",
    }
    # print, not rich: the RESULT line must stay one line whatever the terminal's width.
    print(
        "RESULT "
        + " ".join(f"{names.get(n, 'asker_lang_acc_' + n)}={overall[n]:.4f}" for n in order)
    )
    return 0 if overall["ensemble"] >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
