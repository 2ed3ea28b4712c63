"""The ``pycld2`` backend (Compact Language Detector 2; the only backend here that knows Wolof)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from xling.core.imports import import_optional
from xling.lid.base import LanguageIdentifier, canonical_code

__all__ = ["Pycld2Identifier"]


def _cld2() -> Any:
    return import_optional("pycld2", "lid", "the pycld2 LID backend")


class Pycld2Identifier(LanguageIdentifier):
    """CLD2 in best-effort mode; confidence is the share of text bytes CLD2 gives a language.

    CLD2 reports at most three languages, so restricted mode picks the best candidate among
    them and answers ``und`` when none is a candidate.
    """

    name = "pycld2"

    @cached_property
    def supported(self) -> frozenset[str]:
        codes = (canonical_code(code) for _, code in _cld2().LANGUAGES)
        return frozenset(c for c in codes if c)

    def supported_languages(self) -> frozenset[str]:
        return self.supported

    def _scores(self, text: str, candidates: frozenset[str] | None) -> dict[str, float]:
        cld2 = _cld2()
        # CLD2 rejects control characters other than whitespace and invalid UTF-8.
        clean = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
        try:
            _, _, details = cld2.detect(clean, bestEffort=True)
        except cld2.error:
            return {}
        out: dict[str, float] = {}
        for _, raw, percent, _ in details:
            code = canonical_code(raw) if raw not in ("un", "xxx") else None
            if code and percent > 0:
                out[code] = out.get(code, 0.0) + percent / 100.0
        return out
