"""Response-language correctness (XRAG): is each answer in the language the user asked in?

Models often answer a Swahili question in English. Each response is split into sentences; every
sentence is identified and votes for its language with weight ``characters × confidence``. The
verdict is ``correct`` when the expected language wins the vote, ``mixed`` when it holds at least
``mixed_share`` of the vote without winning (code-switching), ``wrong_language`` otherwise, and
``undetermined`` when nothing could be identified (an empty answer, only digits).

Restricted identification (``candidates``) always names a candidate: asked "Swahili or
English?", it calls invented words Swahili. So a win of the expected language is confirmed
(``open_set``, the default) by evidence that the text really is in it, taken on the sentences
that voted for it:

* the unrestricted ``evidence_backends`` (pycld2 and py3langid): how many name the expected
  language or a language they cannot tell from it (:data:`SIBLINGS`: Indonesian and Malay), the
  support, and how many name another one;
* the share of the language's common words and character 3-grams
  (:func:`xling.lid.evidence.language_evidence`) against the floor measured for that language
  (the 5th percentile over its real sentences); a score under half the floor is alien.

The win stands (``correct``) when the words are not alien and the backends support the language
more often than they name another, or as often with the words reaching the floor. Under
:data:`SHORT_WORDS` words, where open-set LID guesses, it stands when the words reach the floor,
half of them are common words, or a backend supports it with words not alien. A language
without a word profile stands when the backends support it more often than not. When it does not
stand, the verdict is ``wrong_language`` if the text is not short, its words fall short and every
backend names the same other language (whose own words do not fall short of its floor), and
``unsure`` otherwise.
Measured in ``bench/rag_language.py``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import check_sequence, json_object, preview
from xling.eval.files import read_hypotheses, read_text_file
from xling.lid import UNDETERMINED, default_backend, get_identifier
from xling.lid.evidence import language_evidence

__all__ = [
    "Verdict",
    "LanguageVerdict",
    "LanguageSummary",
    "LanguageReport",
    "LanguageChecker",
    "split_sentences",
    "summarize",
    "read_responses",
]

Verdict = Literal["correct", "mixed", "wrong_language", "unsure", "undetermined"]

# Unrestricted backends whose agreement confirms a restricted win: fast, and together they know
# Wolof, Hausa and Yoruba (pycld2) as well as 97 languages (py3langid).
EVIDENCE_BACKENDS = ("pycld2", "py3langid")
# Languages open-set backends cannot tell apart (one standard language, or measured: pycld2,
# lingua and py3langid split real Indonesian sentences between ind and zsm): a backend naming
# one of them supports the expected language.
_SIBLING_GROUPS = (frozenset({"ind", "zsm"}), frozenset({"hrv", "bos", "srp"}))
SIBLINGS: dict[str, frozenset[str]] = {
    code: group - {code} for group in _SIBLING_GROUPS for code in group
}
# Below this many words, open-set backends are guesses and do not count against the language.
SHORT_WORDS = 4

# Sentence ends: Latin/Cyrillic/Arabic/Devanagari punctuation followed by space, CJK full stops
# (no space follows them), and line breaks.
_SENTENCE_END = re.compile(r"(?<=[.!?;؟۔।॥])\s+|(?<=[。！？；])|\n+")


def split_sentences(text: str) -> list[str]:
    """Splits a response into sentences (non-empty, stripped)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


@dataclass(frozen=True)
class LanguageVerdict:
    """The language check of one response.

    Attributes:
        expected: Canonical code of the expected language.
        detected: The language that won the sentence vote (``und`` if none).
        verdict: ``correct``, ``mixed``, ``wrong_language``, ``unsure`` (the expected language
            won a restricted vote but the evidence that the text is in it is thin) or
            ``undetermined``.
        confidence: Weighted confidence of the detected language over the whole response, 0–1.
        expected_share: Share of the vote held by the expected language, 0–1.
        votes: Vote share per detected language.
        sentences: Number of sentences voted.
        backend: LID backend used.
        evidence: Common-word and 3-gram score of the sentences that voted for the expected
            language (``None`` when the open-set check did not run or the language has no
            profile).
        unrestricted: Each evidence backend's open-set answer on those sentences.
    """

    expected: str
    detected: str
    verdict: Verdict
    confidence: float
    expected_share: float
    votes: dict[str, float]
    sentences: int
    backend: str
    evidence: float | None = None
    unrestricted: dict[str, str] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        """Whether the response is in the expected language."""
        return self.verdict == "correct"

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data (``votes`` and ``sentences`` left out).

        Returns:
            ``expected``, ``detected``, ``verdict``, ``confidence``, ``expected_share``,
            ``backend``, ``evidence`` and ``unrestricted``.
        """
        return {
            "expected": self.expected,
            "detected": self.detected,
            "verdict": self.verdict,
            "confidence": self.confidence,
            "expected_share": self.expected_share,
            "backend": self.backend,
            "evidence": self.evidence,
            "unrestricted": dict(self.unrestricted),
        }


@dataclass(frozen=True)
class LanguageSummary:
    """Response-language figures for one expected language.

    Attributes:
        expected: The expected language.
        total: Responses checked.
        verdicts: Count per verdict.
        detected: Count per detected language.
        mean_confidence: Mean confidence of the verdicts.
    """

    expected: str
    total: int
    verdicts: dict[str, int]
    detected: dict[str, int]
    mean_confidence: float

    @property
    def accuracy(self) -> float:
        """Share of responses in the expected language."""
        return self.verdicts.get("correct", 0) / self.total

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data.

        Returns:
            ``accuracy``, ``total``, ``verdicts``, ``detected`` and ``mean_confidence``.
        """
        return {
            "accuracy": self.accuracy,
            "total": self.total,
            "verdicts": dict(self.verdicts),
            "detected": dict(self.detected),
            "mean_confidence": self.mean_confidence,
        }


@dataclass(frozen=True)
class LanguageReport:
    """All verdicts and a summary per expected language."""

    verdicts: list[LanguageVerdict]
    per_language: dict[str, LanguageSummary] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Share of all responses in their expected language."""
        return sum(v.correct for v in self.verdicts) / len(self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``xling eval lang --json`` prints).

        Returns:
            ``accuracy``, ``per_language`` (code → :meth:`LanguageSummary.to_dict`) and
            ``verdicts`` (a list of :meth:`LanguageVerdict.to_dict`).
        """
        return {
            "accuracy": self.accuracy,
            "per_language": {code: s.to_dict() for code, s in self.per_language.items()},
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


@dataclass
class LanguageChecker:
    """Checks that responses are in the expected language.

    Attributes:
        backend: LID backend name, or ``None`` for the backend measured best for each expected
            language (:func:`xling.lid.default_backend`).
        candidates: Extra languages for restricted LID (the expected language is always added);
            e.g. ``["eng"]`` to decide only between the expected language and English. ``None``
            identifies among every language the backend knows.
        sentence_voting: Split long answers into sentences that vote; otherwise identify the
            whole response at once.
        mixed_share: Minimum vote share of the expected language for a ``mixed`` verdict.
        open_set: Confirm a win of the expected language with evidence that the text is in it
            (see the module's description), giving ``unsure`` or ``wrong_language`` when it is
            thin or points elsewhere; ``False`` keeps the vote's verdict.
        evidence_backends: The unrestricted backends consulted by ``open_set``.
    """

    backend: str | None = None
    candidates: Sequence[str] | None = None
    sentence_voting: bool = True
    mixed_share: float = 0.25
    open_set: bool = True
    evidence_backends: Sequence[str] = EVIDENCE_BACKENDS

    def __post_init__(self) -> None:
        if self.candidates is not None:
            codes = check_sequence(self.candidates, "candidates", "language codes")
            self.candidates = [normalize_code(code) for code in codes]
        names = check_sequence(self.evidence_backends, "evidence_backends", "LID backend names")
        for name in names:
            get_identifier(name)  # fail early on an unknown name
        self.evidence_backends = tuple(names)
        if (
            isinstance(self.mixed_share, bool)
            or not isinstance(self.mixed_share, int | float)
            or not 0.0 < self.mixed_share <= 0.5
        ):
            raise InvalidInputError(
                f"mixed_share={self.mixed_share} is not allowed; use a value in (0, 0.5]"
            )
        if self.backend is not None:
            get_identifier(self.backend)  # fail early on an unknown name

    def check(self, expected: str, response: str) -> LanguageVerdict:
        """Checks one response.

        Args:
            expected: The expected language (ISO 639-1/3 or FLORES code).
            response: The model's answer.

        Returns:
            The :class:`LanguageVerdict`.

        Raises:
            InvalidInputError: If the code is unknown or the response is not a string.
        """
        code = normalize_code(expected)
        if not isinstance(response, str):
            raise InvalidInputError(f"response must be a string, got {type(response).__name__}")
        name = self.backend or default_backend(code)
        identifier = get_identifier(name)
        restricted = (
            None
            if self.candidates is None
            else sorted({code, *(normalize_code(c) for c in self.candidates)})
        )
        parts = split_sentences(response) if self.sentence_voting else [response.strip()]
        parts = [p for p in parts if p]
        weights: dict[str, float] = defaultdict(float)
        total = 0.0
        voted: list[str] = []
        for part, detection in zip(parts, identifier.detect_many(parts, restricted), strict=True):
            size = float(len(part))
            total += size
            if detection.lang != UNDETERMINED:
                weights[detection.lang] += size * detection.confidence
            if detection.lang == code:
                voted.append(part)
        verdict = self._verdict(code, weights, total, len(parts), name)
        if not self.open_set or verdict.verdict != "correct":
            return verdict
        return self._confirm(verdict, " ".join(voted))

    def _confirm(self, verdict: LanguageVerdict, text: str) -> LanguageVerdict:
        """The open-set check of a restricted win (see the module's description)."""
        code = verdict.expected
        found: dict[str, str] = {}
        for name in self.evidence_backends:
            identifier = get_identifier(name)
            if code in identifier.supported_languages():
                found[name] = identifier.detect(text).lang
        same = {code, *SIBLINGS.get(code, ())}
        support = sum(lang in same for lang in found.values())
        others = [lang for lang in found.values() if lang not in (*same, UNDETERMINED)]
        evidence = language_evidence(text, code)
        enough = evidence.enough
        short = evidence.words < SHORT_WORDS
        # Words far under the floor (half of it) are not the language's, whatever LID says.
        alien = (
            enough is False and evidence.floor is not None and evidence.score < evidence.floor / 2
        )
        if enough is None:
            confirmed = support > len(others)
        elif short:
            # Open-set LID guesses on a few words; the restricted vote and the words decide.
            confirmed = enough or evidence.word_share >= 0.5 or (support > 0 and not alien)
        else:
            confirmed = not alien and (support > len(others) or (enough and support >= len(others)))
        outcome: Verdict = "correct"
        detected = verdict.detected
        if not confirmed:
            outcome = "unsure"
            unanimous = len(found) > 1 and len(others) == len(found) and len(set(others)) == 1
            if not enough and not short and unanimous:
                other = language_evidence(text, others[0]).enough
                if other is not False:
                    outcome, detected = "wrong_language", others[0]
        score = evidence.score if evidence.floor is not None else None
        return replace(
            verdict, detected=detected, verdict=outcome, evidence=score, unrestricted=found
        )

    def _verdict(
        self, code: str, weights: dict[str, float], total: float, count: int, backend: str
    ) -> LanguageVerdict:
        mass = sum(weights.values())
        if mass <= 0.0:
            return LanguageVerdict(code, UNDETERMINED, "undetermined", 0.0, 0.0, {}, count, backend)
        votes = {lang: w / mass for lang, w in sorted(weights.items(), key=lambda kv: -kv[1])}
        detected = next(iter(votes))
        share = votes.get(code, 0.0)
        verdict: Verdict
        if detected == code:
            verdict = "correct"
        elif share >= self.mixed_share:
            verdict = "mixed"
        else:
            verdict = "wrong_language"
        confidence = weights[detected] / total
        return LanguageVerdict(code, detected, verdict, confidence, share, votes, count, backend)

    def check_many(self, items: Iterable[tuple[str, str]]) -> LanguageReport:
        """Checks ``(expected language, response)`` pairs and summarises per language.

        Raises:
            InvalidInputError: If there are no items, or an item is malformed.
        """
        verdicts = []
        for i, item in enumerate(check_sequence(items, "items", "(language, response) pairs")):
            if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 2:
                raise InvalidInputError(
                    f"items[{i}] is {preview(item)}; each item must be an (expected language, "
                    "response) pair"
                )
            verdicts.append(self.check(item[0], item[1]))
        if not verdicts:
            raise InvalidInputError("no responses to check; give at least one")
        return LanguageReport(verdicts, summarize(verdicts))


def summarize(verdicts: Sequence[LanguageVerdict]) -> dict[str, LanguageSummary]:
    """Verdict and detected-language counts per expected language."""
    groups: dict[str, list[LanguageVerdict]] = defaultdict(list)
    for verdict in verdicts:
        groups[verdict.expected].append(verdict)
    return {
        lang: LanguageSummary(
            expected=lang,
            total=len(group),
            verdicts=dict(Counter(v.verdict for v in group)),
            detected=dict(Counter(v.detected for v in group).most_common()),
            mean_confidence=sum(v.confidence for v in group) / len(group),
        )
        for lang, group in sorted(groups.items())
    }


def read_responses(
    path: str | Path,
    expected: str | None = None,
    *,
    lang_field: str = "lang",
    text_field: str = "response",
) -> list[tuple[str, str]]:
    """Reads the responses to check from a file.

    Args:
        path: JSONL with one ``{lang, response}`` object per line (blank lines skipped), or,
            with ``expected``, plain text with one response per line (or JSONL read as
            :func:`~xling.eval.files.read_hypotheses` does).
        expected: The expected language of every response of a plain-text file.
        lang_field: JSON key of the expected language.
        text_field: JSON key of the response text.

    Returns:
        ``(expected language, response)`` pairs for :meth:`LanguageChecker.check_many`; the
        codes are as written (the checker normalises them).

    Raises:
        InvalidInputError: If the file is missing, not UTF-8 or empty, or a line is not a JSON
            object with string ``lang_field`` and ``text_field`` values; the message names
            ``file:line``.
    """
    if expected is not None:
        return [(expected, text) for text in read_hypotheses(path)]
    items: list[tuple[str, str]] = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        if not line.lstrip().startswith("{"):
            raise InvalidInputError(
                f"{where} is not JSON; give JSONL, or plain lines with --expected LANG"
            )
        record = json_object(line, where)
        text, lang = record.get(text_field), record.get(lang_field)
        if not isinstance(text, str):
            raise InvalidInputError(f"{where} has no string field {text_field!r}")
        if not isinstance(lang, str):
            raise InvalidInputError(
                f"{where} has no string field {lang_field!r} (expected language)"
            )
        items.append((lang, text))
    if not items:
        raise InvalidInputError(f"file {str(path)!r} is empty")
    return items
