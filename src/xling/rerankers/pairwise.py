"""Pairwise ranking prompting (PRP, Qin et al. 2023) over an OpenAI-compatible server.

Every comparison asks both orders ("Passage A" = i, then "Passage A" = j) concurrently. Each
answer is read from the logprobs of the answer token after the assistant's ``Passage`` (one
generated token); ``scoring="auto"`` generates and parses ``Passage A``/``Passage B`` instead
when the server returns no logprobs (recorded as a ``generation`` fallback), ``"logprob"``
raises there, ``"generate"`` always generates. Consistent answers count 1 for the winner,
disagreement 0.5 each; an unreadable answer counts half for each side.

Variants and their call counts are in :mod:`xling.rerankers.pairwise_variants`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from xling.core.validation import check_choice, check_positive_int
from xling.prompts.rerank import PairwiseTemplate, get_pairwise_template
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
from xling.rerankers.pairwise_variants import PAIRWISE_VARIANTS
from xling.rerankers.permutation import MAX_ANSWER_CHARS
from xling.rerankers.records import Repair, RerankRequest

__all__ = ["PairwiseConfig", "PairwiseReranker", "PairwiseVariant", "parse_choice"]

PairwiseVariant = Literal["allpair", "heapsort", "sliding"]
Choice = Literal["A", "B"]
_CHOICE = re.compile(r"passage\s*([AB])\b", re.IGNORECASE)
_BARE_CHOICE = re.compile(r"^\W*([AB])\b")


def parse_choice(text: str) -> Choice | None:
    """Reads ``A`` or ``B`` from a generated answer (``"Passage B"``, ``" A."``), else ``None``."""
    text = text[:MAX_ANSWER_CHARS]
    match = _CHOICE.search(text) or _BARE_CHOICE.search(text)
    if match is None:
        return None
    return "A" if match.group(1).upper() == "A" else "B"


@dataclass(frozen=True)
class PairwiseConfig(ShortAnswerConfig):
    """Options of :class:`PairwiseReranker` (plus those of :class:`ShortAnswerConfig`).

    Attributes:
        variant: ``allpair``, ``heapsort`` (top-k) or ``sliding`` (k passes).
        top_k: Heapsort: how many are extracted; sliding: how many passes.
        template: Pairwise template name (``prp``).
        max_tokens: Tokens generated per answer when generating (8 here).
    """

    max_tokens: int = 8
    variant: PairwiseVariant = "heapsort"
    top_k: int = 10
    template: str = "prp"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.variant, "variant", tuple(PAIRWISE_VARIANTS))
        check_positive_int(self.top_k, "top_k")
        get_pairwise_template(check_name(self.template, "template"))


class PairwiseReranker(LLMReranker):
    """PRP reranking: ``allpair``, ``heapsort`` top-k or ``sliding`` k passes.

    Args:
        client: The LLM client.
        config: Options; or give them as keywords (``variant="heapsort", top_k=10``).
        name: Name reported in results.
    """

    default_name = "prp"
    config_class = PairwiseConfig
    config: PairwiseConfig

    @property
    def calibration_kind(self) -> CalibrationKind:
        """``pairwise``."""
        return "pairwise"

    def _setup(self) -> None:
        self.template: PairwiseTemplate = get_pairwise_template(self.config.template)

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        span = self.span(request)
        if span < 2:
            return RerankOrder(list(range(span)))
        note = self.note(request)
        skeleton = self.template.messages(request.query, "", "", note=note)
        passages = await self.afitted_passages(request, skeleton, 2, reserve=self.config.max_tokens)
        asked = 0

        async def compare(i: int, j: int) -> float:
            nonlocal asked
            asked += 1
            a, b = request.candidates[i].id, request.candidates[j].id
            # Each prompt order is its own step: "pair 3 (d1 vs d7)" shows d1 as Passage A.
            first, second = await gather(
                self._choose(
                    ledger,
                    request.query,
                    passages[i],
                    passages[j],
                    note,
                    f"pair {asked} ({a} vs {b})",
                ),
                self._choose(
                    ledger,
                    request.query,
                    passages[j],
                    passages[i],
                    note,
                    f"pair {asked} ({b} vs {a})",
                ),
            )
            return (_WIN_AS_A[first] + (1.0 - _WIN_AS_A[second])) / 2

        variant = PAIRWISE_VARIANTS[self.config.variant]
        outcome = await variant(list(range(span)), compare, self.config.top_k)
        return RerankOrder(
            outcome.order, outcome.scores, comparisons=outcome.comparisons, rounds=outcome.rounds
        )

    async def _choose(
        self, ledger: Ledger, query: str, a: str, b: str, note: str, where: str
    ) -> Choice | None:
        """Which passage the model prefers in one order; ``None`` when unreadable."""
        _, top = await self.alogprobs_or_none(
            ledger,
            self.template.scoring_messages(query, a, b, note=note),
            scoring=self.config.scoring,
            continue_final=True,
            where=where,
        )
        if top is not None:
            lp_a, lp_b = answer_logprob(top, "A"), answer_logprob(top, "B")
            if lp_a is None and lp_b is None:
                ledger.repairs.append(Repair("unparsed_answer", 1, where))
                return None
            if lp_a == lp_b:
                return None
            return "A" if (lp_b is None or (lp_a is not None and lp_a > lp_b)) else "B"
        completion = await ledger.achat(
            self.template.messages(query, a, b, note=note),
            where=where,
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
        )
        choice = parse_choice(completion.text)
        if choice is None:
            ledger.repairs.append(Repair("unparsed_answer", 1, where))
        return choice


_WIN_AS_A: dict[Choice | None, float] = {"A": 1.0, "B": 0.0, None: 0.5}
