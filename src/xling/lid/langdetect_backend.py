"""The ``langdetect`` backend (a port of Google's language-detection: naive Bayes on n-grams)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from xling.core.errors import missing_extra_error
from xling.lid.base import LanguageIdentifier, canonical_code

__all__ = ["LangdetectIdentifier"]


class LangdetectIdentifier(LanguageIdentifier):
    """langdetect with a fixed seed (its sampling is random otherwise) and its own factory.

    Restricted mode sets a prior of zero on every non-candidate profile, so the answer is the
    most probable candidate under the same model.
    """

    name = "langdetect"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @cached_property
    def _factory(self) -> Any:
        try:
            from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
        except ImportError as exc:
            raise missing_extra_error("langdetect", "lid", "the langdetect LID backend") from exc
        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        factory.seed = self.seed
        return factory

    @cached_property
    def _codes(self) -> dict[str, list[str]]:
        """Canonical code → langdetect profiles (``cmn`` → ``zh-cn``, ``zh-tw``)."""
        out: dict[str, list[str]] = {}
        for raw in self._factory.get_lang_list():
            code = canonical_code(raw)
            if code:
                out.setdefault(code, []).append(raw)
        return out

    def supported_languages(self) -> frozenset[str]:
        return frozenset(self._codes)

    def _scores(self, text: str, candidates: frozenset[str] | None) -> dict[str, float]:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        if candidates is not None:
            raws = [raw for code in candidates for raw in self._codes[code]]
            detector.set_prior_map({raw: 1.0 / len(raws) for raw in raws})
        detector.append(text)
        try:
            probabilities = detector.get_probabilities()
        except LangDetectException:  # no letters to work with (digits, punctuation)
            return {}
        out: dict[str, float] = {}
        for item in probabilities:
            code = canonical_code(item.lang)
            if code:
                out[code] = out.get(code, 0.0) + float(item.prob)
        return out
