"""``xling ask``: answer questions from a pool in the asker's language, with citations.

Exit codes as for every command; with ``--on-llm-failure passages`` a failing LLM leaves the
answers missing and flagged (the retrieved passages are kept), and the exit code is 4 when no
question got an answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel

from xling.cli.app import app, console, err_console, fail, warn
from xling.cli.options import (
    EMBEDDED_HINT,
    ChromaPath,
    ChromaUrl,
    LLMConcurrencyOpt,
    LLMModelOpt,
    LLMUrlOpt,
    PoolEmbedderOpt,
)
from xling.cli.output import check_output, write_atomically
from xling.cli.progress import progress_bar
from xling.cli.rerank import parse_settings
from xling.cli.retrieve import MethodOpt, TaskOpt
from xling.core.errors import EXIT_ALL_FELL_BACK, ServiceUnavailableError
from xling.core.languages import language_name
from xling.core.records import Question, read_questions
from xling.core.validation import check_choice, check_positive_int
from xling.llm.client import DEFAULT_CONCURRENCY
from xling.prompts.instructions import INSTRUCTION_LANGS
from xling.rag.pipeline import Answer, AnswerConfig, build_answer_pipeline
from xling.rerankers import check_reranker_spec, reranker_forms
from xling.rerankers.guard import parse_guard_setting
from xling.retrieval import RECIPES, available_retrievers
from xling.store import open_pool

__all__ = ["ask", "render_answer"]


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question, in any language.")] = None,
    pool: Annotated[str, typer.Option("--pool", "-p", help="Pool to answer from.")] = "",
    questions: Annotated[
        Path | None,
        typer.Option(help="Questions: one a line, or JSONL {question, lang?, qid?}."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSONL answers (with --questions).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    lang: Annotated[
        str | None, typer.Option("--query-lang", help="The asker's language [default: detected].")
    ] = None,
    expected_langs: Annotated[
        list[str] | None,
        typer.Option(
            "--expected-lang",
            help="A language askers are expected to use (repeatable): a prior for detection.",
        ),
    ] = None,
    passage_lang: Annotated[
        list[str] | None, typer.Option("--lang", "-l", help="Only passages in this language.")
    ] = None,
    method: MethodOpt = "dense",
    task: TaskOpt = "asymmetric",
    recipe: Annotated[
        str,
        typer.Option(
            help="Passages from: user (the asker's language), pivot (English), all, or "
            "balanced (an equal quota per language)."
        ),
    ] = "all",
    translate_query: Annotated[
        bool,
        typer.Option(
            "--translate-query", help="Translate the question with the LLM before searching."
        ),
    ] = False,
    instruction_lang: Annotated[
        str,
        typer.Option(help="Write the instruction in the asker's language (user) or English (eng)."),
    ] = "user",
    k: Annotated[int, typer.Option("-k", help="Passages shown to the LLM.")] = 5,
    retrieve_k: Annotated[int, typer.Option(help="Passages retrieved (and reranked).")] = 20,
    rerank: Annotated[
        str | None,
        typer.Option(help=f"Rerank with a spec: {', '.join(reranker_forms())} [default: none]."),
    ] = None,
    rerank_setting: Annotated[
        list[str] | None, typer.Option("--rerank-set", help="A reranker option, KEY=VALUE.")
    ] = None,
    guard: Annotated[
        str | None,
        typer.Option(
            help="The weak-judge guard: the reranker's weight in (0, 1] in a fusion with the "
            "retrieval order, fitted (each reranker's own fitted weight, the default) or off."
        ),
    ] = None,
    url: LLMUrlOpt = None,
    model: LLMModelOpt = None,
    max_tokens: Annotated[int, typer.Option(help="Most tokens per answer.")] = 160,
    reask: Annotated[
        bool, typer.Option(help="Ask once more when the answer is in the wrong language.")
    ] = True,
    on_llm_failure: Annotated[
        str, typer.Option(help="raise, or passages: keep the passages, flag the answer missing.")
    ] = "raise",
    concurrency: LLMConcurrencyOpt = DEFAULT_CONCURRENCY,
    embedder: PoolEmbedderOpt = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Answers from a pool: retrieve → rerank → answer in the asker's language → check."""
    items = _questions(question, questions, lang)
    if not pool:
        raise fail("--pool is required: the pool to answer from (see `xling index`)")
    check_positive_int(k, "-k")
    check_choice(method, "--method", available_retrievers())
    check_choice(recipe, "--recipe", RECIPES)
    check_choice(instruction_lang, "--instruction-lang", INSTRUCTION_LANGS)
    if rerank is not None:
        check_reranker_spec(rerank, "--rerank")
    if out is not None:
        check_output(out, "--out")
    config = AnswerConfig(
        k=k, retrieve_k=max(retrieve_k, k), langs=tuple(passage_lang) if passage_lang else None,
        recipe=recipe, translate_query=translate_query, instruction_lang=instruction_lang,
        expected_langs=tuple(expected_langs) if expected_langs else None,
        max_tokens=max_tokens, reask=reask, on_llm_failure=on_llm_failure,  # type: ignore[arg-type]
    )  # fmt: skip
    options: dict[str, Any] = parse_settings(rerank_setting or []) if rerank else {}
    if guard is not None:
        options["guard"] = parse_guard_setting(guard, "--guard")
    pipeline = build_answer_pipeline(
        open_pool(pool, embedder, path=chroma_path, url=chroma_url), url, method=method,
        task=task, rerank=rerank, rerank_options=options, model=model, concurrency=concurrency,
        config=config,
    )  # fmt: skip
    try:
        with progress_bar("answering") as update:
            answers = pipeline.answer_many(items, on_progress=update)
    except ServiceUnavailableError as exc:
        if url is None:
            raise ServiceUnavailableError(f"{exc}; {EMBEDDED_HINT}") from None
        raise
    _emit(answers, out, as_json)
    missing = sum(a.answer is None for a in answers)
    if missing:
        warn(f"{missing} of {len(answers)} questions got no answer: {answers[0].error}")
        if missing == len(answers):
            raise typer.Exit(EXIT_ALL_FELL_BACK)


def _questions(question: str | None, path: Path | None, lang: str | None) -> list[Question]:
    if (question is None) == (path is None):
        raise fail('give one question ("...") or --questions FILE, not both')
    if path is not None:
        return read_questions(path)
    assert question is not None
    return [Question(question, "0", lang)]


def _emit(answers: list[Answer], out: Path | None, as_json: bool) -> None:
    lines = "".join(json.dumps(a.to_dict(), ensure_ascii=False) + "\n" for a in answers)
    if out is not None:
        write_atomically(out, lines, "--out")
        err_console.print(f"{len(answers)} answers → {out}", highlight=False)
    if as_json:
        sys.stdout.write(lines)
        sys.stdout.flush()
    elif out is None or len(answers) <= 10:
        for answer in answers:
            console.print(render_answer(answer))


def render_answer(answer: Answer) -> Panel:
    """A panel with the answer, its citations and the language verdict."""
    asked = language_name(answer.query_language)
    if answer.answer is None:
        body = f"[red]no answer[/]: {escape(answer.error or '')}"
    else:
        body = escape(answer.answer)
    cited = set(answer.citations)
    lines = [body, ""]
    for n, hit in enumerate(answer.passages, 1):
        mark = "cited" if hit.id in cited else "shown"
        where = f" {escape(hit.citation)}:" if hit.citation else ""
        lines.append(
            f"[dim][{n}] {mark} {escape(hit.id[:12])} ({hit.lang}){where}[/] "
            f"{escape(hit.text[:100])}"
        )
    if not answer.citations and answer.answer is not None:
        lines.append("[yellow]the answer cites no passage[/]")
    if answer.dropped_citations:
        lines.append(f"[yellow]cited but not shown: {answer.dropped_citations}[/]")
    for lang, text in answer.translations.items():
        lines.append(f"[dim]searched in {escape(lang)} as: {escape(text)}[/]")
    verdict = {"correct": "[green]ok[/]", "unsure": "[yellow]unsure[/]"}.get(
        answer.verdict, f"[red]{answer.verdict.replace('_', ' ')}[/]"
    )
    tries = len(answer.attempts)
    lines.append(
        f"asked in {asked}; answer in {escape(answer.language)} "
        f"({answer.language_confidence:.2f}) {verdict}"
        + (" after a re-ask" if tries > 1 and answer.language_ok else "")
    )
    return Panel("\n".join(lines), title=escape(answer.question), title_align="left")
