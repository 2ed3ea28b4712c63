"""Sentence boundaries in any script: the units chunks are packed from.

Most languages go through sentencex (rules and abbreviation lists for ~300 languages, written in
Rust), which knows the full stops of scripts written without spaces (Chinese and Japanese
``。！？``, Hindi ``।``, Arabic ``؟``). Thai has no sentence punctuation: its writers put a space
between sentences and clauses, so Thai text is split at those spaces (by pythainlp's sentence
model instead, when pythainlp is installed).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

import regex
import sentencex

from xling.core.languages import normalize_code, to_iso639_1

__all__ = ["script_language", "sentence_spans", "strip_span"]

# The language whose sentencex rules fit a script, for text of unknown language: the script's
# most-written language (Latin and anything unlisted: English).
_SCRIPT_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("Han", "zh"),
    ("Thai", "th"),
    ("Hangul", "ko"),
    ("Arabic", "ar"),
    ("Devanagari", "hi"),
    ("Bengali", "bn"),
    ("Cyrillic", "ru"),
    ("Greek", "el"),
    ("Hebrew", "he"),
    ("Armenian", "hy"),
    ("Georgian", "ka"),
    ("Ethiopic", "am"),
    ("Myanmar", "my"),
    ("Khmer", "km"),
    ("Lao", "lo"),
    ("Tibetan", "bo"),
    ("Tamil", "ta"),
    ("Telugu", "te"),
    ("Kannada", "kn"),
    ("Malayalam", "ml"),
    ("Gujarati", "gu"),
    ("Gurmukhi", "pa"),
    ("Sinhala", "si"),
    ("Latin", "en"),
)
_SCRIPT_PATTERNS = tuple((regex.compile(rf"\p{{{s}}}"), code) for s, code in _SCRIPT_LANGUAGES)
_KANA = regex.compile(r"[\p{Hiragana}\p{Katakana}]")
_SAMPLE_CHARS = 2000
_DEFAULT = "en"

_SPACE = re.compile(r"\s+")
_THAI = regex.compile(r"\p{Thai}")


def script_language(text: str) -> str:
    """The two-letter code whose sentence rules suit the text's main script.

    Counts the letters of each script in the first 2,000 characters: Han with any kana is
    Japanese, Han alone Chinese, Thai Thai, Cyrillic Russian, and so on; Latin text, text
    without letters and scripts not listed get English rules (which only ask for ``. ! ?``).
    """
    sample = text[:_SAMPLE_CHARS]
    best, most = _DEFAULT, 0
    for pattern, code in _SCRIPT_PATTERNS:
        n = len(pattern.findall(sample))
        if n > most:
            best, most = code, n
    if best == "zh" and _KANA.search(sample):
        return "ja"
    return best


@cache
def _segmenter_code(lang: str) -> str | None:
    """sentencex's code for an xling language code, or ``None`` if it has no two-letter code."""
    return to_iso639_1(normalize_code(lang))


def sentence_spans(text: str, lang: str | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, in order.

    The spans leave out the whitespace between sentences (and at either end), so
    ``text[start:end]`` is a sentence without surrounding whitespace; a text without
    sentence punctuation is one span. Blank text has none.

    Args:
        text: Any text (a paragraph, a list item, a whole page).
        lang: Its language (any code :func:`~xling.core.languages.normalize_code` knows), or
            ``None`` to choose the rules by the text's script (:func:`script_language`).

    Returns:
        ``(start, end)`` offsets into ``text``, non-overlapping and increasing.

    Raises:
        InvalidInputError: If ``lang`` is not a known language code.
    """
    code = _segmenter_code(lang) if lang is not None else None
    if code is None:
        code = script_language(text)
    if code == "th":
        return _thai_spans(text)
    return _sentencex_spans(text, code)


def _sentencex_spans(text: str, code: str) -> list[tuple[int, int]]:
    spans = []
    for segment in sentencex.get_sentence_boundaries(code, text):
        span = strip_span(text, segment["start_index"], segment["end_index"])
        if span is not None:
            spans.append(span)
    return spans


def strip_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` without leading and trailing whitespace, or ``None`` if all blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _thai_spans(text: str) -> list[tuple[int, int]]:
    thai = _pythainlp_sentences()
    if thai is not None:
        spans = _located(text, thai(text))
        if spans is not None:
            return spans
    spans = []
    for start, end in _sentencex_spans(text, "th"):
        cut = start
        # A space between two Thai letters ends a sentence or clause; a space next to a digit
        # or a Latin word ("ราคา 30 ยูโร", "ใช้ Python ทุกวัน") does not.
        for gap in _SPACE.finditer(text, start, end):
            before, after = text[gap.start() - 1], text[gap.end()]
            if _THAI.match(before) and _THAI.match(after) and not _is_mark(after):
                spans.append((cut, gap.start()))
                cut = gap.end()
        spans.append((cut, end))
    return spans


def _is_mark(char: str) -> bool:
    return unicodedata.category(char) in ("Mn", "Mc")


@cache
def _pythainlp_sentences() -> Any:
    """pythainlp's ``sent_tokenize`` when pythainlp is installed, else ``None``."""
    try:
        from pythainlp.tokenize import sent_tokenize
    except ImportError:
        return None
    return sent_tokenize


def _located(text: str, sentences: list[str]) -> list[tuple[int, int]] | None:
    """Spans of ``sentences`` found in order in ``text``, or ``None`` if one is not there."""
    spans, cursor = [], 0
    for sentence in sentences:
        piece = sentence.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:
            return None
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    return spans
