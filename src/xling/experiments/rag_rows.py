"""What one question leaves in a RAG study cell (:class:`RagRow`) and a cell's scores.

A cell's ``outputs.jsonl`` holds one :class:`RagRow` per question, in question order; its
``scores.json`` holds :func:`cell_scores` of those rows: per question language and ``all``,

- ``n``: questions; ``R@k``: Recall@k in % (questions with relevance judgements only);
- ``char3_recall``, ``em``, ``f1``: answer correctness in % (questions with gold answers only);
- ``lang_ok_first`` / ``lang_ok_final``: % of answers in the asker's language at the first
  attempt and after the re-ask; ``unsure_final``: % of final answers the language check could
  not confirm either way (verdict ``unsure``: no evidence the text is in the language);
- ``seconds``: mean wall time of a question through the pipeline (its batch's retrieval
  included); ``prompt_tokens``, ``completion_tokens``, ``calls``: mean LLM use per question.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from xling.core.records import Hit

__all__ = ["ALL", "ANSWER_METRICS", "RagRow", "cell_scores", "judge", "recall_name"]

ALL = "all"
"""The language key of the scores over every question."""
ANSWER_METRICS = ("char3_recall", "em", "f1")
_PERCENT = (*ANSWER_METRICS, "lang_ok_first", "lang_ok_final", "unsure_final")
_MEANS = ("seconds", "prompt_tokens", "completion_tokens", "calls")


def recall_name(k: int) -> str:
    """The metric name of Recall@k (``R@5``)."""
    return f"R@{k}"


@dataclass(frozen=True)
class RagRow:
    """One question of one cell.

    Attributes:
        qid: The question's id.
        lang: The asker's language.
        question: The question.
        retrieved: Retrieved passage ids, best first (as deep as the largest k).
        recall: ``R@k`` → 0–1 for this question (empty: no relevance judgement).
        answer: The final answer (``None``: retrieval only, or the LLM failed).
        first_answer: The first attempt's answer (differs from ``answer`` after a re-ask).
        language: The language detected in the final answer.
        lang_ok_first: Whether the first attempt was in the asker's language.
        lang_ok_final: Whether the final answer is.
        verdicts: Each attempt's language verdict (``correct``, ``unsure``, ...), in order.
        scores: ``char3_recall``, ``em``, ``f1`` of the final answer, 0–1 (empty: no gold
            answer, or no answer generated).
        seconds: Wall time of the question through the pipeline.
        prompt_tokens: LLM prompt tokens of the question's answers (the re-ask included; its
            query translations are not counted, and are cached across cells).
        completion_tokens: LLM completion tokens.
        calls: LLM answer calls (2 after a re-ask).
        translations: Language → the question's translation that searched it (query
            translation only).
        error: Why the answer is missing, if it is.
    """

    qid: str
    lang: str
    question: str
    retrieved: tuple[str, ...] = ()
    recall: dict[str, float] = field(default_factory=dict)
    answer: str | None = None
    first_answer: str | None = None
    language: str | None = None
    lang_ok_first: bool | None = None
    lang_ok_final: bool | None = None
    verdicts: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    translations: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["retrieved"] = list(self.retrieved)
        data["verdicts"] = list(self.verdicts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RagRow:
        """The inverse of :meth:`to_dict`."""
        values = dict(data)
        values["retrieved"] = tuple(values.get("retrieved", ()))
        values["verdicts"] = tuple(values.get("verdicts", ()))
        return cls(**values)

    def value(self, metric: str) -> float | None:
        """This question's value of a cell metric (0–1 for shares), ``None`` when it has none."""
        if metric.startswith("R@"):
            return self.recall.get(metric)
        if metric in ANSWER_METRICS:
            return self.scores.get(metric)
        if metric == "unsure_final":
            return float(self.verdicts[-1] == "unsure") if self.verdicts else None
        if metric in ("lang_ok_first", "lang_ok_final"):
            flag = getattr(self, metric)
            return None if flag is None else float(flag)
        if metric in _MEANS:
            return float(getattr(self, metric))
        return None


def judge(
    hits: Sequence[Hit],
    ks: Sequence[int],
    *,
    gold_passages: Sequence[str] = (),
    answers: Sequence[str] = (),
    relevance: str = "passages",
) -> dict[str, float]:
    """Recall@k of one question's hits (best first); empty when it cannot be judged.

    With ``relevance="passages"`` a hit is relevant when its id, its ``doc_id`` or its text is
    one of ``gold_passages``, and R@k is the share of gold passages found in the top k (several
    chunks of one gold document count once). With ``relevance="answers"`` a hit is relevant
    when its text holds one of ``answers`` (case-sensitive), and R@k is 1 when one of the top k
    is relevant.
    """
    if relevance == "answers":
        if not answers:
            return {}
        first = next(
            (r for r, h in enumerate(hits, 1) if any(a in h.text for a in answers)), math.inf
        )
        return {recall_name(k): float(first <= k) for k in ks}
    golds = set(gold_passages)
    if not golds:
        return {}
    found: list[set[str]] = []
    for hit in hits:
        names = {hit.id, str(hit.metadata.get("doc_id", "")), hit.text.strip()}
        found.append(names & golds)
    return {recall_name(k): len(set().union(*found[:k])) / len(golds) for k in ks}


def cell_scores(rows: Sequence[RagRow], ks: Sequence[int]) -> dict[str, dict[str, float]]:
    """Per language (``all`` first, then languages sorted): ``n`` and the mean of every metric
    that some question has (see the module); shares in %."""
    out: dict[str, dict[str, float]] = {}
    langs = [ALL, *sorted({r.lang for r in rows})]
    metrics = [recall_name(k) for k in ks] + [*_PERCENT, *_MEANS]
    for lang in langs:
        mine = [r for r in rows if lang in (ALL, r.lang)]
        entry: dict[str, float] = {"n": float(len(mine))}
        answered = any(r.calls for r in mine)
        for metric in metrics:
            if metric in _MEANS[1:] and not answered:
                continue
            values = [v for r in mine if (v := r.value(metric)) is not None]
            if values:
                mean = sum(values) / len(values)
                entry[metric] = 100.0 * mean if metric not in _MEANS else mean
        out[lang] = entry
    return out
