"""The language-identification interface shared by every backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code

__all__ = ["UNDETERMINED", "Detection", "LanguageIdentifier", "canonical_code"]

UNDETERMINED = "und"  # ISO 639-2 "undetermined": empty text, or no candidate matched


@dataclass(frozen=True)
class Detection:
    """One language-identification decision.

    Attributes:
        lang: Canonical ISO 639-3 code (``swh``), or ``und`` when nothing could be decided.
        confidence: The backend's confidence in ``lang``, 0–1.
        backend: The backend's registry name.
        scores: Up to five ``(code, confidence)`` alternatives, best first.
    """

    lang: str
    confidence: float
    backend: str
    scores: tuple[tuple[str, float], ...] = ()


def canonical_code(code: str) -> str | None:
    """Maps a backend's code (``zh-cn``, ``zh-Hant``, ``SWA``, ``sw``) to ISO 639-3, or ``None``."""
    base = code.replace("_", "-").split("-")[0].lower()
    try:
        return normalize_code(base)
    except InvalidInputError:
        return None


class LanguageIdentifier(ABC):
    """A language identifier with an optional restricted candidate set.

    Subclasses implement :meth:`_scores` (confidences over canonical codes) and
    :meth:`supported_languages`; this class validates input and candidates and picks the best.

    Attributes:
        name: Registry name of the backend.
    """

    name: str

    @abstractmethod
    def supported_languages(self) -> frozenset[str]:
        """Canonical ISO 639-3 codes the backend can output."""

    @abstractmethod
    def _scores(self, text: str, candidates: frozenset[str] | None) -> dict[str, float]:
        """Confidence per canonical code; restricted to ``candidates`` when given."""

    def check_candidates(self, candidates: Iterable[str] | None) -> frozenset[str] | None:
        """Normalises candidate codes and checks the backend knows each of them.

        Raises:
            InvalidInputError: If a code is unknown or the backend cannot identify it.
        """
        if candidates is None:
            return None
        if isinstance(candidates, str):
            raise InvalidInputError(f"candidates must be a list of codes, got {candidates!r}")
        codes = frozenset(normalize_code(c) for c in candidates)
        if not codes:
            raise InvalidInputError("candidates is empty; give at least one language code")
        missing = sorted(codes - self.supported_languages())
        if missing:
            raise InvalidInputError(
                f"LID backend {self.name!r} cannot identify {', '.join(missing)}; choose another "
                "backend (pycld2 is the only one that knows Wolof) or drop those candidates"
            )
        return codes

    def detect(self, text: str, candidates: Sequence[str] | None = None) -> Detection:
        """Identifies the language of one text.

        Args:
            text: Any string; an empty or whitespace-only text gives ``und``.
            candidates: If given, the answer is one of these codes (any ISO 639-1/3 or FLORES
                form): the restricted mode short answers need ({expected language, English}).

        Returns:
            The :class:`Detection`.

        Raises:
            InvalidInputError: If ``text`` is not a string or a candidate is unknown/unsupported.
        """
        return self._detect(text, self.check_candidates(candidates))

    def detect_many(
        self, texts: Iterable[str], candidates: Sequence[str] | None = None
    ) -> list[Detection]:
        """Identifies the language of each text (see :meth:`detect`)."""
        codes = self.check_candidates(candidates)
        return [self._detect(t, codes) for t in texts]

    def _detect(self, text: str, candidates: frozenset[str] | None) -> Detection:
        if not isinstance(text, str):
            raise InvalidInputError(f"LID input must be a string, got {type(text).__name__}")
        if not text.strip():
            return Detection(UNDETERMINED, 0.0, self.name)
        scores = {
            code: value
            for code, value in self._scores(text, candidates).items()
            if candidates is None or code in candidates
        }
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        if not ranked or ranked[0][1] <= 0.0:
            return Detection(UNDETERMINED, 0.0, self.name, tuple(ranked))
        best, confidence = ranked[0]
        return Detection(best, float(confidence), self.name, tuple(ranked))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
