"""Questions (and retrieval queries) with their ids and languages, and their files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xling._validation import is_blank, json_object, preview, read_utf8
from xling.core.languages import normalize_code
from xling.errors import InvalidInputError

__all__ = ["Question", "read_questions"]


@dataclass(frozen=True)
class Question:
    """A question and, if known, its language.

    Attributes:
        text: The question.
        qid: Its id (the JSONL ``qid``, else the 0-based line number).
        lang: The user's language; ``None``: detected from the question.
    """

    text: str
    qid: str = "0"
    lang: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or is_blank(self.text):
            raise InvalidInputError(
                f"question {preview(self.text)} is not allowed; ask a non-empty question"
            )
        if not isinstance(self.qid, str) or not self.qid:
            raise InvalidInputError(f"qid {preview(self.qid)} is not allowed; use a non-empty str")
        if self.lang is not None:
            object.__setattr__(self, "lang", normalize_code(self.lang))


def read_questions(path: str | Path) -> list[Question]:
    """Reads questions or queries: one a line, or JSONL ``{"question", "lang"?, "qid"?}``.

    In JSONL the text may also be called ``query`` (the field of ``xling retrieve`` lines).

    A file whose first non-blank line starts with ``{`` is JSONL. Blank lines are skipped;
    ``qid`` defaults to the 0-based line number.

    Raises:
        InvalidInputError: Naming ``file:line`` for a bad line, a missing or empty question, an
            unknown language or a repeated ``qid``; or when the file holds no question.
    """
    text = read_utf8(path, "questions file")
    lines = text.split("\n")
    jsonl = next((line.lstrip().startswith("{") for line in lines if line.strip()), False)
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}:{number + 1}"
        try:
            if jsonl:
                obj = json_object(line, where)
                key = "query" if "query" in obj and "question" not in obj else "question"
                unknown = set(obj) - {key, "lang", "qid"}
                if unknown or key not in obj:
                    raise InvalidInputError(
                        f'{where}: use {{"question" (or "query"), "lang"?, "qid"?}}'
                        + (f", not {sorted(unknown)}" if unknown else "")
                    )
                qid = obj.get("qid", str(number))
                if isinstance(qid, int) and not isinstance(qid, bool):
                    qid = str(qid)
                question = Question(obj[key], qid, obj.get("lang"))
            else:
                question = Question(line.strip(), str(number))
        except InvalidInputError as exc:
            message = str(exc)
            if not message.startswith(where):
                message = f"{where}: {message}"
            raise InvalidInputError(message) from None
        if question.qid in seen:
            raise InvalidInputError(
                f"{where}: qid {question.qid!r} was used before; make it unique"
            )
        seen.add(question.qid)
        questions.append(question)
    if not questions:
        raise InvalidInputError(f"{path} holds no question")
    return questions
