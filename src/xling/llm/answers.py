"""What an LLM server answers: completion records, usage totals, and the readers of its JSON.

The readers check every field they use (:func:`~xling.core.http_replies.get_field`) and raise
:class:`~xling.core.http_replies.MalformedReply` for a body of another shape, which the client
retries like a 503 and finally reports as a failed server, naming what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from xling.core.http_replies import MalformedReply, get_field

__all__ = [
    "TokenLogprob",
    "Completion",
    "TokenUsage",
    "LLMUsage",
    "ChoiceReader",
    "read_completion",
    "completion_choice",
    "chat_choice",
    "model_cards",
    "token_ids",
    "prompt_text",
    "split_reasoning",
]


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and the top alternatives.

    Attributes:
        token: The generated token text.
        logprob: Its natural-log probability.
        top: The most likely tokens at this step (token text → logprob), the generated one
            included, when ``top_logprobs`` was asked for.
    """

    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """One completion choice and its accounting.

    Attributes:
        text: The generated text.
        finish_reason: ``"stop"``, ``"length"``, ...
        prompt_tokens: Tokens in the prompt, as counted by the server.
        completion_tokens: Tokens generated.
        logprobs: Per-token log-probabilities, when asked for.
        reasoning: What a reasoning model thought before its answer, when the server keeps it
            apart from ``text`` (vLLM's ``reasoning`` or ``reasoning_content`` field, with a
            ``--reasoning-parser``), or when :func:`split_reasoning` moved it out of the text.
        reasoning_tokens: Tokens of ``reasoning``, when the server counts them
            (``usage.completion_tokens_details.reasoning_tokens``); part of
            ``completion_tokens``.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[TokenLogprob] | None = None
    reasoning: str | None = None
    reasoning_tokens: int | None = None


@dataclass
class TokenUsage:
    """Running totals of completed LLM calls and their tokens."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        """Counts one completed call."""
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


@dataclass
class LLMUsage(TokenUsage):
    """Running totals of one client's traffic, retries included."""

    retries: int = 0


ChoiceReader = Callable[[Any], tuple[str, list[TokenLogprob] | None]]
"""Reads the text and the logprobs of one choice; raises :class:`MalformedReply` otherwise."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "null" if value is None else type(value).__name__
        raise MalformedReply(f"{what} is {kind}, not a number")
    return float(value)


def read_completion(data: Any, read_choice: ChoiceReader) -> Completion:
    """The first choice of a generation answer, with the usage counts.

    Args:
        data: The answer's JSON.
        read_choice: :func:`completion_choice` or :func:`chat_choice`.

    Raises:
        MalformedReply: If the answer is not of the documented shape.
    """
    choices = get_field(data, "choices", list, "the answer")
    if not choices:
        raise MalformedReply("the answer has an empty 'choices' list")
    choice = choices[0]
    text, logprobs = read_choice(choice)
    usage = get_field(data, "usage", dict, "the answer", optional=True) or {}
    details = get_field(usage, "completion_tokens_details", dict, "usage", optional=True) or {}
    return Completion(
        text=text,
        finish_reason=get_field(choice, "finish_reason", str, "choice", optional=True),
        prompt_tokens=get_field(usage, "prompt_tokens", int, "usage", optional=True) or 0,
        completion_tokens=get_field(usage, "completion_tokens", int, "usage", optional=True) or 0,
        logprobs=logprobs,
        reasoning=_reasoning_field(choice),
        reasoning_tokens=get_field(
            details, "reasoning_tokens", int, "completion_tokens_details", optional=True
        ),
    )


def _reasoning_field(choice: Any) -> str | None:
    """A chat choice's separate reasoning text (vLLM ``reasoning``, formerly
    ``reasoning_content``), or ``None``."""
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return None
    for key in ("reasoning", "reasoning_content"):
        value = get_field(message, key, str, "message", optional=True)
        if value:
            return str(value)
    return None


_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def split_reasoning(completion: Completion) -> tuple[Completion, bool]:
    """Keeps a reasoning model's thinking apart from its answer.

    The thinking is the server's separate reasoning field, and in the text a block
    ``<think>…</think>`` before the answer, or everything before a lone ``</think>`` (chat
    templates that open the block in the prompt, as QwQ's and DeepSeek-R1's do). The answer is
    the text after the first ``</think>``. Without a closing tag the thinking did not end: an
    opened ``<think>`` block goes to the reasoning, and text without tags stays the answer.

    Args:
        completion: A chat completion as the server gave it.

    Returns:
        The completion with ``text`` the answer alone and ``reasoning`` the thinking (``None``
        when there was none), and whether the thinking ended (a ``</think>``, or a separate
        reasoning field followed by an answer).
    """
    text = completion.text
    closing = _THINK_CLOSE.search(text)
    opening = _THINK_OPEN.search(text)
    thought: str | None = None
    ended = False
    if closing is not None:
        start = opening.end() if opening is not None and opening.start() < closing.start() else 0
        thought, text, ended = text[start : closing.start()], text[closing.end() :], True
    elif opening is not None:
        thought, text = text[opening.end() :], text[: opening.start()]
    if completion.reasoning:
        ended = ended or bool(text.strip())
        thought = completion.reasoning + (f"\n{thought}" if thought else "")
    if thought is not None:
        thought = thought.strip("\n")
    return replace(completion, text=text.strip(), reasoning=thought), ended


def completion_choice(choice: Any) -> tuple[str, list[TokenLogprob] | None]:
    """Text and logprobs of a ``/v1/completions`` choice."""
    text = get_field(choice, "text", str, "choice", optional=True) or ""
    raw = get_field(choice, "logprobs", dict, "choice", optional=True)
    if raw is None or raw.get("tokens") is None:
        return text, None
    tokens = get_field(raw, "tokens", list, "logprobs")
    values = get_field(raw, "token_logprobs", list, "logprobs")
    tops = get_field(raw, "top_logprobs", list, "logprobs", optional=True) or [None] * len(tokens)
    out = []
    for token, lp, top in zip(tokens, values, tops, strict=False):
        if not isinstance(token, str) or not isinstance(top, dict | None):
            raise MalformedReply(
                "logprobs has a token that is not text or alternatives not an object"
            )
        alternatives = {str(k): _number(v, "a top logprob") for k, v in (top or {}).items()}
        value = float("-inf") if lp is None else _number(lp, "a token logprob")
        out.append(TokenLogprob(token, value, alternatives))
    return text, out


def chat_choice(choice: Any) -> tuple[str, list[TokenLogprob] | None]:
    """Text and logprobs of a ``/v1/chat/completions`` choice."""
    message = get_field(choice, "message", dict, "choice")
    text = get_field(message, "content", str, "message", optional=True) or ""
    raw = get_field(choice, "logprobs", dict, "choice", optional=True)
    if raw is None or raw.get("content") is None:
        return text, None
    out = []
    for item in get_field(raw, "content", list, "logprobs"):
        tops = get_field(item, "top_logprobs", list, "a token's logprobs", optional=True) or []
        alternatives = {
            get_field(alt, "token", str, "a top logprob"): _number(
                alt.get("logprob"), "a top logprob"
            )
            for alt in tops
        }
        token = get_field(item, "token", str, "a token's logprobs")
        out.append(TokenLogprob(token, _number(item.get("logprob"), "a logprob"), alternatives))
    return text, out


def model_cards(data: Any) -> list[dict[str, Any]]:
    """The model cards of a ``/v1/models`` answer (each with a text ``id``)."""
    cards = get_field(data, "data", list, "the model list")
    for card in cards:
        get_field(card, "id", str, "a model card")
    return list(cards)


def token_ids(data: Any) -> list[int]:
    """The token ids of a ``/tokenize`` answer."""
    tokens = get_field(data, "tokens", list, "the tokenizer's answer")
    if any(isinstance(t, bool) or not isinstance(t, int) for t in tokens):
        raise MalformedReply("the tokenizer's answer has tokens that are not integers")
    return list(tokens)


def prompt_text(data: Any) -> str:
    """The text of a ``/detokenize`` answer."""
    return str(get_field(data, "prompt", str, "the detokenizer's answer"))
