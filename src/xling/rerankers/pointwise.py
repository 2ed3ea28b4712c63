"""Pointwise yes/no relevance by logprob: one prompt and one generated token per candidate.

The score is ``P(yes) / (P(yes) + P(no))`` over the first token's top alternatives (a cheap
reference for the listwise and pairwise rerankers). Without logprobs from the server
(``scoring="auto"``) the answer is generated and read as yes (1), no (0) or unreadable (0.5).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from xling.prompts.rerank import PointwiseTemplate, get_pointwise_template
from xling.rerankers.base import (
    Ledger,
    LLMReranker,
    RerankOrder,
    ShortAnswerConfig,
    answer_logprob,
    check_name,
    gather,
)
from xling.rerankers.calibration import CalibrationKind
from xling.rerankers.permutation import MAX_ANSWER_CHARS
from xling.rerankers.records import Repair, RerankRequest

__all__ = ["PointwiseConfig", "PointwiseReranker"]

_WORD = re.compile(r"[^\W\d_]+")  # the first word of an answer is read


@dataclass(frozen=True)
class PointwiseConfig(ShortAnswerConfig):
    """Options of :class:`PointwiseReranker` (plus those of :class:`ShortAnswerConfig`).

    Attributes:
        template: Pointwise template name (``yes_no``).
    """

    template: str = "yes_no"

    def __post_init__(self) -> None:
        super().__post_init__()
        get_pointwise_template(check_name(self.template, "template"))


class PointwiseReranker(LLMReranker):
    """Scores each candidate alone by the model's yes/no answer; all prompts in flight."""

    default_name = "pointwise"
    config_class = PointwiseConfig
    config: PointwiseConfig

    @property
    def calibration_kind(self) -> CalibrationKind:
        """``pointwise`` (Platt scaling of its ``P(yes)``)."""
        return "pointwise"

    def _setup(self) -> None:
        self.template: PointwiseTemplate = get_pointwise_template(self.config.template)

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        span = self.span(request)
        note = self.note(request)
        skeleton = self.template.messages(request.query, "", note=note)
        passages = await self.afitted_passages(request, skeleton, 1, reserve=self.config.max_tokens)
        scores = await gather(
            *(
                self._score(ledger, request.query, passages[i], note, request.candidates[i].id)
                for i in range(span)
            )
        )
        order = sorted(range(span), key=lambda i: (-scores[i], i))
        return RerankOrder(order, [scores[i] for i in order], rounds=1)

    async def _score(self, ledger: Ledger, query: str, passage: str, note: str, cid: str) -> float:
        messages = self.template.messages(query, passage, note=note)
        where = f"candidate {cid}"
        _, top = await self.alogprobs_or_none(
            ledger, messages, scoring=self.config.scoring, continue_final=False, where=where
        )
        if top is not None:
            yes = answer_logprob(top, self.template.yes, casefold=True)
            no = answer_logprob(top, self.template.no, casefold=True)
            if yes is not None or no is not None:
                p_yes = math.exp(yes) if yes is not None else 0.0
                p_no = math.exp(no) if no is not None else 0.0
                if p_yes + p_no > 0:
                    return p_yes / (p_yes + p_no)
            ledger.repairs.append(Repair("unparsed_answer", 1, where))
            return 0.5
        completion = await ledger.achat(
            messages,
            where=where,
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
        )
        word = _WORD.search(completion.text[:MAX_ANSWER_CHARS].casefold())
        if word is not None and word.group() in (self.template.yes, self.template.no):
            return 1.0 if word.group() == self.template.yes else 0.0
        ledger.repairs.append(Repair("unparsed_answer", 1, where))
        return 0.5
