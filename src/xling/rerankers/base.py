"""What every reranker shares: config, accounting, failure policy, logprob answers, sync edges.

A reranker is async inside. :meth:`Reranker.arerank_many` reranks many queries at once against
one server; the shared :class:`~xling.llm.LLMClient` bounds the requests in flight
(``max_concurrency``), so windows and comparisons of different queries fill the server's batch.

Failure policy (``on_failure``): when the server cannot be reached or keeps failing after the
client's retries (:class:`~xling.core.errors.ServiceUnavailableError`), ``"fallback"`` returns the
request's first-stage order with a ``first_stage_order`` :class:`Fallback` recorded, and
``"raise"`` raises. Errors caused by the input or the configuration always raise.
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeVar

from xling.core.aio import blocking_method
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.progress import ProgressCallback
from xling.core.records import QueryHits
from xling.core.validation import check_choice, check_positive_int
from xling.llm import ChatMessage, Completion, LLMClient
from xling.llm.answers import split_reasoning
from xling.llm.fitting import passage_budget, truncate_passages
from xling.prompts.rerank import cross_lingual_note
from xling.rerankers.calibration import CalibrationKind, relevance_probabilities
from xling.rerankers.guard import check_guard, fuse_orders
from xling.rerankers.records import (
    Fallback,
    ModelCall,
    RankedCandidate,
    Repair,
    RerankRequest,
    RerankResult,
    RerankUsage,
)

__all__ = [
    "LLMReranker",
    "FirstStage",
    "OnFailure",
    "Scoring",
    "RerankerConfig",
    "ShortAnswerConfig",
    "RerankOrder",
    "Ledger",
    "Reranker",
    "answer_logprob",
    "check_name",
    "first_error",
    "gather",
]

OnFailure = Literal["fallback", "raise"]
# What candidates' first-stage scores are: cosines that feed the relevance probability, or not.
FirstStage = Literal["cosine", "rank"]
# How answers are read: next-token logprobs, generated text, or logprobs where the server has them.
Scoring = Literal["logprob", "generate", "auto"]
C = TypeVar("C", bound="RerankerConfig")
T = TypeVar("T")

# vLLM refuses more than its --max-logprobs (20 by default) alternatives per token.
MAX_TOP_LOGPROBS = 20
# Lets the last chat message be continued ("[" → next token is the first identifier).
CONTINUE_FINAL = {"continue_final_message": True, "add_generation_prompt": False}


def check_name(value: Any, name: str) -> str:
    """Raises unless ``value`` is a non-empty ``str`` (a registry name such as a template)."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{name}={value!r} is not allowed; use a name (a str)")
    return value


def first_error(error: BaseException) -> BaseException:
    """The first leaf of an exception group (depth first), or ``error`` itself.

    A task group reports its tasks' failures as a group; callers get the first one, so one
    failure reads as one line instead of a group traceback.
    """
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def gather(*aws: Coroutine[Any, Any, T]) -> list[T]:
    """Runs coroutines concurrently and returns their results in order.

    Unlike :func:`asyncio.gather`, the first failure cancels the others (their requests stop
    holding the client's slots) and is raised as itself, not inside an exception group.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(aw) for aw in aws]
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None
    return [task.result() for task in tasks]


@dataclass(frozen=True)
class RerankerConfig:
    """Options every reranker has.

    Attributes:
        on_failure: ``"fallback"`` (first-stage order, flagged) or ``"raise"`` when the server
            fails after the client's retries.
        cross_lingual: Tell the model query and passages may differ in language; ``None``
            decides per request (when a candidate's language differs from ``query_lang``).
        max_passage_tokens: Cap on each passage in model tokens (cut by the model's tokenizer);
            lowered further to fit the server's context length.
        rank_end: Only the first ``rank_end`` candidates are reranked (``None``: all); the
            rest keep their first-stage order below them.
        temperature: Sampling temperature of generated answers (0: greedy).
        first_stage: What the candidates' first-stage scores are, for their relevance
            probabilities (:mod:`~xling.rerankers.calibration`): ``cosine`` (``dense``
            retrieval without centering) feeds them to the mapping; ``rank`` ignores them (the
            rank-only form; for BM25, hybrid, margin or centred scores).
        guard: The weak-judge guard: the weight ``w`` in (0, 1] of the reranker's order in a
            weighted reciprocal-rank fusion with the first-stage order
            (:func:`~xling.rerankers.guard.fuse_orders`); ``None``: the reranker's order as
            it is. The answer pipeline and the service turn it on by default
            (:data:`~xling.rerankers.guard.DEFAULT_GUARD`).
        guard_k: The fusion's rank offset ``k`` (60, as in Cormack et al.'s RRF).
        trace: Keep each model call of a request (prompts, raw answers, tokens) in
            :attr:`RerankResult.trace`, so a bad ranking can be explained afterwards.
    """

    # Former option names and what they are called now (the old name gets a one-line error).
    renamed_options: ClassVar[dict[str, str]] = {}

    on_failure: OnFailure = "fallback"
    cross_lingual: bool | None = None
    max_passage_tokens: int = 300
    rank_end: int | None = 100
    temperature: float = 0.0
    first_stage: FirstStage = "cosine"
    guard: float | None = None
    guard_k: int = 60
    trace: bool = False

    def __post_init__(self) -> None:
        check_choice(self.on_failure, "on_failure", ("fallback", "raise"))
        check_guard(self.guard, self.guard_k)
        if not isinstance(self.trace, bool):
            raise InvalidInputError(f"trace={self.trace!r} is not allowed; use true or false")
        check_choice(self.first_stage, "first_stage", ("cosine", "rank"))
        if self.cross_lingual is not None and not isinstance(self.cross_lingual, bool):
            raise InvalidInputError(
                f"cross_lingual={self.cross_lingual!r} is not allowed; use true, false or None"
            )
        check_positive_int(self.max_passage_tokens, "max_passage_tokens")
        if self.rank_end is not None:
            check_positive_int(self.rank_end, "rank_end")
        temperature = self.temperature
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not math.isfinite(temperature)
            or temperature < 0
        ):
            raise InvalidInputError(
                f"temperature={temperature!r} is not allowed; use a finite number >= 0"
            )

    @classmethod
    def from_options(cls: type[C], options: dict[str, Any]) -> C:
        """Builds the config from keyword options, naming unknown and renamed ones."""
        for old, new in cls.renamed_options.items():
            if old in options:
                raise InvalidInputError(
                    f"option {old}={options[old]!r} is now called {new}; use {new}={options[old]!r}"
                )
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise InvalidInputError(
                f"unknown option(s) {unknown} for {cls.__name__}; allowed: {sorted(allowed)}"
            )
        return cls(**options)


@dataclass(frozen=True)
class ShortAnswerConfig(RerankerConfig):
    """Options of the rerankers that read one short answer per prompt (pointwise, pairwise).

    Attributes:
        scoring: ``logprob``, ``generate`` or ``auto`` (logprobs when the server gives them).
        max_tokens: Tokens generated per answer when generating.
    """

    scoring: Scoring = "auto"
    max_tokens: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.scoring, "scoring", ("logprob", "generate", "auto"))
        check_positive_int(self.max_tokens, "max_tokens")


@dataclass
class RerankOrder:
    """What a reranker's core returns: positions into the candidates, best first.

    Attributes:
        order: A permutation of the reranked span (``0..span-1``); candidates after it keep
            their first-stage order.
        scores: Scores aligned with ``order``; ``None`` for rank-derived scores.
        windows: Listwise windows ranked.
        comparisons: Comparisons made (PRP pairs, setwise choices).
        rounds: Longest chain of dependent LLM calls.
    """

    order: list[int]
    scores: list[float] | None = None
    windows: int = 0
    comparisons: int = 0
    rounds: int = 0


@dataclass
class Ledger:
    """Calls, tokens, repairs, fallbacks and (with ``trace`` on) the calls themselves of one
    request.

    Attributes:
        client: The LLM client calls go through (``None`` for rerankers without an LLM).
        trace: Each call made, when the reranker's ``trace`` is on; else ``None``.
    """

    client: LLMClient | None
    usage: RerankUsage = field(default_factory=RerankUsage)
    repairs: list[Repair] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)
    trace: list[ModelCall] | None = None

    async def achat(
        self, messages: Sequence[ChatMessage], *, where: str = "", **kwargs: Any
    ) -> Completion:
        """One chat call, counted (and kept, with ``trace`` on).

        Args:
            messages: The prompt.
            where: Which step the call is, for the trace (``"window 20-40"``).
            **kwargs: As :meth:`~xling.llm.LLMClient.achat`.
        """
        completion = await self._client().achat(messages, **kwargs)
        self._keep(messages, completion, where)
        return completion

    async def athink(
        self, messages: Sequence[ChatMessage], *, where: str = "", **kwargs: Any
    ) -> tuple[Completion, bool]:
        """One chat call of a model that may think before it answers, counted (and kept).

        The thinking is kept apart from the answer (:func:`~xling.llm.answers.split_reasoning`):
        the returned text is the answer alone, the thinking is in ``reasoning`` (and in the
        trace), and its tokens are counted in ``usage.reasoning_tokens``.

        Args:
            messages: The prompt.
            where: Which step the call is, for the trace.
            **kwargs: As :meth:`~xling.llm.LLMClient.achat`.

        Returns:
            The completion with the answer apart from the reasoning, and whether the thinking
            ended (``False`` with ``finish_reason="length"``: the budget ran out inside it).
        """
        client = self._client()
        completion, ended = split_reasoning(await client.achat(messages, **kwargs))
        if completion.reasoning_tokens is not None:
            self.usage.reasoning_tokens += completion.reasoning_tokens
        elif not ended and completion.reasoning is not None:
            self.usage.reasoning_tokens += completion.completion_tokens
        elif completion.reasoning:
            self.usage.reasoning_tokens += len(await client.atokenize(completion.reasoning))
        self._keep(messages, completion, where)
        return completion, ended

    def _client(self) -> LLMClient:
        if self.client is None:
            raise AssertionError("this reranker has no LLM client")
        return self.client

    def _keep(self, messages: Sequence[ChatMessage], completion: Completion, where: str) -> None:
        """Counts a call and, with ``trace`` on, keeps it."""
        self.usage.add(completion)
        if self.trace is not None:
            self.trace.append(
                ModelCall(
                    prompt=[dict(message) for message in messages],
                    answer=completion.text,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason,
                    top_logprobs=dict(completion.logprobs[0].top) if completion.logprobs else None,
                    reasoning=completion.reasoning,
                    where=where,
                )
            )

    async def anext_token_logprobs(
        self,
        messages: Sequence[ChatMessage],
        *,
        top: int,
        continue_final: bool,
        where: str = "",
    ) -> tuple[Completion, dict[str, float] | None]:
        """Generates one token and returns the top alternatives' logprobs (``None``: none given).

        Args:
            messages: The prompt; with ``continue_final`` the last (assistant) message is
                continued instead of starting a new turn.
            top: How many alternatives to ask for (at most 20 on a default vLLM).
            continue_final: Continue the final message (vLLM's ``continue_final_message``).
            where: Which step the call is, for the trace.
        """
        completion = await self.achat(
            messages,
            where=where,
            max_tokens=1,
            temperature=0.0,
            logprobs=min(top, MAX_TOP_LOGPROBS),
            extra=CONTINUE_FINAL if continue_final else None,
        )
        if not completion.logprobs:
            return completion, None
        return completion, dict(completion.logprobs[0].top)


def answer_logprob(top: dict[str, float], answer: str, *, casefold: bool = False) -> float | None:
    """Log-probability mass of the tokens that spell ``answer`` (``" A"`` and ``"A"``).

    Args:
        top: A step's top alternatives (token text → logprob).
        answer: The answer text, compared without surrounding spaces.
        casefold: Also count other cases (``"Yes"``, ``"yes"``); identifiers stay exact.

    Returns:
        ``log(sum(p))`` over the matching alternatives, or ``None`` when none is among them.
    """

    def norm(text: str) -> str:
        text = text.strip()
        return text.casefold() if casefold else text

    want = norm(answer)
    probs = [math.exp(lp) for token, lp in top.items() if norm(token) == want]
    return math.log(sum(probs)) if probs and sum(probs) > 0 else None


class Reranker(ABC):
    """Base of every reranker: config, failure policy, the guard, results and sync wrappers.

    Subclasses rank with a model of their own (:class:`LLMReranker` over an LLM server, the
    cross-encoders in :mod:`~xling.rerankers.cross_encoder`) and implement :meth:`_rank`.

    Args:
        config: The reranker's options; or give them as keywords in ``options``.
        name: The name reported in results (the registry name or spec).
        **options: Fields of :attr:`config_class`, when no ``config`` is given.

    Raises:
        InvalidInputError: When both ``config`` and ``options`` are given, or for unknown or
            invalid options.
    """

    default_name = "reranker"
    config_class: ClassVar[type[RerankerConfig]] = RerankerConfig

    def __init__(
        self, config: RerankerConfig | None = None, name: str | None = None, **options: Any
    ) -> None:
        if config is not None and options:
            raise InvalidInputError("give either config or keyword options, not both")
        if config is None:
            config = self.config_class.from_options(options)
        elif not isinstance(config, self.config_class):
            raise InvalidInputError(
                f"config {config!r} is not a {self.config_class.__name__}; build one with "
                f"{self.config_class.__name__}(...) or give the options as keywords"
            )
        if name is not None:
            check_name(name, "name")
        self.config = config
        self.name = name or self.default_name
        self._setup()

    @property
    def calibration_kind(self) -> CalibrationKind:
        """Which constants of :mod:`xling.rerankers.calibration` map its results to ``p``."""
        return "listwise"

    def _setup(self) -> None:  # noqa: B027 (an optional hook, not an abstract method)
        """What a subclass prepares from its checked config (its prompt template, ...)."""

    async def aclose(self) -> None:  # noqa: B027 (an optional hook, not an abstract method)
        """Closes the connections this reranker opened on the running event loop."""

    def _ledger(self) -> Ledger:
        """A fresh record of one request's model calls."""
        return Ledger(None, trace=[] if self.config.trace else None)

    # -- public API -------------------------------------------------------------------------
    async def arerank(self, request: RerankRequest | QueryHits) -> RerankResult:
        """Reranks one request, or a retriever's hits as they are (async)."""
        if not isinstance(request, RerankRequest | QueryHits):
            raise InvalidInputError(
                f"{request!r:.80} is not a RerankRequest or a retriever's QueryHits; build one "
                "with RerankRequest.from_texts"
            )
        request = RerankRequest.of(request)
        ledger = self._ledger()
        try:
            ranking = await self._rank(request, ledger)
        except ServiceUnavailableError as exc:
            if self.config.on_failure == "raise":
                raise
            ledger.fallbacks.append(Fallback("first_stage_order", str(exc)))
            ranking = RerankOrder(order=[])
        return self._result(request, ranking, ledger)

    async def arerank_many(
        self,
        requests: Sequence[RerankRequest | QueryHits],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> list[RerankResult]:
        """Reranks many requests concurrently (async).

        With ``on_failure="raise"`` the first failure cancels the other requests and is raised
        (as itself, not inside an exception group).
        """
        if isinstance(requests, RerankRequest | QueryHits | str | bytes) or not isinstance(
            requests, Iterable
        ):
            raise InvalidInputError(
                f"requests must be a list of RerankRequest, got {type(requests).__name__}"
            )
        if on_progress is not None and not callable(on_progress):
            raise InvalidInputError(f"on_progress={on_progress!r} is not callable")
        requests = list(requests)
        done = 0

        async def one(request: RerankRequest | QueryHits) -> RerankResult:
            nonlocal done
            result = await self.arerank(request)
            done += 1
            if on_progress is not None:
                on_progress(done, len(requests))
            return result

        return await gather(*(one(request) for request in requests))

    rerank = blocking_method(arerank, closing=True)
    rerank_many = blocking_method(arerank_many, closing=True)

    # -- for subclasses ---------------------------------------------------------------------
    @abstractmethod
    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        """Ranks the first ``span(request)`` candidates."""

    def span(self, request: RerankRequest) -> int:
        """How many leading candidates are reranked."""
        n = len(request.candidates)
        return n if self.config.rank_end is None else min(n, self.config.rank_end)

    # -- internals --------------------------------------------------------------------------
    def _result(self, request: RerankRequest, ranking: RerankOrder, ledger: Ledger) -> RerankResult:
        n = len(request.candidates)
        head = list(ranking.order)
        if sorted(head) != list(range(len(head))):
            raise AssertionError(f"{self.name} produced a non-permutation {head}")
        order = head + list(range(len(head), n))
        if ranking.scores is not None:
            # Candidates below the reranked span rank under every scored one.
            floor = min(ranking.scores, default=0.0)
            scores = list(ranking.scores) + [floor - 1 - i for i in range(n - len(head))]
        else:
            scores = [float(n - place) for place in range(n)]
        if self.config.guard is not None:
            score_of = dict(zip(order, scores, strict=True))
            order = fuse_orders(order, self.config.guard, self.config.guard_k)
            scores = [score_of[i] for i in order]
        cosine = self.config.first_stage == "cosine"
        relevance = relevance_probabilities(
            self.calibration_kind,
            scores,
            [request.candidates[i].score if cosine else None for i in order],
        )
        ranked = [
            RankedCandidate(request.candidates[i], float(score), i, p)
            for i, score, p in zip(order, scores, relevance, strict=True)
        ]
        return RerankResult(
            qid=request.qid,
            query_lang=request.query_lang,
            query=request.query,
            candidates=ranked,
            reranker=self.name,
            usage=ledger.usage,
            repairs=ledger.repairs,
            fallbacks=ledger.fallbacks,
            windows=ranking.windows,
            comparisons=ranking.comparisons,
            rounds=ranking.rounds,
            guard=self.config.guard,
            trace=ledger.trace,
        )

    async def _closing(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        finally:
            await self.aclose()


class LLMReranker(Reranker):
    """Base of the rerankers that prompt an LLM: the client, prompt fitting and logprob probing.

    Args:
        client: The LLM client (its ``max_concurrency`` bounds requests in flight).
        config: The reranker's options; or give them as keywords in ``options``.
        name: The name reported in results (the registry name).
        **options: Fields of :attr:`config_class`, when no ``config`` is given.

    Raises:
        InvalidInputError: As :class:`Reranker`, and when ``client`` is not an
            :class:`~xling.llm.LLMClient`.
    """

    def __init__(
        self,
        client: LLMClient,
        config: RerankerConfig | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(client, LLMClient):
            raise InvalidInputError(
                f"client {client!r} is not an LLMClient; build one with LLMClient(base_url)"
            )
        self.client = client
        self._has_logprobs: bool | None = None  # unknown until the first logprob call
        self._locks: dict[int, asyncio.Lock] = {}
        super().__init__(config, name, **options)

    def _ledger(self) -> Ledger:
        return Ledger(self.client, trace=[] if self.config.trace else None)

    async def aclose(self) -> None:
        """Closes the client's connections on the running event loop."""
        await self.client.aclose()

    def note(self, request: RerankRequest) -> str:
        """The cross-lingual sentence for this request, or ``""``."""
        wanted = self.config.cross_lingual
        if wanted is None:
            wanted = request.is_cross_lingual()
        return cross_lingual_note(request.query_lang, request.langs) if wanted else ""

    async def afitted_passages(
        self, request: RerankRequest, skeleton: Sequence[ChatMessage], per_prompt: int, reserve: int
    ) -> list[str]:
        """The reranked span's texts, cut by model tokens so ``per_prompt`` passages fit."""
        budget = await passage_budget(
            self.client,
            skeleton,
            per_prompt,
            reserve=reserve,
            max_passage_tokens=self.config.max_passage_tokens,
        )
        texts = [c.text for c in request.candidates[: self.span(request)]]
        return await truncate_passages(self.client, texts, budget)

    async def alogprobs_or_none(
        self,
        ledger: Ledger,
        messages: Sequence[ChatMessage],
        *,
        scoring: Scoring,
        continue_final: bool,
        top: int = MAX_TOP_LOGPROBS,
        where: str = "",
    ) -> tuple[Completion | None, dict[str, float] | None]:
        """Next-token logprobs under the logprob policy (``where`` names the step in the trace).

        Returns ``(None, None)`` when answers must be generated instead: ``scoring="generate"``,
        or ``scoring="auto"`` on a server that returns no logprobs (recorded once per request as a
        ``generation`` fallback). The first call finds out whether the server gives logprobs
        while the concurrent ones wait, so a server without them costs one probe, not one per
        prompt in flight.

        Raises:
            InvalidInputError: ``scoring="logprob"`` on a server that returns no logprobs.
        """
        if scoring == "generate":
            return None, None
        if self._has_logprobs is None:
            async with self._probe_lock():
                if self._has_logprobs is None:
                    completion, found = await ledger.anext_token_logprobs(
                        messages, top=top, continue_final=continue_final, where=where
                    )
                    self._has_logprobs = found is not None
                    if found is not None:
                        return completion, found
        if self._has_logprobs:
            completion, found = await ledger.anext_token_logprobs(
                messages, top=top, continue_final=continue_final, where=where
            )
            if found is not None:
                return completion, found
            self._has_logprobs = False
        if scoring == "logprob":
            raise InvalidInputError(
                f"the LLM server at {self.client.base_url} returned no logprobs, which "
                f"{self.name} needs with its logprob scoring; use the 'auto' or 'generate' setting"
            )
        if not any(f.kind == "generation" for f in ledger.fallbacks):
            ledger.fallbacks.append(
                Fallback("generation", "the server returned no logprobs; answers were generated")
            )
        return None, None

    def _probe_lock(self) -> asyncio.Lock:
        # One lock per event loop: the sync wrappers run each call on a fresh loop.
        loop = asyncio.get_running_loop()
        lock = self._locks.get(id(loop))
        if lock is None:
            lock = self._locks[id(loop)] = asyncio.Lock()
        return lock
