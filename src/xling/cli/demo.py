"""``xling demo``: the main job on embedded defaults, cross-lingual question answering.

Indexes the bundled FLORES-200 sample (English and its French, German, Swahili and Wolof
translations, one passage per text), starts the embedded LLM (preparing it the first time),
answers questions asked in French, German, Swahili and English through retrieve → listwise
rerank → answer → language check, prints answer, citations and verdict, and stops the server.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from xling.cli.app import app, console, err_console
from xling.cli.ask import render_answer
from xling.cli.options import ChromaPath, EmbedderOpt
from xling.cli.progress import progress_bar
from xling.core.records import Question
from xling.data import SAMPLE_LANGS, sample_path
from xling.embedders import DEFAULT_EMBEDDER
from xling.llm import (
    EMBEDDED_DEFAULTS,
    EMBEDDED_MODELS,
    EmbeddedLLMConfig,
    LLMClient,
    embedded_llm,
    prepare,
)
from xling.rag.pipeline import AnswerConfig, build_answer_pipeline
from xling.store import Pool, load_aligned

__all__ = ["demo", "DEFAULT_QUESTIONS"]

DEFAULT_QUESTIONS = [
    Question("Qui a présenté l'iPhone, et comment ?", "fra"),
    Question("Wo ist der JAS 39C Gripen abgestürzt?", "deu"),
    Question("Arthur Guinness alisaini mkataba wa miaka mingapi?", "swh"),
    Question("Which prison in Iraq was set alight during a riot?", "eng"),
]
_DEMO_PORT = 8012  # its own server, beside a user's `xling llm serve` on 8011


def _status(line: str) -> None:
    err_console.print(f"[dim]{escape(line)}[/]", highlight=False)


@app.command()
def demo(
    question: Annotated[
        list[str] | None,
        typer.Option("--question", "-q", help="Questions, in any language (repeatable)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Passages shown to the LLM.")] = 3,
    rerank: Annotated[
        str, typer.Option(help="A reranker spec (see xling rerank --help), or 'none'.")
    ] = "listwise",
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
    chroma_path: ChromaPath = None,
    pool_name: Annotated[str, typer.Option("--pool")] = "flores-sample",
    port: Annotated[int, typer.Option(help="Port of the demo's own LLM server.")] = _DEMO_PORT,
    model: Annotated[
        str,
        typer.Option("--model", "-m", help=f"Embedded LLM: {', '.join(EMBEDDED_MODELS)}."),
    ] = EMBEDDED_DEFAULTS["answer"],
) -> None:
    """Answers questions in four languages from the bundled FLORES-200 sample, and checks them."""
    config = EmbeddedLLMConfig(port=port, model=model)  # a bad name fails before indexing
    questions = (
        [Question(text, str(i)) for i, text in enumerate(question)]
        if question
        else DEFAULT_QUESTIONS
    )
    pool = Pool.open(pool_name, embedder, path=chroma_path)
    records = []
    for lang in SAMPLE_LANGS[1:]:
        records += load_aligned(
            sample_path("eng"), sample_path(lang), "eng", lang, source="flores-sample"
        )
    with progress_bar(f"indexing {pool_name}") as update:
        report = pool.index(records, on_progress=update)
    console.print(
        f"pool [bold]{escape(pool_name)}[/]: {pool.count()} passages ({report.added} new) in "
        f"{len(SAMPLE_LANGS)} languages, embedder {pool.embedder.id}"
    )
    with err_console.status("preparing the embedded LLM (the first time: a few minutes)"):
        prepare(config, _status)
    with embedded_llm(config, _status) as handle:
        pipeline = build_answer_pipeline(
            pool, LLMClient(handle.url, handle.model, max_concurrency=16, timeout=120),
            # Its 10 passages fit one listwise window; options of other specs are their defaults.
            rerank=None if rerank == "none" else rerank,
            config=AnswerConfig(k=k, retrieve_k=10, style=config.spec.answer_style),
        )  # fmt: skip
        with progress_bar("answering") as update:
            answers = pipeline.answer_many(questions, on_progress=update)
    for answer in answers:
        console.print(render_answer(answer))
    ok = sum(a.language_ok for a in answers)
    console.print(f"{ok} of {len(answers)} answers in the asker's language")
