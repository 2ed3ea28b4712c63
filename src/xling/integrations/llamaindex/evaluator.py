"""``LanguageCorrectnessEvaluator``: is a response in the language of its query?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.evaluation import BaseEvaluator, EvaluationResult
from llama_index.core.prompts.mixin import PromptDictType

from xling.core.languages import language_name, normalize_code
from xling.eval.language_check import LanguageChecker
from xling.lid import UNDETERMINED, get_identifier

__all__ = ["LanguageCorrectnessEvaluator"]


class LanguageCorrectnessEvaluator(BaseEvaluator):
    """Passes when the response is in the query's language (or the one given).

    The response's language is identified among the expected language, English and any
    ``candidates`` (restricted LID, reliable on short answers), with xling's per-language best
    backend. ``score`` is the LID confidence of the detected language; ``feedback`` names it.

    Args:
        language: The expected language; ``None``: detected from each query.
        candidates: Further languages the response may be in (the passages', say).
        backend: LID backend of the check (``None``: the best measured per language).
        query_backend: LID backend that detects the query's language.
    """

    def __init__(
        self,
        language: str | None = None,
        *,
        candidates: Sequence[str] = (),
        backend: str | None = None,
        query_backend: str = "pycld2",
    ) -> None:
        self.language = normalize_code(language) if language else None
        self.candidates = [normalize_code(c) for c in candidates]
        self.backend = backend
        self._query_lid = get_identifier(query_backend)
        if backend is not None:
            get_identifier(backend)

    @classmethod
    def class_name(cls) -> str:
        """The LlamaIndex class name."""
        return "LanguageCorrectnessEvaluator"

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        return None

    async def aevaluate(
        self,
        query: str | None = None,
        response: str | None = None,
        contexts: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        """Checks one response (``query`` is needed when no ``language`` was given)."""

        def invalid(reason: str) -> EvaluationResult:
            return EvaluationResult(
                query=query, response=response, contexts=contexts, invalid_result=True,
                invalid_reason=reason,
            )  # fmt: skip

        if response is None or not response.strip():
            return invalid("no response")
        expected = self.language
        if expected is None:
            if not query:
                return invalid("no query to detect the expected language from; give language=")
            found = self._query_lid.detect(query).lang
            if found == UNDETERMINED:
                return invalid("the query's language could not be identified; give language=")
            expected = found
        checker = LanguageChecker(
            backend=self.backend, candidates=sorted({"eng", *self.candidates} - {expected})
        )
        verdict = checker.check(expected, response)
        passing = verdict.verdict == "correct"
        feedback = (
            f"the response is in {verdict.detected} (confidence {verdict.confidence:.2f}); "
            f"expected {language_name(expected)} ({expected}): "
            + ("correct" if passing else verdict.verdict.replace("_", " "))
        )
        return EvaluationResult(
            query=query, response=response, contexts=contexts, passing=passing,
            score=float(verdict.confidence), feedback=feedback,
        )  # fmt: skip
