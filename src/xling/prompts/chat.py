"""The follow-up rewrite of a chat: the last user turn and the history become one standalone
question, in the user's language, that retrieval can search without the chat.

A follow-up such as "and who built it?" names nothing a retriever can find; Open WebUI and
LlamaIndex's condense-question chat engines rewrite it with the LLM first. The instruction is
English (short and the same for every language) and names the language to keep; the transcript
is shown as ``User:``/``Assistant:`` lines so that a small model sees one block to rewrite, not
a chat to continue. :func:`clean_standalone` reads the model's reply back.
Pure text: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xling.core.chat import ChatMessage
from xling.core.languages import language_name

__all__ = ["clean_standalone", "condense_messages"]

_SPEAKERS = {"user": "User", "assistant": "Assistant"}
_LABEL = re.compile(r"^\s*(standalone question|question|rewritten question)\s*:\s*", re.I)


def condense_messages(
    history: Sequence[tuple[str, str]], question: str, language: str
) -> list[ChatMessage]:
    """The chat prompt that rewrites ``question`` into a standalone question.

    Args:
        history: Earlier turns, oldest first, as ``(role, text)`` with role ``user`` or
            ``assistant``.
        question: The user's last turn.
        language: The language the standalone question must be in (any code).

    Returns:
        A system message with the instruction and a user message with the transcript.
    """
    name = language_name(language)
    system = (
        "You rewrite the last question of a conversation so that it can be understood without "
        "the conversation: replace every pronoun and vague reference (it, he, she, they, this, "
        "there) with the name it refers to in the conversation. Keep the question's meaning. "
        f"Write the question in {name}. Reply with the rewritten question only."
    )
    lines = [f"{_SPEAKERS[role]}: {' '.join(text.split())}" for role, text in history]
    transcript = "\n".join(lines)
    user = (
        f"Conversation:\n{transcript}\n\nLast question: {' '.join(question.split())}\n\n"
        f"Rewrite the last question as a standalone question in {name}."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def clean_standalone(reply: str) -> str:
    """The standalone question in a model's reply: its first non-empty line, without a
    ``Question:`` label or surrounding quotes (``""`` when nothing is left)."""
    for line in reply.splitlines():
        text = _LABEL.sub("", line).strip().strip("\"'«»“”„").strip()
        if text:
            return text
    return ""
