"""What the answer pipeline is told (:class:`AnswerConfig`) and what it returns (:class:`Answer`,
one :class:`Attempt` per generated answer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.records import Hit
from xling.core.validation import check_choice, check_finite, check_positive_int
from xling.lid import get_identifier
from xling.prompts.instructions import INSTRUCTION_LANGS
from xling.retrieval import RECIPES

__all__ = ["Answer", "AnswerConfig", "Attempt", "OnLLMFailure", "PromptStyle", "StreamCallback"]

OnLLMFailure = Literal["raise", "passages"]
StreamCallback = Callable[[dict[str, Any]], Awaitable[None]]
"""Receives the events of streamed answers (see :meth:`AnswerPipeline.aanswer_many`)."""
PromptStyle = Literal["chat", "completion"]
_ON_LLM_FAILURE: tuple[OnLLMFailure, ...] = get_args(OnLLMFailure)
_STYLES: tuple[PromptStyle, ...] = get_args(PromptStyle)


@dataclass(frozen=True)
class AnswerConfig:
    """How questions are answered.

    Attributes:
        k: Passages shown to the LLM.
        retrieve_k: Passages retrieved (and reranked, with a reranker) per question.
        langs: Only passages in these languages: bounds the recipe (``all`` searches only
            these, ``balanced`` balances among them, ``user`` and ``pivot`` find nothing when
            their language is outside them).
        recipe: Which languages the passages come from (:mod:`xling.retrieval.recipes`):
            ``user`` (the asker's), ``pivot`` (``pivot``'s), ``all`` (no filter) or
            ``balanced`` (an equal quota per language of the pool, merged by rank).
        translate_query: Translate the question with the LLM into the languages the recipe
            searches and search each with its translation (cached; reported in
            :attr:`Answer.translations`).
        pivot: The pivot language of the ``pivot`` recipe.
        instruction_lang: The prompt's instruction written in the asker's language (``user``,
            where one is written, else English; see :mod:`xling.prompts.instructions`) or in
            English (``eng``).
        max_passage_tokens: Cap per passage, in the served model's tokens (lowered further to
            fit its context).
        max_tokens: Most tokens an answer may have.
        temperature: Sampling temperature (0: greedy).
        repetition_penalty: vLLM's penalty on repeated tokens (``None``: not sent, for servers
            without it); small models loop without it.
        reask: Ask once more, with a stronger instruction, when the answer's language is wrong.
        style: ``chat`` (chat template) or ``completion`` (base models).
        lid_backend: The one backend that finds a question's language when it is not given
            (``None``: the ensemble of :func:`xling.lid.identify_asker_language`, 0.990 right
            on ``bench/data/asker`` but its first call loads lingua: tens of seconds, ~1 GB;
            ``pycld2``: lean, 0.927 there).
        expected_langs: The languages the deployment expects its askers to use: a prior for
            the asker's language (others stay possible on strong evidence).
        check_backend: The backend of the answer check (``None``: the best measured for the
            user's language).
        on_llm_failure: ``raise`` a :class:`~xling.core.errors.ServiceUnavailableError`, or
            ``passages``: return the retrieved passages with the answer missing and flagged.
    """

    k: int = 5
    retrieve_k: int = 20
    langs: tuple[str, ...] | None = None
    recipe: str = "all"
    translate_query: bool = False
    pivot: str = "eng"
    instruction_lang: str = "user"
    max_passage_tokens: int = 160
    max_tokens: int = 160
    temperature: float = 0.0
    repetition_penalty: float | None = 1.1
    reask: bool = True
    style: PromptStyle = "chat"
    lid_backend: str | None = None
    check_backend: str | None = None
    on_llm_failure: OnLLMFailure = "raise"
    expected_langs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_positive_int(self.k, "k")
        check_positive_int(self.retrieve_k, "retrieve_k")
        if self.retrieve_k < self.k:
            raise InvalidInputError(
                f"retrieve_k={self.retrieve_k} is below k={self.k}; retrieve at least k passages"
            )
        check_choice(self.recipe, "recipe", RECIPES)
        check_choice(self.instruction_lang, "instruction_lang", INSTRUCTION_LANGS)
        if not isinstance(self.translate_query, bool):
            raise InvalidInputError(
                f"translate_query={self.translate_query!r} is not allowed; use True or False"
            )
        object.__setattr__(self, "pivot", normalize_code(self.pivot))
        check_positive_int(self.max_passage_tokens, "max_passage_tokens")
        check_positive_int(self.max_tokens, "max_tokens")
        check_finite(self.temperature, "temperature", minimum=0.0)
        if self.repetition_penalty is not None:
            check_finite(self.repetition_penalty, "repetition_penalty", minimum=0.5, maximum=2.0)
        check_choice(self.style, "style", _STYLES)
        check_choice(self.on_llm_failure, "on_llm_failure", _ON_LLM_FAILURE)
        if self.lid_backend is not None:
            get_identifier(self.lid_backend)
        if self.expected_langs is not None:
            if isinstance(self.expected_langs, str) or not self.expected_langs:
                raise InvalidInputError(
                    "expected_langs must be a non-empty tuple of codes, got "
                    f"{self.expected_langs!r}"
                )
            object.__setattr__(
                self, "expected_langs", tuple(normalize_code(c) for c in self.expected_langs)
            )
        if self.check_backend is not None:
            get_identifier(self.check_backend)

    def to_dict(self) -> dict[str, Any]:
        """The settings, JSON-ready."""
        return {
            "k": self.k,
            "retrieve_k": self.retrieve_k,
            "langs": list(self.langs) if self.langs else None,
            "recipe": self.recipe,
            "translate_query": self.translate_query,
            "pivot": self.pivot,
            "instruction_lang": self.instruction_lang,
            "max_passage_tokens": self.max_passage_tokens,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "repetition_penalty": self.repetition_penalty,
            "reask": self.reask,
            "style": self.style,
            "lid_backend": self.lid_backend,
            "check_backend": self.check_backend,
            "on_llm_failure": self.on_llm_failure,
            "expected_langs": list(self.expected_langs) if self.expected_langs else None,
        }


@dataclass(frozen=True)
class Attempt:
    """One generated answer and its language check.

    Attributes:
        answer: The text.
        language: The detected language (``und`` when undecided).
        confidence: The LID confidence of that language, 0–1.
        language_ok: Whether it is the user's language (the verdict is ``correct``).
        strict: Whether this was the re-ask.
        verdict: The language check's verdict (:data:`xling.eval.language_check.Verdict`):
            ``unsure`` when the answer won the restricted vote without evidence that it is in
            the language (invented words), which the pipeline re-asks like a wrong language.
    """

    answer: str
    language: str
    confidence: float
    language_ok: bool
    strict: bool = False
    verdict: str = "undetermined"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "answer": self.answer,
            "language": self.language,
            "confidence": round(self.confidence, 4),
            "language_ok": self.language_ok,
            "strict": self.strict,
            "verdict": self.verdict,
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
        usage: LLM tokens of this question (``prompt_tokens``, ``completion_tokens``, ``calls``;
            the question's translations are not counted).
        error: Why the answer is missing, if it is.
        translations: Language → the question's translation that searched it (with
            ``translate_query``).
        instruction_lang: The language the prompt's instruction was written in (English when
            none is written in the asker's language).
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
    translations: dict[str, str] = field(default_factory=dict)
    instruction_lang: str = "eng"

    def sources(self) -> list[dict[str, Any]]:
        """The documents the answer cites, in order of first citation: ``doc_id``, ``title``,
        ``section``, ``page`` and ``source`` of each cited chunk from a document pool (cited
        passages that are not document chunks are left out)."""
        by_id = {p.id: p for p in self.passages}
        seen: list[dict[str, Any]] = []
        for cid in self.citations:
            hit = by_id.get(cid)
            if hit is None or "doc_id" not in hit.metadata:
                continue
            meta = hit.metadata
            entry = {k: meta.get(k) for k in ("doc_id", "title", "section", "page", "source")}
            if entry not in seen:
                seen.append(entry)
        return seen

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
            "sources": self.sources(),
            "dropped_citations": self.dropped_citations,
            "attempts": [a.to_dict() for a in self.attempts],
            "retrieved": self.retrieved,
            "reranked": self.reranked,
            "reranker_fallback": self.reranker_fallback,
            "passages": [p.to_dict() for p in self.passages],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "usage": self.usage,
            "error": self.error,
            "translations": self.translations,
            "instruction_lang": self.instruction_lang,
        }
