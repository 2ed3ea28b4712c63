"""Setwise reranking (Zhuang et al. 2024, ielab/llm-rankers) over an OpenAI-compatible server.

Each prompt shows ``num_child + 1`` passages labelled ``A``, ``B``, ``C``, ... and asks for the
most relevant; a heap sort or a bubble sort (:mod:`xling.rerankers.setwise_variants`) built on
that choice orders the top ``top_k``. The answer is read from the logprobs of the label token
after the assistant's ``Passage`` (one generated token; llm-rankers' likelihood scoring), the
likeliest shown label winning; ``scoring="auto"`` generates and parses ``Passage C`` instead
when the server returns no logprobs (recorded as a ``generation`` fallback), ``"logprob"``
raises there, ``"generate"`` always generates. An answer that names no shown passage keeps the
first one shown (llm-rankers does the same) and is recorded as a repair: ``unparsed_answer``
(no label read) or ``out_of_range_dropped`` (a label past the passages shown).

Each choice is one LLM call, counted in :attr:`RerankResult.comparisons`; ``rounds`` is the
longest chain of calls that waited for each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from xling.core.errors import InvalidInputError
from xling.core.validation import check_choice, check_positive_int
from xling.prompts.rerank import (
    SetwiseTemplate,
    get_setwise_template,
    identifier_labels,
    label_index,
)
from xling.rerankers.base import (
    MAX_TOP_LOGPROBS,
    Ledger,
    LLMReranker,
    RerankOrder,
    ShortAnswerConfig,
    answer_logprob,
    check_name,
)
from xling.rerankers.calibration import CalibrationKind
from xling.rerankers.permutation import MAX_ANSWER_CHARS
from xling.rerankers.records import Repair, RerankRequest
from xling.rerankers.setwise_variants import SETWISE_METHODS

__all__ = ["SetwiseConfig", "SetwiseReranker", "SetwiseMethodName", "parse_label"]

SetwiseMethodName = Literal["heapsort", "bubblesort"]
# Each shown label must be among the top alternatives vLLM returns (20 by default).
MAX_NUM_CHILD = MAX_TOP_LOGPROBS - 1
_PASSAGE_LABEL = re.compile(r"passage(?:\s+\[?|\s*\[)([A-Z])\b", re.IGNORECASE)
# A bare label must be the whole answer: "I cannot tell" names no passage I.
_BARE_LABEL = re.compile(r"^\W*([A-Z])\W*$", re.IGNORECASE)


def parse_label(text: str) -> int | None:
    """Reads the 0-based index of the label a generated answer names, else ``None``.

    ``"Passage C"`` (the first such mention), ``"passage c."``, ``"Passage [B]"``, and a label
    alone (``" C"``, ``"[B]"``) are read. The caller checks the index against the passages it
    showed.

    Args:
        text: The generated answer (read up to ``MAX_ANSWER_CHARS``).
    """
    text = text[:MAX_ANSWER_CHARS]
    match = _PASSAGE_LABEL.search(text) or _BARE_LABEL.search(text)
    if match is None:
        return None
    return label_index(match.group(1).upper(), "alpha")


@dataclass(frozen=True)
class SetwiseConfig(ShortAnswerConfig):
    """Options of :class:`SetwiseReranker` (plus those of :class:`ShortAnswerConfig`).

    Attributes:
        method: ``heapsort`` (a ``num_child``-ary heap, then ``top_k`` extractions) or
            ``bubblesort`` (``top_k`` passes of sliding windows from the bottom up).
        num_child: ``c``: each prompt shows ``c + 1`` passages (3 in llm-rankers; at most 19,
            so every label is among the 20 alternatives vLLM returns by default).
        top_k: How many top places are sorted; the rest keep their first-stage order.
        template: Setwise template name (``setwise``).
        max_tokens: Tokens generated per answer when generating (8 here: ``Passage C``).
    """

    max_tokens: int = 8
    method: SetwiseMethodName = "heapsort"
    num_child: int = 3
    top_k: int = 10
    template: str = "setwise"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.method, "method", tuple(SETWISE_METHODS))
        check_positive_int(self.num_child, "num_child")
        if self.num_child > MAX_NUM_CHILD:
            raise InvalidInputError(
                f"num_child={self.num_child!r} is not allowed; use 1..{MAX_NUM_CHILD} (each "
                "prompt shows num_child + 1 passages, and each label must be among the "
                f"{MAX_TOP_LOGPROBS} logprob alternatives)"
            )
        check_positive_int(self.top_k, "top_k")
        get_setwise_template(check_name(self.template, "template"))


class SetwiseReranker(LLMReranker):
    """Setwise reranking: the best of ``num_child + 1`` passages per prompt, heap or bubble sort.

    Args:
        client: The LLM client.
        config: Options; or give them as keywords (``method="heapsort", num_child=3``).
        name: Name reported in results.
    """

    default_name = "setwise"
    config_class = SetwiseConfig
    config: SetwiseConfig

    @property
    def calibration_kind(self) -> CalibrationKind:
        """``pairwise``: setwise gives an order only, as PRP does, and borrows its constants
        (which are the listwise ones; no setwise run has been fitted)."""
        return "pairwise"

    def _setup(self) -> None:
        self.template: SetwiseTemplate = get_setwise_template(self.config.template)

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        span = self.span(request)
        if span < 2:
            return RerankOrder(list(range(span)))
        note = self.note(request)
        per_prompt = min(self.config.num_child + 1, span)
        skeleton = self.template.scoring_messages(request.query, [""] * per_prompt, note=note)
        passages = await self.afitted_passages(
            request, skeleton, per_prompt, reserve=self.config.max_tokens
        )
        asked = 0

        async def choose(group: list[int]) -> int:
            nonlocal asked
            asked += 1
            # Shown in first-stage order, whatever the sort's order: a model biased toward the
            # first label (small ones are) then falls back to the first stage's choice, where
            # the heap's order would hand the pick to the item just moved to the root (the
            # list's worst) and sink a good first stage.
            shown = sorted(group)
            ids = ", ".join(request.candidates[i].id for i in shown)
            where = f"comparison {asked} ({ids})"
            texts = [passages[i] for i in shown]
            best = await self._choose(ledger, request.query, texts, note, where)
            return group.index(shown[best])

        method = SETWISE_METHODS[self.config.method]
        outcome = await method(list(range(span)), choose, self.config.num_child, self.config.top_k)
        return RerankOrder(outcome.order, comparisons=outcome.comparisons, rounds=outcome.rounds)

    async def _choose(
        self, ledger: Ledger, query: str, shown: list[str], note: str, where: str
    ) -> int:
        """The index of the passage the model picks; the first one when unreadable."""
        _, top = await self.alogprobs_or_none(
            ledger,
            self.template.scoring_messages(query, shown, note=note),
            scoring=self.config.scoring,
            continue_final=True,
            where=where,
        )
        if top is not None:
            labels = identifier_labels(len(shown), "alpha")
            labelled = [
                (lp, index)
                for index, label in enumerate(labels)
                if (lp := answer_logprob(top, label)) is not None
            ]
            if not labelled:
                ledger.repairs.append(Repair("unparsed_answer", 1, where))
                return 0
            # The likeliest label; on a tie the one shown first (as sorting by score would).
            return max(labelled, key=lambda pair: (pair[0], -pair[1]))[1]
        completion = await ledger.achat(
            self.template.messages(query, shown, note=note),
            where=where,
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
        )
        index = parse_label(completion.text)
        if index is None:
            ledger.repairs.append(Repair("unparsed_answer", 1, where))
            return 0
        if index >= len(shown):
            ledger.repairs.append(Repair("out_of_range_dropped", 1, where))
            return 0
        return index
