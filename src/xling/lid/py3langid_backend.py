"""The ``py3langid`` backend (langid.py's multinomial naive Bayes, 97 languages, fast)."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any

from xling.core.errors import missing_extra_error
from xling.lid.base import LanguageIdentifier, canonical_code

__all__ = ["Py3langidIdentifier"]


def _load() -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise missing_extra_error("py3langid", "lid", "the py3langid LID backend") from exc
    return LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)


class Py3langidIdentifier(LanguageIdentifier):
    """py3langid with normalised probabilities; restricted mode uses its ``set_languages``."""

    name = "py3langid"

    @cached_property
    def _open(self) -> Any:
        return _load()

    @cached_property
    def _codes(self) -> dict[str, str]:
        """Canonical code → py3langid's two-letter class."""
        out: dict[str, str] = {}
        for raw in self._open.nb_classes:
            code = canonical_code(str(raw))
            if code:
                out.setdefault(code, str(raw))
        return out

    def supported_languages(self) -> frozenset[str]:
        return frozenset(self._codes)

    @lru_cache(maxsize=16)  # noqa: B019 - one model copy per candidate set, for the object's life
    def _restricted(self, candidates: frozenset[str]) -> Any:
        model = _load()
        model.set_languages([self._codes[c] for c in sorted(candidates)])
        return model

    def _scores(self, text: str, candidates: frozenset[str] | None) -> dict[str, float]:
        model = self._open if candidates is None else self._restricted(candidates)
        ranked = model.rank(text)
        total = sum(float(p) for _, p in ranked)
        out: dict[str, float] = {}
        for raw, prob in ranked:
            code = canonical_code(str(raw))
            if code and total > 0:
                out[code] = out.get(code, 0.0) + float(prob) / total
        return out
