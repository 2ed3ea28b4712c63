"""The answer pipeline: retrieve → rerank (optional) → prompt → generate → language check → re-ask.

Retrieval follows the config's language recipe (:mod:`xling.retrieval.recipes`: the asker's
language, the pivot, all, or balanced, optionally with the question translated by the LLM), and
the prompt's instruction is written in the asker's language where one is written
(:mod:`xling.prompts.instructions`).

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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from xling.core.aio import event_stream, run_sync
from xling.core.errors import InvalidInputError, ServiceUnavailableError, XlingError
from xling.core.progress import ProgressCallback
from xling.core.records import Hit, QueryHits, Question, read_questions
from xling.core.validation import preview
from xling.eval.language_check import LanguageChecker
from xling.lid import UNDETERMINED, default_backend, get_identifier, identify_asker_language
from xling.llm import ChatMessage, Completion, EmbeddedLLMConfig, LLMClient
from xling.llm.client import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from xling.llm.fitting import passage_budget, truncate_passages
from xling.prompts.instructions import InstructionLang, get_instruction
from xling.prompts.rag import ContextPassage, answer_messages, answer_prompt, parse_citations
from xling.rag.answers import Answer, AnswerConfig, Attempt, StreamCallback
from xling.rerankers import Reranker, get_reranker
from xling.rerankers.guard import FITTED, resolve_guard
from xling.retrieval import (
    CachedTranslator,
    DenseRetriever,
    LLMTranslator,
    Recipe,
    RecipeRetriever,
    Retriever,
    TranslationCache,
    Translator,
    get_retriever,
)
from xling.store import Pool

__all__ = [
    "StreamCallback",
    "Answer",
    "AnswerConfig",
    "AnswerPipeline",
    "Attempt",
    "Question",
    "build_answer_pipeline",
    "read_questions",
]

_LLM_TRANSLATIONS = TranslationCache()  # in memory: the LRU of every pipeline's LLM translations


# Verdicts from best to worst, to keep the better of the two attempts.
_VERDICT_ORDER = ("correct", "unsure", "mixed", "wrong_language", "undetermined")


class AnswerPipeline:
    """Answers questions from a pool, in the user's language, with citations.

    Args:
        retriever: Any retriever over the pool (``get_retriever("hybrid", pool)``).
        client: The LLM client (its ``max_concurrency`` bounds the requests in flight).
        reranker: Any registered reranker (its own client may be the same), or ``None``.
        config: The settings.
        translator: Translates questions when ``config.translate_query`` (default: the LLM of
            ``client``, through :class:`~xling.retrieval.LLMTranslator`, cached in memory);
            any ``translate(text, src, tgt)`` callable or a
            :class:`~xling.retrieval.CachedTranslator` (one with an on-disk cache, say).
    """

    def __init__(
        self,
        retriever: Retriever,
        client: LLMClient,
        *,
        reranker: Reranker | None = None,
        config: AnswerConfig | None = None,
        translator: Translator | CachedTranslator | None = None,
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
        cache = None
        if self.config.translate_query and translator is None:
            # The LLM's translations are keyed by model and server: pipelines built per
            # request (the server's) share them.
            translator, cache = LLMTranslator(client), _LLM_TRANSLATIONS
        self.recipe = RecipeRetriever(
            retriever,
            cast(Recipe, self.config.recipe),
            pivot=self.config.pivot,
            translator=translator if self.config.translate_query else None,
            cache=cache,
        )

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

    async def astream(
        self,
        question: Question,
        *,
        system: str | None = None,
        render_error: Callable[[XlingError], str] = str,
    ) -> AsyncIterator[dict[str, Any]]:
        """Answers one question, streaming: ``attempt`` and ``token`` events, then one
        ``{"event": "done", "answer": {...}}`` with citations and the language verdict (or
        ``{"event": "error", "detail": render_error(exc)}`` when it failed; a server renders
        the error without the LLM's address); ``system`` as in :meth:`aanswer_many`."""

        async def run(on_event: Callable[[dict[str, Any]], Awaitable[None]]) -> dict[str, Any]:
            (answer,) = await self.aanswer_many([question], on_event=on_event, system=system)
            return {"event": "done", "answer": answer.to_dict()}

        async for event in event_stream(run, render_error):
            yield event

    async def _closing(self, coro: Any) -> Any:
        try:
            return await coro
        finally:
            await self.client.aclose()
            if (
                self.reranker is not None
                and getattr(self.reranker, "client", None) is not self.client
            ):
                await self.reranker.aclose()

    # -- async inside -----------------------------------------------------------------------
    async def aanswer_many(
        self,
        questions: Sequence[str | Question],
        *,
        on_progress: ProgressCallback | None = None,
        on_event: StreamCallback | None = None,
        system: str | None = None,
    ) -> list[Answer]:
        """Answers many questions at once (async); answers come in input order.

        With ``on_event`` (chat style), answers are streamed: it receives
        ``{"event": "attempt", "qid", "attempt", "strict"}`` when an attempt starts and
        ``{"event": "token", "qid", "attempt", "text"}`` for each piece of text.

        ``system`` (a chat client's own system messages) goes before the answer instruction in
        every prompt; the instruction stays last, so its language rule still holds.

        Raises:
            InvalidInputError: On an empty question or repeated ids.
            ServiceUnavailableError: If the LLM fails and ``on_llm_failure="raise"``; it names
                the URL.
        """
        items = self._questions(questions)
        if not items:
            return []
        # A thread: the ensemble's first call loads lingua's models (seconds), off the loop.
        langs, detected = await asyncio.to_thread(self._languages, items)
        started = time.perf_counter()
        found = await self.recipe.aretrieve(
            [q.text for q in items],
            self.config.retrieve_k,
            query_lang=langs,
            langs=self.config.langs,
            qids=[q.qid for q in items],
        )
        retrieved = [r.hits for r in found]
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
                items[i], langs[i], detected[i], retrieved[i], reranked[i], fell_back[i],
                on_event, system,
            )  # fmt: skip
            answer.timings.update({"retrieve": t_retrieve, "rerank": t_rerank})
            answer.translations = dict(found[i].translations)
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
        backends = [self.config.lid_backend] if self.config.lid_backend else None
        langs: list[str] = []
        detected: list[bool] = []
        for q in items:
            if q.lang is not None:
                langs.append(q.lang)
                detected.append(False)
                continue
            found = identify_asker_language(
                q.text, expected=self.config.expected_langs, hint=q.hint, backends=backends
            )
            langs.append(found.lang)
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
        system: str | None = None,
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
            instruction_lang=get_instruction(lang, self._instruction_lang).lang,
        )
        try:
            await self._generate(answer, q.text, lang, context, on_event, system)
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
        system: str | None = None,
    ) -> None:
        started = time.perf_counter()
        passage_langs = sorted({h.lang for h in context if h.lang})
        avoid = sorted({*passage_langs, "eng"} - {lang})
        passages = await self._fit(question, lang, context, system)
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

            completion = await self._ask(question, lang, passages, strict, avoid, stream, system)
            key = "generate_reask" if strict else "generate"
            answer.timings[key] = time.perf_counter() - started
            answer.usage["calls"] += 1
            answer.usage["prompt_tokens"] += completion.prompt_tokens
            answer.usage["completion_tokens"] += completion.completion_tokens
            text = completion.text.strip()
            started = time.perf_counter()
            verdict = checker.check(lang, text)
            answer.timings["check_reask" if strict else "check"] = time.perf_counter() - started
            # unsure (no evidence the text is in the language) is re-asked like a wrong language.
            ok = verdict.verdict == "correct"
            attempt = Attempt(
                text, verdict.detected, verdict.confidence, ok, strict, verdict.verdict
            )
            answer.attempts.append(attempt)
            if ok or strict or not self.config.reask:
                break
            strict = True
        # The re-ask is kept unless its verdict is worse than the first answer's: a strict
        # instruction can push a small model from an unsure answer into another language.
        final = min(reversed(answer.attempts), key=lambda a: _VERDICT_ORDER.index(a.verdict))
        answer.answer = final.answer
        answer.language, answer.language_confidence = final.language, final.confidence
        answer.language_ok = final.language_ok
        cited, dropped = parse_citations(final.answer, [p.label for p in passages])
        answer.citations = [context[n - 1].id for n in cited]
        answer.dropped_citations = dropped

    async def _fit(
        self, question: str, lang: str, context: list[Hit], system: str | None = None
    ) -> list[ContextPassage]:
        """The context numbered, each passage cut by model tokens so that the prompt fits."""
        if not context:
            return []
        empty = [ContextPassage(i + 1, "") for i in range(len(context))]
        skeleton = _with_system(answer_messages(
            question, empty, lang, strict=True, avoid=["eng"],
            instruction_lang=self._instruction_lang,
        ), system)  # fmt: skip
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

    @property
    def _instruction_lang(self) -> InstructionLang:
        return cast(InstructionLang, self.config.instruction_lang)

    async def _ask(
        self,
        question: str,
        lang: str,
        passages: list[ContextPassage],
        strict: bool,
        avoid: Sequence[str],
        stream: Callable[[str], Awaitable[None]] | None = None,
        system: str | None = None,
    ) -> Completion:
        options: dict[str, Any] = {
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        if self.config.repetition_penalty is not None:
            options["extra"] = {"repetition_penalty": self.config.repetition_penalty}
        wording = self._instruction_lang
        if self.config.style == "completion":
            prompt = answer_prompt(
                question, passages, lang, strict=strict, avoid=avoid, instruction_lang=wording
            )
            stop = ["\n" + get_instruction(lang, wording).question]
            if system:
                prompt = f"{system}\n\n{prompt}"
            return await self.client.acomplete(prompt, stop=stop, **options)
        messages = _with_system(answer_messages(
            question, passages, lang, strict=strict, avoid=avoid, instruction_lang=wording
        ), system)  # fmt: skip
        if stream is None:
            return await self.client.achat(messages, **options)
        parts: list[str] = []
        before = (self.client.usage.prompt_tokens, self.client.usage.completion_tokens)
        async for piece in self.client.achat_stream(messages, **options):
            parts.append(piece)
            await stream(piece)
        # The stream's counts (concurrent streams of the same client may blur them).
        prompt_tokens = self.client.usage.prompt_tokens - before[0]
        completion_tokens = self.client.usage.completion_tokens - before[1]
        return Completion("".join(parts), "stop", prompt_tokens, completion_tokens)


def _with_system(messages: list[ChatMessage], system: str | None) -> list[ChatMessage]:
    """The answer prompt with a client's system text before the instruction."""
    if not system:
        return messages
    first = {**messages[0], "content": f"{system}\n\n{messages[0]['content']}"}
    return [first, *messages[1:]]


def build_answer_pipeline(
    pool: Pool | Retriever,
    llm: str | LLMClient | None = None,
    *,
    method: str = "dense",
    task: str = "asymmetric",
    rerank: str | Reranker | None = None,
    rerank_options: Mapping[str, Any] | None = None,
    model: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
    config: AnswerConfig | None = None,
    translator: Translator | CachedTranslator | None = None,
) -> AnswerPipeline:
    """The answer pipeline of ``xling ask``, ``xling demo`` and the server, in one call.

    Args:
        pool: An open pool (searched with ``method``), or a retriever already built on one
            (the server keeps one per pool and method).
        llm: An OpenAI-compatible server URL, a client, or ``None``: the embedded server's URL.
        method: A registered retrieval method (``dense``, ``hybrid``, ...).
        task: ``asymmetric`` (questions against passages) or ``symmetric``.
        rerank: A reranker spec (``listwise``, ``cascade:pointwise→listwise``, see
            :func:`~xling.rerankers.reranker_forms`), a reranker already built (used as it
            is), or ``None`` for the retrieval order.
        rerank_options: Fields of the reranker's config (``window``, ``stride``, ...); with a
            spec only. The weak-judge guard is on with the reranker's fitted weight
            (``guard="fitted"``, :func:`~xling.rerankers.guard.default_guard`) unless these
            give ``guard`` (a weight, or ``None``: off).
        model: The model to ask (default: the server's); with a URL only.
        concurrency: Most LLM requests in flight; with a URL only.
        timeout: Seconds per LLM request; with a URL only.
        config: How questions are answered.
        translator: The question's translator with ``config.translate_query`` (default: the
            LLM's).

    Raises:
        UnknownSpecError: On an unknown method or reranker (the message lists them).
        InvalidInputError: On a bad option.
    """
    retriever = pool if isinstance(pool, Retriever) else get_retriever(method, pool, task=task)
    if isinstance(llm, LLMClient):
        client = llm
    else:
        url = llm if llm is not None else EmbeddedLLMConfig().url
        client = LLMClient(url, model, max_concurrency=concurrency, timeout=timeout)
    reranker = None
    if isinstance(rerank, Reranker):
        if rerank_options:
            raise InvalidInputError(
                "rerank_options are for a reranker spec; a built reranker has its options"
            )
        reranker = rerank
    elif rerank is not None:
        options = dict(rerank_options or {})
        # Relevance probabilities read first-stage scores as cosines: only plain dense has them.
        plain_dense = isinstance(retriever, DenseRetriever) and not retriever.center
        options.setdefault("first_stage", "cosine" if plain_dense else "rank")
        options["guard"] = resolve_guard(options.get("guard", FITTED), rerank)
        reranker = get_reranker(rerank, client, **options)
    return AnswerPipeline(
        retriever, client, reranker=reranker, config=config, translator=translator
    )
