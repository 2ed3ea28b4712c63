"""Evidence that a text really is in a language: its share of the language's common words and
character 3-grams.

A restricted identifier (:meth:`~xling.lid.LanguageIdentifier.detect` with candidates) always
names one of its candidates, so invented words that are not English come out as Swahili when the
choice is {Swahili, English}. This module measures, without any model, how much of a text looks
like the language: the share of its words among the language's most frequent words, and the
share of its character 3-grams among the language's most frequent 3-grams. Their mean is the
evidence :func:`score`; each language's :attr:`LanguageProfile.floor` is the 5th percentile of
that score over held-out real sentences of the language, so a score under the floor means the
text is less like the language than 95 % of real sentences are.

The lists and floors are package data (``data/profiles.json.gz``), derived from Tatoeba and
FLORES-200 by ``scripts/build_lid_profiles.py``; ``data/README.md`` gives sources and licences.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import regex

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code

__all__ = [
    "LanguageProfile",
    "Evidence",
    "language_evidence",
    "language_profile",
    "profiled_languages",
]

PROFILE_WORDS = 1000  # common words kept per language
PROFILE_TRIGRAMS = 1000  # common character 3-grams kept per language

_DATA = Path(__file__).with_name("data") / "profiles.json.gz"
_SENTENCE_ENDS = frozenset(".!?;:。！？\"'«»“”„-–—()[]")
_LETTERS = regex.compile(r"[\p{L}\p{M}]+")
# Scripts written without spaces between words: every character counts as a word.
_UNSEGMENTED = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]"
)


@dataclass(frozen=True)
class LanguageProfile:
    """The common words and character 3-grams of one language.

    Attributes:
        lang: Canonical ISO 639-3 code.
        words: The language's most frequent words (lower case).
        trigrams: Its most frequent character 3-grams (words padded with one space each side).
        floor: The 5th percentile of :func:`score` over held-out real sentences, 0–1.
    """

    lang: str
    words: frozenset[str]
    trigrams: frozenset[str]
    floor: float


@dataclass(frozen=True)
class Evidence:
    """How much of a text looks like a language.

    Attributes:
        lang: The language the text was compared with.
        words: Number of words in the text (characters of unsegmented scripts count one each).
        word_share: Share of those words among the language's common words, 0–1.
        trigram_share: Share of the text's character 3-grams among the language's common ones.
        score: Mean of the two shares, 0–1.
        floor: The language's floor (``None`` when it has no profile).
    """

    lang: str
    words: int
    word_share: float
    trigram_share: float
    score: float
    floor: float | None

    @property
    def enough(self) -> bool | None:
        """Whether the score reaches the floor (``None`` without a profile or words)."""
        if self.floor is None or self.words == 0:
            return None
        return self.score >= self.floor


def _runs(text: str) -> list[str]:
    return [run.lower() for run in _LETTERS.findall(text)]


def tokens(text: str) -> list[str]:
    """The words of a text, lower-cased; runs of unsegmented scripts split into characters."""
    out: list[str] = []
    for run in _runs(text):
        if _UNSEGMENTED.search(run):
            out.extend(run)
        else:
            out.append(run)
    return out


def trigrams(text: str) -> list[str]:
    """Character 3-grams of each letter run padded with one space on each side."""
    out: list[str] = []
    for run in _runs(text):
        padded = f" {run} "
        out.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


def _shares(text: str, profile: LanguageProfile) -> tuple[int, float, float]:
    """Words counted, their share among common words, the 3-grams' share among common ones.

    Capitalised words inside a sentence that are not common words of the language are left out:
    names (Paris, Raonic) belong to no language and fill short answers.
    """
    kept = []
    for match in _LETTERS.finditer(text):
        run, lower = match.group(), match.group().lower()
        before = text[: match.start()].rstrip()
        initial = not before or before[-1] in _SENTENCE_ENDS
        if run[0].isupper() and not initial and lower not in profile.words:
            continue
        kept.append(lower)
    if not kept:
        return 0, 0.0, 0.0
    kept_text = " ".join(kept)
    words, grams = tokens(kept_text), trigrams(kept_text)
    word_share = sum(w in profile.words for w in words) / len(words)
    gram_share = sum(g in profile.trigrams for g in grams) / len(grams)
    return len(words), word_share, gram_share


def score(text: str, profile: LanguageProfile) -> float:
    """Mean share of the text's words and 3-grams among the profile's common ones (0 if none)."""
    _, word_share, gram_share = _shares(text, profile)
    return (word_share + gram_share) / 2


@cache
def _profiles() -> dict[str, LanguageProfile]:
    data = json.loads(gzip.decompress(_DATA.read_bytes()).decode("utf-8"))
    return {
        code: LanguageProfile(
            code, frozenset(entry["words"]), frozenset(entry["trigrams"]), float(entry["floor"])
        )
        for code, entry in data["languages"].items()
    }


def profiled_languages() -> frozenset[str]:
    """Canonical codes of the languages with a bundled profile."""
    return frozenset(_profiles())


def language_profile(lang: str) -> LanguageProfile | None:
    """The bundled profile of a language (any ISO 639-1/3 or FLORES code), or ``None``.

    Raises:
        InvalidInputError: If the code is unknown.
    """
    return _profiles().get(normalize_code(lang))


def language_evidence(text: str, lang: str) -> Evidence:
    """Compares a text with a language's common words and 3-grams.

    Args:
        text: Any string.
        lang: The language (any ISO 639-1/3 or FLORES code).

    Returns:
        The :class:`Evidence`; without a profile for ``lang``, its shares are 0 and ``floor``
        is ``None``.

    Raises:
        InvalidInputError: If ``text`` is not a string or the code is unknown.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
    code = normalize_code(lang)
    profile = _profiles().get(code)
    if profile is None:
        return Evidence(code, len(tokens(text)), 0.0, 0.0, 0.0, None)
    count, word_share, gram_share = _shares(text, profile)
    return Evidence(
        code, count, word_share, gram_share, (word_share + gram_share) / 2, profile.floor
    )
