"""Reading a ranking out of whatever a model wrote, always returning a full permutation.

Real models wrap answers in ``<think>`` blocks, write digits in other scripts (``[٣] > [١]``,
``［３］``), repeat identifiers, invent ones that do not exist or stop early. The parser strips the
thinking, folds look-alike digits and brackets to ASCII, reads the template's identifiers
(``[3]``, ``Passage3``; any digit run as a last resort for numeric identifiers), drops duplicates
and out-of-range ids, and appends the missing ones in their first-stage order. Every fix is
recorded as a :class:`~xling.rerankers.records.Repair`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from xling.prompts.rerank import IdentifierStyle, label_index
from xling.rerankers.records import Repair, RepairKind

__all__ = [
    "Permutation",
    "parse_permutation",
    "strip_thinking",
    "fold_lookalikes",
    "MAX_ANSWER_CHARS",
]

# One pass over the tags: the parser takes time linear in the answer (a regex such as
# "<think>.*?</think>" rescans the rest of the text from every unclosed opening tag, which took
# 12 s for 140 KB of "<think>").
_THINK_TAG = re.compile(r"<(/?)think>", re.IGNORECASE)
# Generated answers are bounded by the reranker's max_tokens; a server that sends more is
# answering something else, so only this much of the answer (after the thinking) is read.
MAX_ANSWER_CHARS = 16_384
_BRACKETS = {"【": "[", "〔": "[", "⟦": "[", "】": "]", "〕": "]", "⟧": "]"}
_LABEL = {"numeric": r"(\d+)", "alpha": r"([A-Za-z]{1,3})"}


@dataclass(frozen=True)
class Permutation:
    """A parsed ranking of a window.

    Attributes:
        order: Every index ``0..n-1`` exactly once, best first.
        repairs: The fixes that were needed (empty for a clean answer).
    """

    order: tuple[int, ...]
    repairs: tuple[Repair, ...] = ()


def strip_thinking(text: str) -> str:
    """Removes ``<think>…</think>`` blocks, text before a stray ``</think>`` and an unclosed block.

    An unclosed ``<think>`` means the model ran out of tokens while reasoning, so nothing after
    it is an answer. A block runs from an opening tag to the first closing tag after it (tags
    inside it do not nest); a closing tag outside any block is stray. Takes time linear in
    ``len(text)``.
    """
    pieces: list[str] = []
    kept_from = 0  # start of the text not yet copied or dropped
    opened: int | None = None  # start of the open block, if any
    for tag in _THINK_TAG.finditer(text):
        closing = bool(tag.group(1))
        if opened is None and not closing:
            opened = tag.start()
        elif opened is not None and closing:
            pieces += [text[kept_from:opened], " "]
            kept_from, opened = tag.end(), None
        elif closing:  # stray: the answer starts after it
            pieces, kept_from = [], tag.end()
    pieces.append(text[kept_from : len(text) if opened is None else opened])
    return "".join(pieces)


def fold_lookalikes(text: str) -> tuple[str, int]:
    """Maps decimal digits of any script, full-width forms and CJK brackets to ASCII.

    Returns:
        The folded text and how many characters changed.
    """
    out: list[str] = []
    changed = 0
    for char in text:
        folded = char
        if not char.isascii():
            digit = unicodedata.decimal(char, None)
            if digit is not None:
                folded = str(digit)
            elif 0xFF01 <= ord(char) <= 0xFF5E:  # the full-width ASCII block
                folded = chr(ord(char) - 0xFEE0)
            else:
                folded = _BRACKETS.get(char, char)
        changed += folded != char
        out.append(folded)
    return "".join(out), changed


def _identifier_pattern(style: IdentifierStyle, prefix: str, suffix: str) -> re.Pattern[str]:
    tail = rf"\s*{re.escape(suffix)}" if suffix else r"(?![A-Za-z0-9])"
    return re.compile(rf"{re.escape(prefix)}\s*{_LABEL[style]}{tail}")


def parse_permutation(
    text: str,
    n: int,
    *,
    style: IdentifierStyle = "numeric",
    prefix: str = "[",
    suffix: str = "]",
    where: str = "",
) -> Permutation:
    """Reads a ranking of ``n`` passages from a model's answer.

    Args:
        text: The model's raw answer.
        n: Passages in the window.
        style: ``"numeric"`` (``[1]``) or ``"alpha"`` (``[A]``) identifiers.
        prefix: Text before each label in the template (``"["``, ``"Passage"``).
        suffix: Text after each label (``"]"``, or ``""``).
        where: Names the step in the recorded repairs.

    Returns:
        A permutation of ``range(n)`` and the repairs it needed. For any ``text`` the order is
        a permutation of the window.
    """
    repairs: list[Repair] = []
    answer = strip_thinking(text)
    if answer != text:
        repairs.append(Repair("think_stripped", 1, where))
    if len(answer) > MAX_ANSWER_CHARS:
        repairs.append(Repair("answer_cut", len(answer) - MAX_ANSWER_CHARS, where))
        answer = answer[:MAX_ANSWER_CHARS]
    answer, folded = fold_lookalikes(answer)
    if folded:
        repairs.append(Repair("lookalike_digits", folded, where))
    labels = _identifier_pattern(style, prefix, suffix).findall(answer)
    if not labels and style == "numeric":
        labels = re.findall(r"\d+", answer)  # RankGPT's reading: every digit run is an id
    if not labels:
        repairs.append(Repair("no_identifiers", 1, where))
    order: list[int] = []
    seen: set[int] = set()
    out_of_range = duplicates = 0
    for label in labels:
        index = label_index(label, style)
        if index is None or not 0 <= index < n:
            out_of_range += 1
        elif index in seen:
            duplicates += 1
        else:
            seen.add(index)
            order.append(index)
    missing = [i for i in range(n) if i not in seen]
    counts: list[tuple[RepairKind, int]] = [
        ("duplicates_dropped", duplicates),
        ("out_of_range_dropped", out_of_range),
        ("missing_appended", len(missing)),
    ]
    repairs += [Repair(kind, count, where) for kind, count in counts if count]
    return Permutation(tuple(order + missing), tuple(repairs))
