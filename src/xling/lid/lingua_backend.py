"""The ``lingua`` backend (lingua-language-detector: n-grams plus rules, good on short text)."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any

from xling.core.imports import import_optional
from xling.lid.base import LanguageIdentifier, canonical_code

__all__ = ["LinguaIdentifier"]


def _lingua() -> Any:
    return import_optional("lingua", "lid", "the lingua LID backend")


class LinguaIdentifier(LanguageIdentifier):
    """lingua over its 75 languages, or over exactly the candidates in restricted mode.

    The open detector loads every language model on first use (tens of seconds); restricted
    detectors load only their candidates and are cached per candidate set.
    """

    name = "lingua"

    @cached_property
    def _languages(self) -> dict[str, Any]:
        """Canonical code → ``lingua.Language``."""
        out: dict[str, Any] = {}
        for language in _lingua().Language.all():
            code = canonical_code(language.iso_code_639_3.name)
            if code:
                out[code] = language
        return out

    def supported_languages(self) -> frozenset[str]:
        return frozenset(self._languages)

    @cached_property
    def _open(self) -> Any:
        return _lingua().LanguageDetectorBuilder.from_all_languages().build()

    @lru_cache(maxsize=32)  # noqa: B019 - one detector per candidate set, for the object's life
    def _restricted(self, candidates: frozenset[str]) -> Any:
        languages = [self._languages[c] for c in sorted(candidates)]
        if len(languages) == 1:  # lingua needs two; the answer is then forced anyway
            other = "eng" if "eng" not in candidates else "fra"
            languages.append(self._languages[other])
        return _lingua().LanguageDetectorBuilder.from_languages(*languages).build()

    def _scores(self, text: str, candidates: frozenset[str] | None) -> dict[str, float]:
        detector = self._open if candidates is None else self._restricted(candidates)
        out: dict[str, float] = {}
        for value in detector.compute_language_confidence_values(text):
            code = canonical_code(value.language.iso_code_639_3.name)
            if code:
                out[code] = float(value.value)
        return out
