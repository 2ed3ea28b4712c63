"""Listwise reranking with models that think before they rank (Rank-K, ReasonRank, Qwen3).

A reasoning model writes ``<think>…</think>`` and then its ranking. Each window's call may
generate ``reasoning_budget`` tokens of thinking plus the answer's tokens
(``max_tokens``, sized as for :class:`~xling.rerankers.listwise.ListwiseReranker`). The
thinking is kept apart from the answer (:func:`~xling.llm.answers.split_reasoning`): the
permutation is read from the text after ``</think>`` only, and the thinking goes to the trace
(:attr:`~xling.rerankers.records.ModelCall.reasoning`, with ``trace`` on) and its tokens to
``usage.reasoning_tokens``. A server that runs a reasoning parser (vLLM
``--reasoning-parser``) sends the thinking in a field of its own; that is read the same way.

When the budget runs out inside the thinking (``finish_reason="length"`` and no ``</think>``),
the answer is forced, as s1 does (Muennighoff et al. 2025, "budget forcing"): a second call
continues the assistant turn from the thinking so far closed by ``</think>`` and generates only
the answer's tokens. The window then took two calls and a ``reasoning_cut`` repair is recorded.

The prompt fits the served context with all of it: passages are cut (by model tokens) so that
the prompt plus the thinking budget plus the answer, and the forced answer after a cut, fit
(:meth:`ReasoningReranker.reserve`). A larger ``reasoning_budget`` leaves shorter passages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.validation import check_positive_int
from xling.llm import ChatMessage
from xling.rerankers.base import CONTINUE_FINAL, Ledger
from xling.rerankers.listwise import ListwiseConfig, ListwiseReranker
from xling.rerankers.records import Repair

__all__ = ["ReasoningConfig", "ReasoningReranker", "DEFAULT_REASONING_BUDGET"]

# Tokens a window may think by default: Rank-K and ReasonRank think a few hundred tokens for
# a window of 20 (rank_llm's demos give 3,072 to 16,384); past this the answer is forced.
DEFAULT_REASONING_BUDGET = 1024
# Room for "<answer>", "</answer>" and line breaks around a ranking (ReasonRank's format).
_ANSWER_TAGS = 16
# The closing "</think>" and line breaks a forced answer's prompt adds to the thinking.
_CLOSE_TOKENS = 8


@dataclass(frozen=True)
class ReasoningConfig(ListwiseConfig):
    """Options of :class:`ReasoningReranker` (plus those of
    :class:`~xling.rerankers.listwise.ListwiseConfig`).

    Attributes:
        template: Listwise template name; ``reasonrank`` (ReasonRank's prompt) by default.
        reasoning_budget: Tokens a window's call may spend thinking before its answer; the
            answer is forced when the thinking runs past it.
        enable_thinking: Sent as the chat template's ``enable_thinking`` (Qwen3's switch
            between thinking and plain answers); ``None`` sends nothing.
        max_tokens: Tokens of the answer after the thinking; default what a complete ranking
            takes in the served model's tokenizer, plus room for ``<answer>`` tags.
    """

    template: str = "reasonrank"
    reasoning_budget: int = DEFAULT_REASONING_BUDGET
    enable_thinking: bool | None = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(self.reasoning_budget, "reasoning_budget")
        if self.enable_thinking is not None and not isinstance(self.enable_thinking, bool):
            raise InvalidInputError(
                f"enable_thinking={self.enable_thinking!r} is not allowed; use true, false or None"
            )
        if self.scoring != "generate":
            raise InvalidInputError(
                f"scoring={self.scoring!r} is not allowed for a reasoning reranker: the ranking "
                "comes after the thinking, not at the first token; use scoring='generate'"
            )


class ReasoningReranker(ListwiseReranker):
    """Listwise reranking with a reasoning budget, the thinking kept apart from the ranking.

    Args:
        client: The LLM client of a server with a model that thinks (or one that does not:
            its plain answer is read as it is).
        config: Options; or give them as keywords (``reasoning_budget=2048, window=20``).
        name: Name reported in results.

    Example:
        >>> reranker = ReasoningReranker(LLMClient(url), reasoning_budget=2048, trace=True)
        >>> result = reranker.rerank(RerankRequest.from_texts("query", ["a", "b", "c"]))
        >>> result.trace[0].reasoning  # what the model thought about the first window
    """

    default_name = "reasoning"
    config_class = ReasoningConfig
    config: ReasoningConfig

    async def amax_tokens(self, window: int) -> int:
        """Tokens of a window's answer after the thinking (a ranking plus its tags)."""
        if self.config.max_tokens is not None:
            return self.config.max_tokens
        return await super().amax_tokens(window) + _ANSWER_TAGS

    def reserve(self, answer_tokens: int) -> int:
        """The thinking budget and the answer, plus a forced answer after a cut thinking."""
        # A cut call generated reasoning_budget + answer_tokens tokens; the forced call's
        # prompt holds them (closed by </think>) and generates answer_tokens more.
        return self.config.reasoning_budget + 2 * answer_tokens + _CLOSE_TOKENS

    def _extra(self) -> dict[str, Any]:
        if self.config.enable_thinking is None:
            return {}
        return {"chat_template_kwargs": {"enable_thinking": self.config.enable_thinking}}

    async def _awindow_answer(
        self, ledger: Ledger, messages: list[ChatMessage], max_tokens: int, where: str
    ) -> str:
        """The ranking the model wrote after its thinking; forced when the thinking was cut."""
        cfg = self.config
        completion, ended = await ledger.athink(
            messages,
            where=where,
            max_tokens=cfg.reasoning_budget + max_tokens,
            temperature=cfg.temperature,
            extra=self._extra() or None,
        )
        if ended or completion.finish_reason != "length":
            return completion.text
        # Out of budget inside the thinking: close it and ask for the answer alone. Text with
        # no tags at all is taken as thinking too (templates that open <think> in the prompt).
        thought = completion.reasoning if completion.reasoning is not None else completion.text
        ledger.repairs.append(Repair("reasoning_cut", 1, where))
        closed: ChatMessage = {"role": "assistant", "content": f"<think>\n{thought}\n</think>\n\n"}
        forced = await ledger.achat(
            [*messages, closed],
            where=f"{where}, answer forced",
            max_tokens=max_tokens,
            temperature=cfg.temperature,
            extra={**CONTINUE_FINAL, **self._extra()},
        )
        return forced.text
