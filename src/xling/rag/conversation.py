"""A chat answered from a pool: the whole ``messages`` history in, one answer in the asker's
language out.

1. The OpenAI messages are read into :class:`ChatTurn` records (text content parts joined;
   ``developer`` is ``system``; tool messages and tool-call-only assistant turns are skipped).
2. The asker's language is found from the last user turn, with the languages of the earlier
   user turns as a prior (:func:`xling.lid.identify_asker_language`): a short follow-up
   ("et lui ?") keeps the chat's language.
3. A follow-up is rewritten by the LLM into a standalone question in that language
   (:mod:`xling.prompts.chat`), from the newest turns that fit ``max_history_tokens`` model
   tokens (oldest dropped first). With no earlier user turn there is nothing to resolve and no
   LLM call. A rewrite that resolves nothing (it brings no word of the earlier turns that the
   question lacks, or it ran past ``rewrite_max_tokens``) is not used: the question is then
   searched and answered joined after the earlier user turns that fit (``join_turns``), so that
   the entity a follow-up refers to is always in the search. SmolLM2-135M mostly fails the
   rewrite ("Et pour combien d'années ?" comes back as itself); a user's own LLM mostly
   passes it.
4. The standalone question goes through the answer pipeline (retrieval → optional rerank →
   answer → language check → one re-ask), with the client's system messages before the
   answer instruction.

Open WebUI condenses a chat into search queries and AnythingLLM/RAGFlow read the whole history;
none checks the answer's language. :class:`ChatAnswer` records the rewrite, the language, every
attempt's verdict and the numbered passages with which the answer cites (``[n]``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import regex

from xling.core.aio import event_stream
from xling.core.errors import InvalidInputError, XlingError
from xling.core.records import Question
from xling.core.validation import check_positive_int, is_blank, preview
from xling.lid import identify_asker_language
from xling.llm import LLMClient
from xling.prompts.chat import clean_standalone, condense_messages
from xling.prompts.rag import parse_citations
from xling.rag.answers import Answer, StreamCallback
from xling.rag.pipeline import AnswerPipeline

__all__ = [
    "ChatAnswer",
    "ChatConfig",
    "ChatRole",
    "ChatTurn",
    "Condensed",
    "aanswer_chat",
    "acondense",
    "astream_chat",
    "chat_turns",
]

ChatRole = Literal["system", "user", "assistant"]
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_SKIPPED_ROLES = ("tool", "function")
# Characters kept of one turn before it is tokenized: a bound on the work, not the cut (which is
# by tokens); no token of these tokenizers is this long once whitespace runs are collapsed.
_CHARS_PER_TOKEN = 16
_LINE_TOKENS = 4  # the "User: " label and the newline around each turn of the transcript


@dataclass(frozen=True)
class ChatTurn:
    """One message of a chat.

    Attributes:
        role: ``system``, ``user`` or ``assistant``.
        content: Its text.
    """

    role: ChatRole
    content: str

    @classmethod
    def from_openai(cls, message: Mapping[str, Any], index: int = 0) -> ChatTurn | None:
        """Reads one OpenAI chat message; ``None`` for a message with nothing to read (a tool
        result, an assistant turn that only calls tools).

        Args:
            message: ``{"role": ..., "content": str | [{"type": "text", "text": ...}, ...]}``.
            index: Its place in the list, for error messages.

        Raises:
            InvalidInputError: On an unknown role or a content part that is not text.
        """
        where = f"messages[{index}]"
        role = message.get("role")
        if role in _SKIPPED_ROLES:
            return None
        if role not in _ROLES:
            raise InvalidInputError(
                f"{where}.role={preview(role)} is not allowed; use system, developer, user or "
                "assistant"
            )
        content = message.get("content")
        if content is None:
            if role == "assistant":
                return None
            raise InvalidInputError(f"{where}.content is missing; give a text")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            texts = []
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, Mapping) else None
                if kind != "text" or not isinstance(part.get("text"), str):
                    raise InvalidInputError(
                        f"{where}.content[{j}] has type {preview(kind)}; only text parts "
                        '({"type": "text", "text": ...}) are read'
                    )
                texts.append(part["text"])
            text = "\n".join(texts)
        else:
            raise InvalidInputError(
                f"{where}.content is {preview(content)}; give a text or a list of text parts"
            )
        return cls(_ROLES[role], text)  # type: ignore[arg-type]


def chat_turns(messages: Sequence[Mapping[str, Any]]) -> list[ChatTurn]:
    """Reads an OpenAI ``messages`` list into turns, checking it ends with a user question.

    Raises:
        InvalidInputError: On an unreadable message, no user turn, a last turn (system messages
            aside) that is not the user's, or an empty last user turn.
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise InvalidInputError(f"messages must be a list of messages, got {preview(messages)}")
    turns = [t for i, m in enumerate(messages) if (t := ChatTurn.from_openai(m, i)) is not None]
    spoken = [t for t in turns if t.role != "system"]
    if not spoken or spoken[-1].role != "user":
        raise InvalidInputError(
            "messages must end with a user message (the question to answer); the last is "
            f"{spoken[-1].role if spoken else 'none'}"
        )
    if is_blank(spoken[-1].content):
        raise InvalidInputError("the last user message is empty; ask a question")
    return turns


@dataclass(frozen=True)
class ChatConfig:
    """How a chat becomes one question (the answer's settings are the pipeline's).

    Attributes:
        rewrite: Rewrite follow-ups into standalone questions with the LLM.
        max_history_tokens: Most model tokens of earlier turns shown to the rewrite (newest
            kept; also bounded by the server's context).
        rewrite_max_tokens: Most tokens of the rewritten question.
        max_system_tokens: Most model tokens of the client's system messages kept for the
            answer prompt (they share its context with the passages).
        language_turns: Earlier user turns whose languages are a prior for the asker's.
        join_turns: Earlier user turns put before the question when the rewrite resolves
            nothing.
    """

    rewrite: bool = True
    max_history_tokens: int = 1024
    rewrite_max_tokens: int = 64
    max_system_tokens: int = 256
    language_turns: int = 4
    join_turns: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.rewrite, bool):
            raise InvalidInputError(f"rewrite={self.rewrite!r} is not allowed; use True or False")
        for name in ("max_history_tokens", "rewrite_max_tokens", "max_system_tokens",
                     "join_turns"):  # fmt: skip
            check_positive_int(getattr(self, name), name)
        if (
            isinstance(self.language_turns, bool)
            or not isinstance(self.language_turns, int)
            or (self.language_turns < 0)
        ):
            raise InvalidInputError(
                f"language_turns={self.language_turns!r} is not allowed; use 0 or more"
            )


@dataclass
class Condensed:
    """The chat as one question.

    Attributes:
        question: The last user turn, as sent.
        standalone: The question retrieval and the answer use (``question`` when not rewritten).
        language: The asker's language (ISO 639-3).
        language_source: How it was found: ``given``, ``detected`` or ``prior``.
        rewritten: Whether the question was made standalone (there was an earlier user turn).
        method: How: ``as_asked`` (first question, or rewriting off), ``rewrite`` (the LLM's
            rewrite) or ``joined`` (the earlier user turns and the question, when the LLM's
            rewrite resolved nothing; ``rewrite`` keeps what it wrote).
        rewrite: The LLM's rewrite, used or not (``None`` when it was not asked).
        history_turns: Earlier user and assistant turns shown to the rewrite.
        dropped_turns: Earlier turns left out to fit ``max_history_tokens`` (oldest first).
        system: The client's system messages as kept for the answer prompt, if any.
        usage: LLM tokens of the rewrite (``prompt_tokens``, ``completion_tokens``, ``calls``).
    """

    question: str
    standalone: str
    language: str
    language_source: str
    rewritten: bool
    method: str
    rewrite: str | None
    history_turns: int
    dropped_turns: int
    system: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "question": self.question,
            "standalone_question": self.standalone,
            "language": self.language,
            "language_source": self.language_source,
            "rewritten": self.rewritten,
            "method": self.method,
            "rewrite": self.rewrite,
            "history_turns": self.history_turns,
            "dropped_turns": self.dropped_turns,
            "system": self.system,
            "usage": self.usage,
        }


@dataclass
class ChatAnswer:
    """One answered chat turn: the rewrite and the pipeline's answer.

    Attributes:
        condensed: How the chat became one question.
        answer: The answer pipeline's result for the standalone question.
    """

    condensed: Condensed
    answer: Answer

    @property
    def text(self) -> str:
        """The answer's text (``""`` when the LLM failed)."""
        return self.answer.answer or ""

    @property
    def usage(self) -> dict[str, int]:
        """LLM tokens of the rewrite and the answer together."""
        total = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}
        for part in (self.condensed.usage, self.answer.usage):
            for key in total:
                total[key] += int(part.get(key, 0))
        return total

    def passages(self) -> list[dict[str, Any]]:
        """The passages the answer was given, as numbered in its prompt: ``n`` (the ``[n]`` the
        text cites), ``id``, ``text``, ``title`` and ``section`` (document chunks; else
        ``None``), ``lang``, ``score`` (the retriever's) and ``cited``."""
        cited, _ = parse_citations(self.text, range(1, len(self.answer.passages) + 1))
        return [
            {
                "n": n,
                "id": hit.id,
                "text": hit.text,
                "title": hit.metadata.get("title"),
                "section": hit.metadata.get("section"),
                "lang": hit.lang,
                "score": hit.score,
                "cited": n in cited,
            }
            for n, hit in enumerate(self.answer.passages, start=1)
        ]

    def to_dict(self) -> dict[str, Any]:
        """The ``xling`` extension of a chat completion."""
        answer = self.answer
        return {
            **self.condensed.to_dict(),
            "answer": answer.answer,
            "answer_language": answer.language,
            "language_ok": answer.language_ok,
            "verdict": answer.verdict,
            "reasked": len(answer.attempts) > 1,
            "attempts": [a.to_dict() for a in answer.attempts],
            "passages": self.passages(),
            "dropped_citations": answer.dropped_citations,
            "reranked": answer.reranked is not None,
            "reranker_fallback": answer.reranker_fallback,
            "usage": self.usage,
            "error": answer.error,
        }


async def acondense(
    client: LLMClient,
    turns: Sequence[ChatTurn],
    *,
    lang: str | None = None,
    hint: str | None = None,
    config: ChatConfig | None = None,
    lid_backend: str | None = None,
    expected_langs: Sequence[str] | None = None,
    repetition_penalty: float | None = 1.1,
) -> Condensed:
    """The chat's last user turn as a standalone question in the asker's language.

    Args:
        client: The LLM that rewrites (its tokenizer counts the history).
        turns: The chat (:func:`chat_turns`), ending with the user's question.
        lang: The asker's language when the caller knows it (else detected).
        hint: A client's ``Accept-Language`` value, a prior for the detection.
        config: The chat settings.
        lid_backend: The one LID backend to detect with (``None``: the ensemble).
        expected_langs: The languages the deployment expects.
        repetition_penalty: vLLM's penalty for the rewrite (``None``: not sent).

    Raises:
        InvalidInputError: On a chat that does not end with a user question.
        ServiceUnavailableError: If the LLM fails.
    """
    config = config or ChatConfig()
    turns = chat_turns([{"role": t.role, "content": t.content} for t in turns])
    spoken = [t for t in turns if t.role != "system"]
    question, earlier = spoken[-1].content.strip(), spoken[:-1]
    language = await asyncio.to_thread(
        _asker_language, question, earlier, lang, hint, config, lid_backend, expected_langs
    )
    system = await _system_text(client, turns, config)
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}
    condensed = Condensed(
        question, question, language[0], language[1], False, "as_asked", None, 0, 0, system, usage
    )
    if not config.rewrite or not any(t.role == "user" for t in earlier):
        return condensed
    history = await _fit_history(client, earlier, question, language[0], config)
    messages = condense_messages(history, question, language[0])
    options: dict[str, Any] = {"max_tokens": config.rewrite_max_tokens, "temperature": 0.0}
    if repetition_penalty is not None:
        options["extra"] = {"repetition_penalty": repetition_penalty}
    completion = await client.achat(messages, **options)
    usage.update(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        calls=1,
    )
    condensed.rewrite = clean_standalone(completion.text)
    condensed.rewritten = True
    if completion.finish_reason != "length" and _resolves(condensed.rewrite, question, history):
        condensed.standalone, condensed.method = condensed.rewrite, "rewrite"
    else:
        asked = [text for role, text in history if role == "user"][-config.join_turns :]
        condensed.standalone, condensed.method = " ".join([*asked, question]), "joined"
    condensed.history_turns = len(history)
    condensed.dropped_turns = len(earlier) - len(history)
    return condensed


_WORD = regex.compile(r"[\p{L}\p{N}]{4,}")


def _resolves(rewrite: str, question: str, history: Sequence[tuple[str, str]]) -> bool:
    """Whether a rewrite brings a word of the earlier turns that the question lacks (the name
    its "it" or "he" stood for); words of four or more letters, case-folded."""
    words = {w.casefold() for w in _WORD.findall(rewrite)}
    known = {w.casefold() for w in _WORD.findall(question)}
    earlier = {w.casefold() for _, text in history for w in _WORD.findall(text)}
    return bool((words - known) & earlier)


def _asker_language(
    question: str,
    earlier: Sequence[ChatTurn],
    lang: str | None,
    hint: str | None,
    config: ChatConfig,
    lid_backend: str | None,
    expected: Sequence[str] | None,
) -> tuple[str, str]:
    """The asker's language and how it was found; earlier user turns weigh in as a prior."""
    backends = [lid_backend] if lid_backend else None
    if lang is not None:
        found = identify_asker_language(question, lang=lang)
        return found.lang, found.source
    asked = [t.content for t in earlier if t.role == "user" and not is_blank(t.content)]
    recent = asked[-config.language_turns :] if config.language_turns else []
    history = [
        found.lang
        for text in recent
        if not (found := identify_asker_language(text, expected=expected, backends=backends))
        .undecided
    ]  # fmt: skip
    found = identify_asker_language(
        question, expected=expected, history=history, hint=hint, backends=backends
    )
    return found.lang, found.source


async def _system_text(
    client: LLMClient, turns: Sequence[ChatTurn], config: ChatConfig
) -> str | None:
    """The client's system messages joined, cut to ``max_system_tokens`` model tokens."""
    texts = [t.content.strip() for t in turns if t.role == "system" and not is_blank(t.content)]
    if not texts:
        return None
    text = "\n\n".join(texts)[: config.max_system_tokens * _CHARS_PER_TOKEN]
    cut = await client.atruncate(text, config.max_system_tokens)
    return cut.rstrip("\ufffd")


async def _fit_history(
    client: LLMClient,
    earlier: Sequence[ChatTurn],
    question: str,
    language: str,
    config: ChatConfig,
) -> list[tuple[str, str]]:
    """The newest earlier turns whose tokens fit the history budget (oldest dropped first; a
    newest turn alone over the budget is cut to it, keeping its end)."""
    budget = config.max_history_tokens
    context = await client.amax_model_len()
    if context is not None:
        skeleton = "\n".join(m["content"] for m in condense_messages([], question, language))
        overhead = len(await client.atokenize(skeleton)) + 64  # the chat template's markers
        budget = min(budget, context - overhead - config.rewrite_max_tokens)
    kept: list[tuple[str, str]] = []
    used = 0
    for turn in reversed(earlier):
        if is_blank(turn.content):
            continue
        text = " ".join(turn.content[-budget * _CHARS_PER_TOKEN :].split())
        tokens = await client.atokenize(text)
        cost = len(tokens) + _LINE_TOKENS
        if used + cost > budget:
            room = budget - used - _LINE_TOKENS
            if not kept and room > 0:  # the newest turn alone: its end is what a follow-up uses
                tail = await client.adetokenize(tokens[-room:])
                kept.append((turn.role, tail.lstrip("\ufffd")))
            break
        kept.append((turn.role, text))
        used += cost
    return kept[::-1]


async def aanswer_chat(
    pipeline: AnswerPipeline,
    turns: Sequence[ChatTurn],
    *,
    lang: str | None = None,
    hint: str | None = None,
    config: ChatConfig | None = None,
    on_event: StreamCallback | None = None,
) -> ChatAnswer:
    """Answers a chat's last user turn from the pipeline's pool, in the asker's language.

    Args:
        pipeline: The answer pipeline (its LLM client also rewrites the follow-up).
        turns: The chat (:func:`chat_turns`).
        lang: The asker's language when known (else detected from the user's turns).
        hint: A client's ``Accept-Language`` value.
        config: The chat settings.
        on_event: Receives ``{"event": "condensed", "condensed": {...}}`` once the question
            is standalone, then the pipeline's ``attempt`` and ``token`` events.

    Raises:
        InvalidInputError: On a chat that does not end with a user question.
        ServiceUnavailableError: If the LLM fails.
    """
    settings = pipeline.config
    condensed = await acondense(
        pipeline.client, turns, lang=lang, hint=hint, config=config,
        lid_backend=settings.lid_backend, expected_langs=settings.expected_langs,
        repetition_penalty=settings.repetition_penalty,
    )  # fmt: skip
    if on_event is not None:
        await on_event({"event": "condensed", "condensed": condensed.to_dict()})
    question = Question(condensed.standalone, "0", condensed.language)
    (answer,) = await pipeline.aanswer_many([question], on_event=on_event, system=condensed.system)
    return ChatAnswer(condensed, answer)


async def astream_chat(
    pipeline: AnswerPipeline,
    turns: Sequence[ChatTurn],
    *,
    lang: str | None = None,
    hint: str | None = None,
    config: ChatConfig | None = None,
    render_error: Callable[[XlingError], str] = str,
) -> AsyncGenerator[dict[str, Any], None]:
    """:func:`aanswer_chat`, streaming: the ``condensed``, ``attempt`` and ``token`` events,
    then ``{"event": "done", "chat": ChatAnswer}`` or ``{"event": "error", "detail":
    render_error(exc)}``.

    Closing the iterator (a client that went away) cancels the work, and with it the LLM's
    request in flight.
    """

    async def run(on_event: Callable[[dict[str, Any]], Awaitable[None]]) -> dict[str, Any]:
        result = await aanswer_chat(
            pipeline, turns, lang=lang, hint=hint, config=config, on_event=on_event
        )
        return {"event": "done", "chat": result}

    async for event in event_stream(run, render_error):
        yield event
