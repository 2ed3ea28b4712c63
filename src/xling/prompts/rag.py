"""The RAG answer prompt: answer in the user's language from numbered passages, citing them.

Passages may be in other languages than the question (a French question over English news).
They are shown numbered, ``[1]``, ``[2]``, ...; the answer cites them by those numbers, which the
pipeline maps back to passage ids (short labels are what a small model reproduces reliably).
The re-ask variant repeats the language instruction after the question, the place models
follow best, and names the languages not to use (XRAG's failure: English, or the passages').
The instruction is written in the answer's language where :mod:`xling.prompts.instructions` has
it (``instruction_lang="user"``, BERGEN's recommended setting), else in English.
Pure text: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from xling.core.chat import ChatMessage
from xling.core.languages import language_name
from xling.prompts.instructions import Instruction, InstructionLang, get_instruction

__all__ = [
    "ContextPassage",
    "answer_messages",
    "answer_prompt",
    "parse_citations",
]

_CITATION = re.compile(r"\[\s*(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\s*\]")


@dataclass(frozen=True)
class ContextPassage:
    """A passage as the prompt shows it.

    Attributes:
        label: Its number in the prompt (``1`` for ``[1]``).
        text: The text, already fitted to its token budget.
        lang: Its language code, if known.
    """

    label: int
    text: str
    lang: str | None = None


def _instruction(
    language: str, strict: bool, avoid: Sequence[str], instruction: Instruction
) -> str:
    others = ", ".join(language_name(x) for x in avoid if x != language)
    return instruction.system(language_name(language), strict=strict, others=others)


def _user_text(
    question: str,
    passages: Sequence[ContextPassage],
    language: str,
    strict: bool,
    instruction: Instruction,
) -> str:
    """Passages, question and the language reminder: the user's part of either prompt."""
    context = "\n".join(f"[{p.label}] {p.text}" for p in passages)
    reminder = instruction.user_reminder(language_name(language), strict=strict)
    return f"{instruction.passages}\n{context}\n\n{instruction.question} {question}\n{reminder}"


def answer_messages(
    question: str,
    passages: Sequence[ContextPassage],
    language: str,
    *,
    strict: bool = False,
    avoid: Sequence[str] = (),
    instruction_lang: InstructionLang = "user",
) -> list[ChatMessage]:
    """The chat prompt of one question.

    Args:
        question: The user's question.
        passages: The context, numbered.
        language: The language the answer must be in (any code).
        strict: The re-ask: a stronger instruction, repeated after the question.
        avoid: Languages to name as not wanted (the passages', English), for ``strict`` with
            the English instruction (a written one says "English or any other language").
        instruction_lang: ``user``: the instruction written in ``language`` where one is
            written (:mod:`xling.prompts.instructions`), else in English; ``eng``: in English.

    Returns:
        A system message with the instruction and a user message with passages and question.
    """
    instruction = get_instruction(language, instruction_lang)
    return [
        {"role": "system", "content": _instruction(language, strict, avoid, instruction)},
        {
            "role": "user",
            "content": _user_text(question, passages, language, strict, instruction),
        },
    ]


def answer_prompt(
    question: str,
    passages: Sequence[ContextPassage],
    language: str,
    *,
    strict: bool = False,
    avoid: Sequence[str] = (),
    instruction_lang: InstructionLang = "user",
) -> str:
    """The completion variant of :func:`answer_messages` (base models); ends in the
    instruction's answer label (``Answer:``)."""
    instruction = get_instruction(language, instruction_lang)
    return (
        f"{_instruction(language, strict, avoid, instruction)}\n\n"
        f"{_user_text(question, passages, language, strict, instruction)}\n{instruction.answer}"
    )


def parse_citations(answer: str, labels: Sequence[int]) -> tuple[list[int], list[int]]:
    """The passage numbers an answer cites, and those it cites that the prompt did not show.

    ``[2]``, ``[1, 3]`` and ``[1; 3]`` are read; each number counts once, in order of first use.

    Returns:
        ``(cited, dropped)``: numbers in ``labels``, and numbers not in it.
    """
    known = set(labels)
    cited: list[int] = []
    dropped: list[int] = []
    for match in _CITATION.finditer(answer):
        for part in re.split(r"[,;]", match.group(1)):
            number = int(part)
            target = cited if number in known else dropped
            if number not in target:
                target.append(number)
    return cited, dropped
