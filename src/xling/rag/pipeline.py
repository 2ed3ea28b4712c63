"""The answer pipeline: retrieve → rerank (optional) → prompt → generate → language check → re-ask.

Many questions go at once: retrieval and reranking are batched, and every question's
generation is in flight together within the LLM client's bound (``max_concurrency``). Async
inside (:meth:`AnswerPipeline.aanswer_many`); :meth:`AnswerPipeline.answer_many` is the
blocking edge.

The language check addresses the failure XRAG documents, answers in English or in the
passages' language instead of the user's: the answer's language is identified among
{the user's language, the passages' languages, English} only (restricted LID, reliable on short
answers), and a wrong answer is asked once more with a stronger instruction. Both attempts are
reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xling.core.aio import run_sync
from xling.core.errors import InvalidInputError, ServiceUnavailableError, XlingError
from xling.core.progress import ProgressCallback
from xling.core.records import Hit, QueryHits, Question, read_questions
from xling.core.validation import (
    check_choice,
    check_finite,
    check_positive_int,
    preview,
)
from xling.eval.language_check import LanguageChecker
from xling.eval.lid import UNDETERMINED, default_backend, get_identifier
from xling.llm import Completion, LLMClient
from xling.llm.fitting import passage_budget, truncate_passages
from xling.prompts.rag import ContextPassage, answer_messages, answer_prompt, parse_citations
from xling.rerankers import Reranker
from xling.retrieval import Retriever

__all__ = [
    "StreamCallback",
    "Answer",
    "AnswerConfig",
    "AnswerPipeline",
    "Attempt",
    "Question",
    "read_questions",
]

OnLLMFailure = Literal["raise", "passages"]
StreamCallback = Callable[[dict[str, Any]], Awaitable[None]]
"""Receives the events of streamed answers (see :meth:`AnswerPipeline.aanswer_many`)."""
PromptStyle = Literal["chat", "completion"]
_ON_LLM_FAILURE: tuple[OnLLMFailure, ...] = ("raise", "passages")
_STYLES: tuple[PromptStyle, ...] = ("chat", "completion")


@dataclass(frozen=True)
class AnswerConfig:
    """How questions are answered.

    Attributes:
        k: Passages shown to the LLM.
        retrieve_k: Passages retrieved (and reranked, with a reranker) per question.
        langs: Only passages in these languages.
        max_passage_tokens: Cap per passage, in the served model's tokens (lowered further to
            fit its context).
        max_tokens: Most tokens an answer may have.
        temperature: Sampling temperature (0: greedy).
        repetition_penalty: vLLM's penalty on repeated tokens (``None``: not sent, for servers
            without it); small models loop without it.
        reask: Ask once more, with a stronger instruction, when the answer's language is wrong.
        style: ``chat`` (chat template) or ``completion`` (base models).
        lid_backend: The backend that detects a question's language when it is not given.
        check_backend: The backend of the answer check (``None``: the best measured for the
            user's language).
        on_llm_failure: ``raise`` a :class:`~xling.core.errors.ServiceUnavailableError`, or
            ``passages``: return the retrieved passages with the answer missing and flagged.
    """

    k: int = 5
    retrieve_k: int = 20
    langs: tuple[str, ...] | None = None
    max_passage_tokens: int = 160
    max_tokens: int = 160
    temperature: float = 0.0
    repetition_penalty: float | None = 1.1
    reask: bool = True
    style: PromptStyle = "chat"
    lid_backend: str = "pycld2"
    check_backend: str | None = None
    on_llm_failure: OnLLMFailure = "raise"

    def __post_init__(self) -> None:
        check_positive_int(self.k, "k")
        check_positive_int(self.retrieve_k, "retrieve_k")
        if self.retrieve_k < self.k:
            raise InvalidInputError(
                f"retrieve_k={self.retrieve_k} is below k={self.k}; retrieve at least k passages"
            )
        check_positive_int(self.max_passage_tokens, "max_passage_tokens")
        check_positive_int(self.max_tokens, "max_tokens")
        check_finite(self.temperature, "temperature", minimum=0.0)
        if self.repetition_penalty is not None:
            check_finite(self.repetition_penalty, "repetition_penalty", minimum=0.5, maximum=2.0)
        check_choice(self.style, "style", _STYLES)
        check_choice(self.on_llm_failure, "on_llm_failure", _ON_LLM_FAILURE)
        get_identifier(self.lid_backend)
        if self.check_backend is not None:
            get_identifier(self.check_backend)

    def to_dict(self) -> dict[str, Any]:
        """The settings, JSON-ready."""
        return {
            "k": self.k,
            "retrieve_k": self.retrieve_k,
            "langs": list(self.langs) if self.langs else None,
            "max_passage_tokens": self.max_passage_tokens,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "repetition_penalty": self.repetition_penalty,
            "reask": self.reask,
            "style": self.style,
            "lid_backend": self.lid_backend,
            "check_backend": self.check_backend,
            "on_llm_failure": self.on_llm_failure,
        }


@dataclass(frozen=True)
class Attempt:
    """One generated answer and its language check.

    Attributes:
        answer: The text.
        language: The detected language (``und`` when undecided).
        confidence: The LID confidence of that language, 0–1.
        language_ok: Whether it is the user's language.
        strict: Whether this was the re-ask.
    """

    answer: str
    language: str
    confidence: float
    language_ok: bool
    strict: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "answer": self.answer,
            "language": self.language,
            "confidence": round(self.confidence, 4),
            "language_ok": self.language_ok,
            "strict": self.strict,
        }


@dataclass
class Answer:
    """The result of one question.

    Attributes:
        qid: The question's id.
        question: The question.
        query_language: The user's language (given or detected).
        query_language_detected: Whether it was detected (not given).
        answer: The final answer; ``None`` when the LLM failed (see ``error``).
        citations: Passage ids the answer cites, in order of first use.
        dropped_citations: Numbers the answer cites that the prompt did not show.
        language: The language detected in the final answer.
        language_confidence: Its LID confidence.
        language_ok: Whether the final answer is in the user's language.
        attempts: Every answer generated (one, or two with the re-ask).
        retrieved: Retrieved passage ids, best first.
        reranked: Reranked ids, best first (``None`` without a reranker).
        passages: The passages shown to the LLM (as retrieved or reranked).
        reranker_fallback: Whether the reranker fell back to the retrieval order.
        timings: Seconds per stage (``retrieve`` and ``rerank`` are the batch's).
        usage: LLM tokens of this question (``prompt_tokens``, ``completion_tokens``, ``calls``).
        error: Why the answer is missing, if it is.
    """

    qid: str
    question: str
    query_language: str
    query_language_detected: bool
    answer: str | None
    citations: list[str]
    dropped_citations: list[int]
    language: str
    language_confidence: float
    language_ok: bool
    attempts: list[Attempt]
    retrieved: list[str]
    reranked: list[str] | None
    passages: list[Hit]
    reranker_fallback: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``xling ask`` output line."""
        return {
            "qid": self.qid,
            "question": self.question,
            "query_language": self.query_language,
            "query_language_detected": self.query_language_detected,
            "answer": self.answer,
            "language": self.language,
            "language_confidence": round(self.language_confidence, 4),
            "language_ok": self.language_ok,
            "citations": self.citations,
            "dropped_citations": self.dropped_citations,
            "attempts": [a.to_dict() for a in self.attempts],
            "retrieved": self.retrieved,
            "reranked": self.reranked,
            "reranker_fallback": self.reranker_fallback,
            "passages": [p.to_dict() for p in self.passages],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "usage": self.usage,
            "error": self.error,
        }


class AnswerPipeline:
    """Answers questions from a pool, in the user's language, with citations.

    Args:
        retriever: Any retriever over the pool (``get_retriever("hybrid", pool)``).
        client: The LLM client (its ``max_concurrency`` bounds the requests in flight).
        reranker: Any registered reranker (its own client may be the same), or ``None``.
        config: The settings.
    """

    def __init__(
        self,
        retriever: Retriever,
        client: LLMClient,
        *,
        reranker: Reranker | None = None,
        config: AnswerConfig | None = None,
    ) -> None:
        if not isinstance(retriever, Retriever):
            raise InvalidInputError(f"retriever must be an xling Retriever, got {retriever!r:.60}")
        if not isinstance(client, LLMClient):
            raise InvalidInputError(f"client must be an xling LLMClient, got {client!r:.60}")
        if reranker is not None and not isinstance(reranker, Reranker):
            raise InvalidInputError(f"reranker must be an xling Reranker, got {reranker!r:.60}")
        self.retriever = retriever
        self.client = client
        self.reranker = reranker
        self.config = config or AnswerConfig()

    # -- the edges --------------------------------------------------------------------------
    def answer(self, question: str | Question, lang: str | None = None) -> Answer:
        """Answers one question (blocking)."""
        q = question if isinstance(question, Question) else Question(question, "0", lang)
        return self.answer_many([q])[0]

    def answer_many(
        self,
        questions: Sequence[str | Question],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> list[Answer]:
        """Blocking :meth:`aanswer_many`."""
        return run_sync(self._closing(self.aanswer_many(questions, on_progress=on_progress)))

    async def astream(self, question: Question) -> AsyncIterator[dict[str, Any]]:
        """Answers one question, streaming: ``attempt`` and ``token`` events, then one
        ``{"event": "done", "answer": {...}}`` with citations and the language verdict (or
        ``{"event": "error", "detail": ...}`` when it failed)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def work() -> None:
            try:
                (answer,) = await self.aanswer_many([question], on_event=queue.put)
                await queue.put({"event": "done", "answer": answer.to_dict()})
            except XlingError as exc:
                await queue.put({"event": "error", "detail": str(exc)})
            finally:
                await queue.put(None)

        task = asyncio.create_task(work())
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            task.cancel()

    async def _closing(self, coro: Any) -> Any:
        try:
            return await coro
        finally:
            await self.client.aclose()
            if self.reranker is not None and self.reranker.client is not self.client:
                await self.reranker.client.aclose()

    # -- async inside -----------------------------------------------------------------------
    async def aanswer_many(
        self,
        questions: Sequence[str | Question],
        *,
        on_progress: ProgressCallback | None = None,
        on_event: StreamCallback | None = None,
    ) -> list[Answer]:
        """Answers many questions at once (async); answers come in input order.

        With ``on_event`` (chat style), answers are streamed: it receives
        ``{"event": "attempt", "qid", "attempt", "strict"}`` when an attempt starts and
        ``{"event": "token", "qid", "attempt", "text"}`` for each piece of text.

        Raises:
            InvalidInputError: On an empty question or repeated ids.
            ServiceUnavailableError: If the LLM fails and ``on_llm_failure="raise"``; it names
                the URL.
        """
        items = self._questions(questions)
        if not items:
            return []
        langs, detected = self._languages(items)
        started = time.perf_counter()
        retrieved = await self.retriever.aretrieve(
            [q.text for q in items],
            self.config.retrieve_k,
            langs=self.config.langs,
            query_lang=langs,
            qids=[q.qid for q in items],
        )
        t_retrieve = time.perf_counter() - started
        reranked: list[QueryHits | None] = [None] * len(items)
        fell_back = [False] * len(items)
        t_rerank = 0.0
        if self.reranker is not None:
            started = time.perf_counter()
            todo = [i for i, r in enumerate(retrieved) if r.hits]
            results = await self.reranker.arerank_many([retrieved[i] for i in todo])
            for i, result in zip(todo, results, strict=True):
                reranked[i] = result.query_hits()
                fell_back[i] = result.fallback
            t_rerank = time.perf_counter() - started
        done = 0

        async def one(i: int) -> Answer:
            nonlocal done
            answer = await self._answer(
                items[i], langs[i], detected[i], retrieved[i], reranked[i], fell_back[i], on_event
            )
            answer.timings.update({"retrieve": t_retrieve, "rerank": t_rerank})
            done += 1
            if on_progress is not None:
                on_progress(done, len(items))
            return answer

        tasks = [asyncio.ensure_future(one(i)) for i in range(len(items))]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    def _questions(self, questions: Sequence[str | Question]) -> list[Question]:
        if isinstance(questions, str | Question) or not isinstance(questions, Sequence):
            raise InvalidInputError(
                f"questions must be a list of texts or Questions, got {preview(questions)}"
            )
        items = [
            q if isinstance(q, Question) else Question(q, str(i)) for i, q in enumerate(questions)
        ]
        ids = [q.qid for q in items]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("question ids must be unique")
        return items

    def _languages(self, items: Sequence[Question]) -> tuple[list[str], list[bool]]:
        """The user's language of each question: given, else detected (English if undecided)."""
        identifier = get_identifier(self.config.lid_backend)
        langs: list[str] = []
        detected: list[bool] = []
        for q in items:
            if q.lang is not None:
                langs.append(q.lang)
                detected.append(False)
                continue
            found = identifier.detect(q.text).lang
            langs.append(found if found != UNDETERMINED else "eng")
            detected.append(True)
        return langs, detected

    async def _answer(
        self,
        q: Question,
        lang: str,
        detected: bool,
        retrieved: QueryHits,
        reranked: QueryHits | None,
        fell_back: bool,
        on_event: StreamCallback | None = None,
    ) -> Answer:
        ranked = reranked if reranked is not None else retrieved
        context = list(ranked.hits[: self.config.k])
        answer = Answer(
            qid=q.qid,
            question=q.text,
            query_language=lang,
            query_language_detected=detected,
            answer=None,
            citations=[],
            dropped_citations=[],
            language=UNDETERMINED,
            language_confidence=0.0,
            language_ok=False,
            attempts=[],
            retrieved=retrieved.ids,
            reranked=reranked.ids if reranked is not None else None,
            passages=context,
            reranker_fallback=fell_back,
            usage={"prompt_tokens": 0, "completion_tokens": 0, "calls": 0},
        )
        try:
            await self._generate(answer, q.text, lang, context, on_event)
        except ServiceUnavailableError as exc:
            if self.config.on_llm_failure == "raise":
                raise
            answer.answer, answer.error = None, str(exc)
        return answer

    async def _generate(
        self,
        answer: Answer,
        question: str,
        lang: str,
        context: list[Hit],
        on_event: StreamCallback | None = None,
    ) -> None:
        started = time.perf_counter()
        passage_langs = sorted({h.lang for h in context if h.lang})
        avoid = sorted({*passage_langs, "eng"} - {lang})
        passages = await self._fit(question, lang, context)
        answer.timings["fit"] = time.perf_counter() - started
        backend = self.config.check_backend or default_backend(lang)
        known = get_identifier(backend).supported_languages()
        # Passage languages the backend does not know cannot be told apart: left out.
        candidates = sorted({lang, "eng", *(x for x in passage_langs if x in known)})
        checker = LanguageChecker(backend=backend, candidates=candidates)
        strict = False
        while True:
            started = time.perf_counter()
            index = len(answer.attempts)
            stream = None
            if on_event is not None:
                await on_event(
                    {"event": "attempt", "qid": answer.qid, "attempt": index, "strict": strict}
                )

                async def stream(text: str, index: int = index) -> None:
                    await on_event({"event": "token", "qid": answer.qid, "attempt": index,
                                    "text": text})  # fmt: skip

            completion = await self._ask(question, lang, passages, strict, avoid, stream)
            key = "generate_reask" if strict else "generate"
            answer.timings[key] = time.perf_counter() - started
            answer.usage["calls"] += 1
            answer.usage["prompt_tokens"] += completion.prompt_tokens
            answer.usage["completion_tokens"] += completion.completion_tokens
            text = completion.text.strip()
            started = time.perf_counter()
            verdict = checker.check(lang, text)
            answer.timings["check_reask" if strict else "check"] = time.perf_counter() - started
            ok = verdict.verdict == "correct"
            attempt = Attempt(text, verdict.detected, verdict.confidence, ok, strict)
            answer.attempts.append(attempt)
            if ok or strict or not self.config.reask:
                break
            strict = True
        final = answer.attempts[-1]
        answer.answer = final.answer
        answer.language, answer.language_confidence = final.language, final.confidence
        answer.language_ok = final.language_ok
        cited, dropped = parse_citations(final.answer, [p.label for p in passages])
        answer.citations = [context[n - 1].id for n in cited]
        answer.dropped_citations = dropped

    async def _fit(self, question: str, lang: str, context: list[Hit]) -> list[ContextPassage]:
        """The context numbered, each passage cut by model tokens so that the prompt fits."""
        if not context:
            return []
        empty = [ContextPassage(i + 1, "") for i in range(len(context))]
        skeleton = answer_messages(question, empty, lang, strict=True, avoid=["eng"])
        budget = await passage_budget(
            self.client,
            skeleton,
            len(context),
            reserve=self.config.max_tokens,
            max_passage_tokens=self.config.max_passage_tokens,
        )
        texts = await truncate_passages(self.client, [h.text for h in context], budget)
        return [
            ContextPassage(i + 1, text, hit.lang)
            for i, (text, hit) in enumerate(zip(texts, context, strict=True))
        ]

    async def _ask(
        self,
        question: str,
        lang: str,
        passages: list[ContextPassage],
        strict: bool,
        avoid: Sequence[str],
        stream: Callable[[str], Awaitable[None]] | None = None,
    ) -> Completion:
        options: dict[str, Any] = {
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        if self.config.repetition_penalty is not None:
            options["extra"] = {"repetition_penalty": self.config.repetition_penalty}
        if self.config.style == "completion":
            prompt = answer_prompt(question, passages, lang, strict=strict, avoid=avoid)
            return await self.client.complete(prompt, stop=["\nQuestion:"], **options)
        messages = answer_messages(question, passages, lang, strict=strict, avoid=avoid)
        if stream is None:
            return await self.client.chat(messages, **options)
        parts: list[str] = []
        before = (self.client.usage.prompt_tokens, self.client.usage.completion_tokens)
        async for piece in self.client.chat_stream(messages, **options):
            parts.append(piece)
            await stream(piece)
        # The stream's counts (concurrent streams of the same client may blur them).
        prompt_tokens = self.client.usage.prompt_tokens - before[0]
        completion_tokens = self.client.usage.completion_tokens - before[1]
        return Completion("".join(parts), "stop", prompt_tokens, completion_tokens)
