"""Listwise LLM reranking: sliding windows (RankGPT, RankZephyr, LRL) and top-down partitioning.

Each window's passages are shown with identifiers and the model answers with a ranking. Two
ways of reading the answer:

* ``scoring="generate"``: the model writes ``[2] > [1] > ...``; the answer is repaired into a
  full permutation (:func:`~xling.rerankers.permutation.parse_permutation`).
* ``scoring="first"`` (FIRST, Reddy et al. 2024): one forward step after the assistant's ``[``;
  the identifiers are ordered by their first-token logprobs from ``top_logprobs`` (those absent
  from the top alternatives follow in first-stage order). Needs identifiers with distinct first
  tokens, so it uses alphabetic ones. ``scoring="auto"`` does this when the server returns
  logprobs and falls back to generation (recorded) when it does not.

Two window plans:

* ``mode="sliding"``: windows from the bottom up (default window 20, stride 10), optional
  extra passes; see :func:`~xling.rerankers.windows.sliding_windows`.
* ``mode="tdpart"`` (top-down partitioning, Parry et al. 2024): rank the first window, take its
  ``cutoff``-th passage as the pivot, rank every remaining block together with the pivot in
  parallel, and rerank what beat the pivot. Three dependent rounds for 100 candidates instead
  of nine.

Windows of different queries run concurrently through :meth:`Reranker.arerank_many`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from xling.core.errors import InvalidInputError
from xling.core.validation import check_choice, check_positive_int
from xling.llm import ChatMessage
from xling.prompts.rerank import (
    IDENTIFIER_STYLES,
    IdentifierStyle,
    ListwiseTemplate,
    get_listwise_template,
    identifier_labels,
)
from xling.rerankers.base import (
    MAX_TOP_LOGPROBS,
    Ledger,
    LLMReranker,
    RerankerConfig,
    RerankOrder,
    answer_logprob,
    check_name,
    gather,
)
from xling.rerankers.calibration import CalibrationKind
from xling.rerankers.permutation import parse_permutation
from xling.rerankers.records import Repair, RerankRequest
from xling.rerankers.windows import partition_blocks, sliding_windows

__all__ = ["ListwiseConfig", "ListwiseReranker", "ListwiseScoring", "ListwiseMode"]

ListwiseScoring = Literal["generate", "first", "auto"]
ListwiseMode = Literal["sliding", "tdpart"]
_ANSWER_MARGIN = 8  # tokens beyond a complete answer (end-of-turn, a stray space)


@dataclass(frozen=True)
class ListwiseConfig(RerankerConfig):
    """Options of :class:`ListwiseReranker` (plus those of :class:`RerankerConfig`).

    Attributes:
        template: Listwise template name (``rankgpt``, ``rank_zephyr``, ``lrl``).
        window: Passages per window.
        stride: How far sliding windows move up; default half the window (10 for 20).
        passes: Sliding passes (more passes let low candidates climb further).
        rank_start: First position reranked; positions above keep their place.
        scoring: ``generate``, ``first`` (FIRST logprobs) or ``auto`` (FIRST when the server
            returns logprobs); formerly ``method``.
        mode: ``sliding`` or ``tdpart`` (top-down partitioning).
        cutoff: Top-down partitioning: the pivot is the ``cutoff``-th of the first window.
        identifiers: ``numeric`` or ``alpha``; default numeric for generation, alpha for FIRST.
        max_tokens: Tokens generated per window; default what a complete answer takes in the
            served model's tokenizer, plus a small margin.
        top_logprobs: Alternatives asked for in a FIRST step (at most 20 on a default vLLM).
    """

    renamed_options: ClassVar[dict[str, str]] = {"method": "scoring"}

    template: str = "rankgpt"
    window: int = 20
    stride: int | None = None
    passes: int = 1
    rank_start: int = 0
    scoring: ListwiseScoring = "generate"
    mode: ListwiseMode = "sliding"
    cutoff: int = 10
    identifiers: IdentifierStyle | None = None
    max_tokens: int | None = None
    top_logprobs: int = MAX_TOP_LOGPROBS

    def __post_init__(self) -> None:
        super().__post_init__()
        get_listwise_template(check_name(self.template, "template"))
        check_positive_int(self.window, "window")
        if self.stride is not None:
            check_positive_int(self.stride, "stride", maximum=self.window)
        check_positive_int(self.passes, "passes")
        check_choice(self.scoring, "scoring", ("generate", "first", "auto"))
        check_choice(self.mode, "mode", ("sliding", "tdpart"))
        if self.identifiers is not None:
            check_choice(self.identifiers, "identifiers", IDENTIFIER_STYLES)
        if isinstance(self.rank_start, bool) or not isinstance(self.rank_start, int):
            raise InvalidInputError(f"rank_start={self.rank_start!r} is not allowed; use an int")
        if self.rank_start < 0 or (self.rank_end is not None and self.rank_start >= self.rank_end):
            raise InvalidInputError(
                f"rank_start={self.rank_start} is not allowed; use 0 <= rank_start < rank_end"
            )
        if self.max_tokens is not None:
            check_positive_int(self.max_tokens, "max_tokens")
        check_positive_int(self.top_logprobs, "top_logprobs", maximum=MAX_TOP_LOGPROBS)
        if self.mode == "tdpart":
            if self.window < 2:
                raise InvalidInputError("mode='tdpart' needs window >= 2 (a pivot and a passage)")
            check_positive_int(self.cutoff, "cutoff", maximum=self.window - 1)
            if self.passes != 1:
                raise InvalidInputError(
                    f"passes={self.passes} is not allowed with mode='tdpart'; passes apply to "
                    "mode='sliding'"
                )
        if self.scoring != "generate" and self.style == "numeric" and self.window > 9:
            raise InvalidInputError(
                f"scoring={self.scoring!r} with numeric identifiers and window={self.window} is "
                "not allowed: labels 1 and 10-19 share a first token; use identifiers='alpha'"
            )

    @property
    def step(self) -> int:
        """The stride in use."""
        return self.stride if self.stride is not None else max(1, self.window // 2)

    @property
    def style(self) -> IdentifierStyle:
        """The identifier style in use."""
        if self.identifiers is not None:
            return self.identifiers
        return "numeric" if self.scoring == "generate" else "alpha"


@dataclass
class _Job:
    """One request's state while its windows are ranked."""

    request: RerankRequest
    ledger: Ledger
    passages: list[str]
    note: str
    max_tokens: int
    windows: int = 0


class ListwiseReranker(LLMReranker):
    """Listwise reranking over an OpenAI-compatible server (vLLM).

    Args:
        client: The LLM client.
        config: Options; or give them as keywords (``window=20, mode="tdpart"``).
        name: Name reported in results.

    Example:
        >>> reranker = ListwiseReranker(LLMClient("http://127.0.0.1:8011/v1"), window=20)
        >>> result = reranker.rerank(RerankRequest.from_texts("query", ["a", "b", "c"]))
    """

    default_name = "listwise"
    config_class = ListwiseConfig
    config: ListwiseConfig

    @property
    def calibration_kind(self) -> CalibrationKind:
        """``first`` for FIRST logprob orders, else ``listwise``."""
        return "first" if self.config.scoring == "first" else "listwise"

    def _setup(self) -> None:
        self.template: ListwiseTemplate = get_listwise_template(self.config.template)
        self._answer_tokens: dict[int, int] = {}

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        cfg = self.config
        span = self.span(request)
        order = list(range(span))
        size = min(cfg.window, span - cfg.rank_start)
        if size <= 1:  # nothing to order
            return RerankOrder(order)
        note = self.note(request)
        max_tokens = await self.amax_tokens(cfg.window)
        skeleton = self.template.messages(request.query, [""] * size, style=cfg.style, note=note)
        passages = await self.afitted_passages(
            request, skeleton, size, reserve=self.reserve(max_tokens)
        )
        job = _Job(request, ledger, passages, note, max_tokens)
        if cfg.mode == "tdpart":
            top, rounds = await self._tdpart(job, order[cfg.rank_start :])
            return RerankOrder(order[: cfg.rank_start] + top, windows=job.windows, rounds=rounds)
        windows = sliding_windows(
            span, window=cfg.window, stride=cfg.step, rank_start=cfg.rank_start
        )
        for number in range(cfg.passes):
            for start, end in windows:
                where = f"window {start}-{end}"
                if cfg.passes > 1:
                    where = f"pass {number + 1} {where}"
                order[start:end] = await self._rank_window(job, order[start:end], where)
        return RerankOrder(order, windows=job.windows, rounds=len(windows) * cfg.passes)

    async def amax_tokens(self, window: int) -> int:
        """Tokens generated per window: a complete answer in the model's tokens plus a margin."""
        if self.config.max_tokens is not None:
            return self.config.max_tokens
        if window not in self._answer_tokens:
            answer = self.template.example_answer(window, self.config.style)
            self._answer_tokens[window] = len(await self.client.atokenize(answer)) + _ANSWER_MARGIN
        return self._answer_tokens[window]

    def reserve(self, answer_tokens: int) -> int:
        """Tokens of the context kept free for what a window's calls generate."""
        return answer_tokens

    async def _tdpart(self, job: _Job, items: list[int]) -> tuple[list[int], int]:
        """Top-down partitioning of ``items``; returns the order and the dependent rounds."""
        window, cutoff = self.config.window, self.config.cutoff
        if len(items) <= window:
            return await self._rank_window(job, items, f"tdpart window of {len(items)}"), 1
        first = await self._rank_window(job, items[:window], "tdpart first window")
        pivot = first[cutoff - 1]
        above, below = first[: cutoff - 1], first[cutoff:]
        rest = items[window:]
        blocks = [rest[start:end] for start, end in partition_blocks(len(rest), window - 1)]
        ranked = await gather(
            *(
                self._rank_window(job, [pivot, *block], f"tdpart block {i + 1}/{len(blocks)}")
                for i, block in enumerate(blocks)
            )
        )
        climbed: list[int] = []
        for block in ranked:
            at = block.index(pivot)
            climbed += block[:at]
            below += block[at + 1 :]
        if not climbed:  # the first window already ordered everything above the pivot
            return first[:cutoff] + below, 2
        # Strictly fewer items than before (cutoff < window), so this ends.
        top, rounds = await self._tdpart(job, above + climbed + [pivot])
        return top + below, 2 + rounds

    async def _rank_window(self, job: _Job, items: list[int], where: str) -> list[int]:
        """Ranks one window; ``items`` are candidate positions in their current order."""
        cfg = self.config
        job.windows += 1
        texts = [job.passages[i] for i in items]
        query = job.request.query
        if cfg.scoring != "generate":
            messages = self.template.first_messages(query, texts, style=cfg.style, note=job.note)
            _, top = await self.alogprobs_or_none(
                job.ledger,
                messages,
                scoring="logprob" if cfg.scoring == "first" else "auto",
                continue_final=True,
                top=cfg.top_logprobs,
                where=where,
            )
            if top is not None:
                return [items[i] for i in self._first_order(top, len(items), job.ledger, where)]
        messages = self.template.messages(query, texts, style=cfg.style, note=job.note)
        permutation = parse_permutation(
            await self._awindow_answer(job.ledger, messages, job.max_tokens, where),
            len(items),
            style=cfg.style,
            prefix=self.template.label_prefix,
            suffix=self.template.label_suffix,
            where=where,
        )
        job.ledger.repairs.extend(permutation.repairs)
        return [items[i] for i in permutation.order]

    async def _awindow_answer(
        self, ledger: Ledger, messages: list[ChatMessage], max_tokens: int, where: str
    ) -> str:
        """The model's written ranking of one window (the text the permutation is read from)."""
        completion = await ledger.achat(
            messages, where=where, max_tokens=max_tokens, temperature=self.config.temperature
        )
        return completion.text

    def _first_order(self, top: dict[str, float], n: int, ledger: Ledger, where: str) -> list[int]:
        """Orders labels by their first-token logprob; absent ones follow in window order."""
        labels = identifier_labels(n, self.config.style)
        scores = [answer_logprob(top, label) for label in labels]
        missing = sum(score is None for score in scores)
        if missing:
            ledger.repairs.append(Repair("missing_appended", missing, where))
        return sorted(range(n), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
