"""The script-aware word tokenizer: the one place where xling splits text into words.

BM25, R-BM25's n-gram
recall and the pool filters agree on what a token is. Words are maximal runs of letters, marks
and digits (so Devanagari or Arabic words keep their combining vowel signs, which Python's
``\\w`` drops); scripts written without spaces between words (Han, Hiragana, Katakana, Thai,
Lao, Khmer, Myanmar, Tibetan) are split into single characters with their combining marks, the
usual unigram analysis for CJK and Thai retrieval when no segmenter is available.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from xling.core.errors import missing_extra_error
from xling.core.scripts import SPACELESS_SCRIPTS

__all__ = ["Tokenizer", "tokenize"]

Tokenizer = Callable[[str], list[str]]


@lru_cache(maxsize=1)
def _token_pattern() -> Any:
    try:
        import regex
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise missing_extra_error("regex", "all", "the xling tokenizer") from exc
    spaceless = "".join(rf"\p{{{s}}}" for s in SPACELESS_SCRIPTS)
    # One spaceless character (with its marks), or a word of letters/marks/digits that holds
    # no spaceless character.
    return regex.compile(
        rf"(?V1)[{spaceless}]\p{{M}}*|[[\p{{L}}\p{{N}}]--[{spaceless}]][[\p{{L}}\p{{M}}\p{{N}}]--[{spaceless}]]*"
    )


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """Splits a text into word tokens, in any script.

    Args:
        text: The text.
        lowercase: Case-fold the tokens (``Straße`` → ``strasse``).

    Returns:
        The tokens in text order; punctuation and spaces are dropped.

    Example:
        >>> tokenize("Habari ya asubuhi, rafiki!")
        ['habari', 'ya', 'asubuhi', 'rafiki']
        >>> tokenize("東京は晴れ")
        ['東', '京', 'は', '晴', 'れ']
    """
    tokens: list[str] = _token_pattern().findall(text)
    return [t.casefold() for t in tokens] if lowercase else tokens
