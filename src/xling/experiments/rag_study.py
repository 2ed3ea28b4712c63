"""Running a RAG study: every recipe of the grid over the same questions, resumably.

:func:`run_rag_study` reads the questions (:func:`xling.eval.qa_datasets.read_qa_examples`),
opens the pool, and runs each cell of the grid (:meth:`RagStudyConfig.cells`) in its own
folder ``<out>/runs/<cell key>/`` with the experiment runner's machinery
(:mod:`xling.experiments.run_folder`):

- a cell whose ``run.json`` carries the hash of its effective config (the cell, the questions,
  the pool's state, the model, the answer settings, the k of Recall@k) is skipped;
- questions are answered in batches and each finished question is appended to the partial
  file, so a cell killed midway resumes with the questions it still lacks;
- a finished cell writes ``outputs.jsonl`` (one :class:`~xling.experiments.rag_rows.RagRow`
  per question, in question order), ``scores.json`` (per language and ``all``) and, last,
  ``run.json``.

Each cell asks the answer pipeline (:class:`~xling.rag.pipeline.AnswerPipeline`) with the
cell's recipe, query translation and instruction language; a retrieval-only study asks only the
recipe's retrieval (:class:`~xling.retrieval.recipes.RecipeRetriever`), with no LLM. At the end
the study is summarised (:mod:`xling.experiments.rag_summary`): tables, CSV, plot and paired
bootstrap tests against the baseline row.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from xling.core.aio import blocking
from xling.core.errors import XlingError
from xling.core.files import write_json_atomic
from xling.core.progress import ProgressCallback
from xling.core.records import Question
from xling.eval.answer_metrics import answer_scores
from xling.eval.bootstrap import BOOTSTRAP_SAMPLE_SIZE, BOOTSTRAP_SAMPLES
from xling.eval.qa_datasets import QAExample, read_qa_examples
from xling.experiments.config import ConfigError
from xling.experiments.llm_session import aembedded_client, embedded_name, url_client
from xling.experiments.rag_config import RagCell, RagStudyConfig
from xling.experiments.rag_rows import RagRow, cell_scores, judge
from xling.experiments.rag_summary import STUDY_FILE, RagSummary, summarize_rag
from xling.experiments.run_folder import (
    RUN_FILE,
    appending,
    config_digest,
    finished_hash,
    mark_finished,
    resume_rows,
    write_jsonl_atomic,
)
from xling.experiments.runs import OUTPUTS_FILE, RUNS_DIR, SCORES_FILE
from xling.experiments.summary_files import write_summary
from xling.llm import LLMClient, answer_style_of
from xling.rag.answers import Answer, AnswerConfig
from xling.rag.pipeline import AnswerPipeline
from xling.retrieval import RecipeRetriever, Retriever, get_retriever
from xling.store import Pool, open_pool

__all__ = [
    "CellProgress",
    "CellOutcome",
    "RagStudyReport",
    "arun_rag_study",
    "run_rag_study",
]

CellProgress = Callable[[RagCell, int, int], ProgressCallback | None]
"""Called as a cell starts with ``(cell, number, cells)``; returns that cell's progress callback."""
BATCH = 16
"""Questions retrieved (and answered) together; a killed cell loses at most one batch."""
_FORMAT = 1  # bump when the rows of an unchanged config would change


@dataclass(frozen=True)
class CellOutcome:
    """What happened to one cell.

    Attributes:
        cell: The cell.
        status: ``skipped`` (finished before), ``ran`` or ``resumed``.
        asked: Questions asked this time.
        kept: Questions kept from an interrupted attempt.
        scores: Language (and ``all``) → metric → value (:func:`cell_scores`).
        folder: Its folder.
        seconds: Wall time this time.
    """

    cell: RagCell
    status: Literal["skipped", "ran", "resumed"]
    asked: int
    kept: int
    scores: dict[str, dict[str, float]]
    folder: Path
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"label": self.cell.label, "cell": self.cell.to_dict(), "status": self.status,
                "asked": self.asked, "kept": self.kept, "scores": self.scores,
                "folder": str(self.folder), "seconds": round(self.seconds, 3)}  # fmt: skip


@dataclass(frozen=True)
class RagStudyReport:
    """The cells of a study, where they are, and its summary.

    Attributes:
        name: The study's name.
        out: Its output folder.
        cells: Each cell's outcome, in grid order.
        questions: Questions asked per cell.
        llm: The LLM (``""`` in a retrieval-only study, or when every cell was finished).
        seconds: Wall time.
        summary: The summary (``None`` when not asked for).
    """

    name: str
    out: Path
    cells: tuple[CellOutcome, ...]
    questions: int
    llm: str = ""
    seconds: float = 0.0
    summary: RagSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"name": self.name, "out": str(self.out), "questions": self.questions,
                "llm": self.llm, "seconds": round(self.seconds, 3),
                "cells": [c.to_dict() for c in self.cells],
                "summary": self.summary.to_dict() if self.summary else None}  # fmt: skip


# -- inputs ----------------------------------------------------------------------------------
def _examples(config: RagStudyConfig) -> list[QAExample]:
    try:
        examples = read_qa_examples(config.questions, config.format, langs=config.langs)  # type: ignore[arg-type]
    except XlingError as exc:
        raise ConfigError(config.source, [("questions", str(exc))]) from None
    examples = examples[: config.limit] if config.limit else examples
    if not examples:
        raise ConfigError(config.source, [("questions", f"{config.questions} has no question"
                                           + (" in langs" if config.langs else ""))])  # fmt: skip
    return examples


def _pool(config: RagStudyConfig, pool: Pool | None) -> Pool:
    if pool is not None:
        return pool
    try:
        return open_pool(config.pool, path=config.chroma_path, url=config.chroma_url)
    except XlingError as exc:
        raise ConfigError(config.source, [("pool", str(exc))]) from None


def _cell_hash(
    config: RagStudyConfig, cell: RagCell, questions: str, pool: Pool, model: str | None
) -> str:
    return config_digest({
        "format": _FORMAT, "cell": cell.to_dict(), "questions": questions,
        "pool": [pool.name, *pool.state()], "model": model, "recall_k": list(config.recall_k),
        "relevance": config.relevance,
        "answer": None if config.retrieval_only else dict(sorted(config.answer.items())),
    })  # fmt: skip


async def _warm(retriever: Retriever) -> Retriever:
    """The retriever with its derived indexes built and its embedder loaded, so that the
    first cell's latency is not the model's loading time."""
    await asyncio.to_thread(retriever.prepare)
    await retriever.aretrieve(["warm-up"], 1)
    return retriever


# -- one cell ----------------------------------------------------------------------------------
class _Cell:
    """Asks one cell's questions, batch by batch."""

    def __init__(
        self,
        config: RagStudyConfig,
        cell: RagCell,
        retriever: Retriever,
        client: LLMClient | None,
    ) -> None:
        self.config = config
        self.cell = cell
        self.depth = max(config.recall_k)
        self.retriever = retriever
        self.pipeline: AnswerPipeline | None = None
        if client is not None:
            settings = dict(config.answer)
            # A base model among the embedded ones is asked in completion style unless set.
            style = answer_style_of(client.model)
            if style is not None and "style" not in settings:
                settings["style"] = style
            base = AnswerConfig(**settings)
            answer = replace(
                base, retrieve_k=max(base.retrieve_k, self.depth), recipe=cell.recipe,
                translate_query=cell.translate_query,
                instruction_lang=cell.instruction_lang or "user",
            )  # fmt: skip
            self.pipeline = AnswerPipeline(retriever, client, config=answer)

    def _judge(self, example: QAExample, hits: Sequence[Any]) -> dict[str, float]:
        return judge(hits, self.config.recall_k, gold_passages=example.gold_passages,
                     answers=example.answers, relevance=self.config.relevance)  # fmt: skip

    async def ask(self, batch: Sequence[QAExample]) -> list[RagRow]:
        if self.pipeline is None:
            return await self._retrieve(batch)
        questions = [Question(e.question, e.qid, e.lang) for e in batch]
        answers = await self.pipeline.aanswer_many(questions)
        return [await self._row(e, a) for e, a in zip(batch, answers, strict=True)]

    async def _retrieve(self, batch: Sequence[QAExample]) -> list[RagRow]:
        recipe = RecipeRetriever(self.retriever, self.cell.recipe)  # type: ignore[arg-type]
        started = time.perf_counter()
        found = await recipe.aretrieve(
            [e.question for e in batch], self.depth,
            query_lang=[e.lang for e in batch], qids=[e.qid for e in batch],
        )  # fmt: skip
        seconds = time.perf_counter() - started
        return [
            RagRow(
                e.qid,
                e.lang,
                e.question,
                tuple(h.id for h in f.hits.hits),
                self._judge(e, f.hits.hits),
                seconds=seconds,
            )  # fmt: skip
            for e, f in zip(batch, found, strict=True)
        ]

    async def _row(self, example: QAExample, answer: Answer) -> RagRow:
        retrieved = tuple(answer.retrieved[: self.depth])
        shown = {h.id: h for h in answer.passages}
        missing = [i for i in retrieved if i not in shown]
        if missing:  # judged on their texts: read the hits the prompt did not show
            more = await asyncio.to_thread(self.retriever.pool.get, missing)
            shown.update({h.id: h for h in more if h is not None})
        hits = [shown[i] for i in retrieved if i in shown]
        first = answer.attempts[0] if answer.attempts else None
        scores = (
            answer_scores(answer.answer, example.answers)
            if example.answers and answer.answer is not None
            else {}
        )
        return RagRow(
            example.qid, example.lang, example.question, retrieved, self._judge(example, hits),
            answer=answer.answer, first_answer=first.answer if first else None,
            language=answer.language if answer.attempts else None,
            lang_ok_first=first.language_ok if first else None,
            lang_ok_final=answer.language_ok if answer.attempts else None,
            verdicts=tuple(a.verdict for a in answer.attempts),
            scores=scores, seconds=sum(answer.timings.values()),
            prompt_tokens=answer.usage.get("prompt_tokens", 0),
            completion_tokens=answer.usage.get("completion_tokens", 0),
            calls=answer.usage.get("calls", 0), translations=dict(answer.translations),
            error=answer.error,
        )  # fmt: skip


async def _one_cell(
    config: RagStudyConfig, cell: RagCell, examples: list[QAExample], folder: Path, digest: str,
    retriever: Retriever, client: LLMClient | None, progress: ProgressCallback | None,
) -> tuple[Literal["ran", "resumed"], int, int, dict[str, dict[str, float]]]:  # fmt: skip
    (folder / RUN_FILE).unlink(missing_ok=True)  # a cell of another config is redone
    done = resume_rows(folder, digest, RagRow.from_dict, lambda row: row.qid)
    kept = len(done)
    todo = [e for e in examples if e.qid not in done]
    asker = _Cell(config, cell, retriever, client)
    if progress is not None:
        progress(len(done), len(examples))
    with appending(folder) as append:
        for start in range(0, len(todo), BATCH):
            for row in await asker.ask(todo[start : start + BATCH]):
                append(row.to_dict())
                done[row.qid] = row
            if progress is not None:
                progress(len(done), len(examples))
    rows = [done[e.qid] for e in examples]
    scores = cell_scores(rows, config.recall_k)
    write_jsonl_atomic(folder / OUTPUTS_FILE, (r.to_dict() for r in rows))
    write_json_atomic(folder / SCORES_FILE, scores)
    mark_finished(folder, {"cell": cell.to_dict(), "label": cell.label, "config_hash": digest})
    return ("resumed" if kept else "ran"), len(todo), kept, scores


# -- the study -------------------------------------------------------------------------------
async def arun_rag_study(
    config: RagStudyConfig,
    out: str | Path | None = None,
    *,
    pool: Pool | None = None,
    llm_url: str | None = None,
    summary: bool = True,
    plot: bool = True,
    n_samples: int = BOOTSTRAP_SAMPLES,
    sample_size: int = BOOTSTRAP_SAMPLE_SIZE,
    seed: int = 0,
    on_cell: CellProgress | None = None,
    on_status: Callable[[str], None] | None = None,
) -> RagStudyReport:
    """Runs (or resumes) every cell of a RAG study not finished in ``out``, then summarises.

    Args:
        config: The study (:func:`~xling.experiments.rag_config.load_rag_config`, or built).
        out: Output folder (default ``runs/<config.name>``).
        pool: An open pool (default: ``config.pool`` opened from its Chroma).
        llm_url: An OpenAI-compatible ``/v1`` URL overriding ``config.llm.url``; without
            either, the embedded vLLM server is started when a cell needs answers.
        summary: Summarise the finished cells and write the summary files.
        plot: With ``summary``: also write ``summary.png`` (needs matplotlib).
        n_samples: Bootstrap resamples of the tests against the baseline.
        sample_size: Questions per resample (capped at the questions).
        seed: Seed of the resampling.
        on_cell: Progress per cell (see :data:`CellProgress`).
        on_status: Called with one-line status texts (the LLM starting, a cell skipped).

    Returns:
        What happened to each cell, in grid order, and the summary.

    Raises:
        ConfigError: With the problems of the config, the questions, the pool or the LLM URL,
            before any question is asked.
        ServiceUnavailableError: If the LLM or Chroma fails during a cell (finished questions
            are kept).
    """
    started = time.monotonic()
    config = config.checked()
    folder = Path(out) if out is not None else Path("runs") / config.name
    say = on_status or (lambda _: None)
    examples = _examples(config)
    questions = config_digest({"examples": [e.to_dict() for e in examples]})
    opened = _pool(config, pool)
    cells = config.cells()
    url = llm_url or config.llm.url
    model = None if config.retrieval_only else (
        config.llm.model or embedded_name(config.llm, "answer")
    )  # fmt: skip
    llm = ""
    retrievers: dict[str, Retriever] = {}
    outcomes: list[CellOutcome] = []
    async with AsyncExitStack() as stack:
        client: LLMClient | None = None
        if url is not None and not config.retrieval_only:
            client = url_client(stack, config.llm, url)
            try:
                model = await client.amodel()
            except XlingError as exc:
                problem = ("llm.url", f"{url} does not answer ({exc})")
                raise ConfigError(config.source, [problem]) from None
            llm = f"{url} ({model})"
        hashes = {c.key: _cell_hash(config, c, questions, opened, model) for c in cells}
        root = folder / RUNS_DIR
        pending = [c for c in cells if finished_hash(root / c.key) != hashes[c.key]]
        if pending and client is None and not config.retrieval_only:
            client, url, model = await aembedded_client(stack, config.llm, say, "answer")
            llm = f"{url} ({model})"
            hashes = {c.key: _cell_hash(config, c, questions, opened, model) for c in cells}
        folder.mkdir(parents=True, exist_ok=True)
        cell_list = [{"label": c.label, "key": c.key} for c in cells]
        write_json_atomic(folder / STUDY_FILE, {**config.to_dict(), "cells": cell_list})
        for number, cell in enumerate(cells, 1):
            cell_folder, begun = root / cell.key, time.monotonic()
            if finished_hash(cell_folder) == hashes[cell.key]:
                scores = json.loads((cell_folder / SCORES_FILE).read_text(encoding="utf-8"))
                say(f"[{number}/{len(cells)}] {cell.label}: finished before, skipped")
                outcomes.append(CellOutcome(cell, "skipped", 0, 0, scores, cell_folder, 0.0))
                continue
            if cell.method not in retrievers:
                retrievers[cell.method] = await _warm(get_retriever(cell.method, opened))
            progress = on_cell(cell, number, len(cells)) if on_cell is not None else None
            status, asked, kept, scores = await _one_cell(
                config, cell, examples, cell_folder, hashes[cell.key], retrievers[cell.method],
                client, progress,
            )  # fmt: skip
            seconds = time.monotonic() - begun
            say(f"[{number}/{len(cells)}] {cell.label}: {asked} asked"
                f"{f', {kept} kept' if kept else ''} ({seconds:.0f} s)")  # fmt: skip
            outcomes.append(CellOutcome(cell, status, asked, kept, scores, cell_folder, seconds))
    result = None
    if summary:
        result = summarize_rag(folder, baseline=config.baseline_label, n_samples=n_samples,
                               sample_size=sample_size, seed=seed)  # fmt: skip
        result = write_summary(result, plot=plot)
    return RagStudyReport(config.name, folder, tuple(outcomes), len(examples), llm,
                          time.monotonic() - started, result)  # fmt: skip


run_rag_study = blocking(arun_rag_study)
