"""A cascade of two rerankers: a cheap one over the whole list, a better one over its top.

``cascade:<first>→<second>`` (``->`` is the ASCII spelling of the arrow): the first stage
reranks the request; its top ``depth`` (20) go to the second stage; the final order is the
second stage's order of those followed by the first stage's order of the rest. The usual use
is a cross-encoder over 100 candidates and an LLM over the 20 it puts first
(``cascade:ce:/models/bge-reranker-v2-m3→listwise``), which costs the LLM 20 passages instead
of 100.

Each stage is any reranker spec (:func:`~xling.rerankers.registry.get_reranker`); stage specs
may hold ``:`` and ``#`` (``cascade:vllm-score:http://h:8000#bge→first``). The spec is cut at
its first arrow, so a cascade nests only as the second stage: ``cascade:a→b→c`` is
``a → cascade:b→c`` (``second={"depth": 5}`` sets the inner depth). Nesting as the first stage is
not needed: ``(a→b)→c`` with depths ``d1`` (a→b) and ``d2 <= d1`` orders as ``a→(b→c)`` with
outer depth ``d1`` and inner depth ``d2``: ``c`` orders ``b``'s top ``d2``, then ``b``'s rest of
``a``'s top ``d1``, then ``a``'s rest.

The options of :class:`~xling.rerankers.base.RerankerConfig` belong to the cascade:
``rank_end`` bounds what the first stage reranks (the rest keep their first-stage order), the
guard fuses the cascade's final order with the retrieval order (stages run unguarded), and
``on_failure``, ``trace``, ``first_stage``, ``cross_lingual``, ``max_passage_tokens`` and
``temperature``, when given, pass down to both stages as defaults. ``first`` and ``second``
are dicts of each stage's own options (``second={"window": 10}``), which win.

A stage that fails with ``on_failure="fallback"`` keeps its input order (the first stage: the
retrieval order; the second: the first stage's order of the top), so one failing server costs
that stage, not the whole cascade; the result records the fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.validation import check_positive_int
from xling.llm import LLMClient
from xling.rerankers.base import Ledger, Reranker, RerankerConfig, RerankOrder, gather
from xling.rerankers.records import RerankRequest, RerankResult

__all__ = [
    "ARROWS",
    "CASCADE_FORM",
    "CascadeConfig",
    "CascadeReranker",
    "build_cascade",
    "split_cascade",
]

ARROWS = ("→", "->")
"""The arrow between the stages of a cascade spec, and its ASCII spelling."""

CASCADE_FORM = "cascade:<first>→<second>"
"""The spec's shape for help texts."""

DEFAULT_DEPTH = 20

# Config options that concern the cascade's whole order, never a stage's.
_CASCADE_ONLY = ("guard", "guard_k", "rank_end")
# Config options a cascade passes down to both stages when the user gives them.
_INHERITED = tuple(f.name for f in fields(RerankerConfig) if f.name not in _CASCADE_ONLY)

# Builds a stage from its spec: get_reranker (given by the registry, which imports this module).
StageBuilder = Callable[..., Reranker]


@dataclass(frozen=True)
class CascadeConfig(RerankerConfig):
    """Options of a cascade.

    Attributes:
        depth: How many of the first stage's top candidates the second stage reranks.
    """

    depth: int = DEFAULT_DEPTH

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(self.depth, "depth")


@dataclass
class _CascadeOrder(RerankOrder):
    """The cascade's order, with each position's relevance and what the stages returned."""

    relevance: dict[int, float] | None = None
    stages: tuple[RerankResult, ...] = ()


class CascadeReranker(Reranker):
    """Two rerankers in a row: ``first`` over the request, ``second`` over its top ``depth``.

    Scores are rank-derived (the two stages' scores are on different scales); ``relevance``
    is, for the top ``depth``, the second stage's calibrated probability (the finer judge
    read those passages and said how likely each is relevant), and below it the first
    stage's, capped so it never rises down the list. The result's usage, repairs, fallbacks
    and trace merge both stages' (each repair, fallback and trace entry names its stage);
    ``windows`` and ``comparisons`` add up and ``rounds`` is the first stage's plus the
    second's (the second waits for the first).

    Args:
        first: The first stage (ranks every candidate up to ``rank_end``).
        second: The second stage (ranks the first stage's top ``depth``).
        config: A :class:`CascadeConfig`; or give its fields as keywords in ``options``.
        name: The name in results (the whole spec when built from one).
        **options: Fields of :class:`CascadeConfig`.

    Raises:
        InvalidInputError: For a stage that is not a reranker or runs with the guard on (the
            guard belongs to the cascade), or bad options.
    """

    default_name = "cascade"
    config_class = CascadeConfig
    config: CascadeConfig

    def __init__(
        self,
        first: Reranker,
        second: Reranker,
        config: CascadeConfig | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        for label, stage in (("first", first), ("second", second)):
            if not isinstance(stage, Reranker):
                raise InvalidInputError(
                    f"{label} stage {stage!r:.60} is not an xling Reranker; build it with "
                    "get_reranker(spec)"
                )
            if stage.config.guard is not None:
                raise InvalidInputError(
                    f"the {label} stage {stage.name!r} runs with guard={stage.config.guard}; "
                    "stages run unguarded, set guard on the cascade"
                )
        self.first = first
        self.second = second
        super().__init__(config, name, **options)

    async def aclose(self) -> None:
        """Closes both stages' connections on the running event loop."""
        await gather(self.first.aclose(), self.second.aclose())

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        n = self.span(request)
        head = replace(request, candidates=request.candidates[:n])
        first = await self.first.arerank(head)
        depth = min(self.config.depth, n)
        top = first.candidates[:depth]
        second = await self.second.arerank(
            replace(request, candidates=tuple(c.candidate for c in top))
        )
        # Positions in ``head`` are positions in ``request`` (it is a prefix).
        order = [top[c.first_stage_rank].first_stage_rank for c in second.candidates]
        order += [c.first_stage_rank for c in first.candidates[depth:]]
        relevance = {
            top[c.first_stage_rank].first_stage_rank: c.relevance for c in second.candidates
        }
        relevance.update({c.first_stage_rank: c.relevance for c in first.candidates[depth:]})
        for label, result in (("first", first), ("second", second)):
            _merge(ledger, result, f"{label} stage {result.reranker}")
        return _CascadeOrder(
            order=order,
            windows=first.windows + second.windows,
            comparisons=first.comparisons + second.comparisons,
            rounds=first.rounds + second.rounds,
            relevance=relevance,
            stages=(first, second),
        )

    def _result(self, request: RerankRequest, ranking: RerankOrder, ledger: Ledger) -> RerankResult:
        result = super()._result(request, ranking, ledger)
        if not isinstance(ranking, _CascadeOrder) or ranking.relevance is None:
            return result  # the cascade as a whole fell back: the base's mapping of that order
        # Candidates past rank_end were not reranked; they sit below every reranked one.
        floor = min(ranking.relevance.values())
        ranked, last = [], 1.0
        for candidate in result.candidates:
            p = min(ranking.relevance.get(candidate.first_stage_rank, floor), last)
            ranked.append(replace(candidate, relevance=p))
            last = p
        return replace(result, candidates=ranked)


def _merge(ledger: Ledger, result: RerankResult, stage: str) -> None:
    """Adds a stage's usage, repairs, fallbacks and trace to the cascade's, naming the stage."""
    ledger.usage.calls += result.usage.calls
    ledger.usage.prompt_tokens += result.usage.prompt_tokens
    ledger.usage.completion_tokens += result.usage.completion_tokens
    ledger.repairs += [replace(r, where=f"{stage}: {r.where}") for r in result.repairs]
    ledger.fallbacks += [replace(f, reason=f"{stage}: {f.reason}") for f in result.fallbacks]
    if ledger.trace is not None and result.trace is not None:
        ledger.trace += [replace(call, where=f"{stage}: {call.where}") for call in result.trace]


def split_cascade(argument: str, spec: str) -> tuple[str, str]:
    """The two stage specs of a cascade's argument, cut at its first arrow.

    A second stage that holds another arrow is itself a cascade (``a→b→c`` is
    ``a → cascade:b→c``).

    Raises:
        InvalidInputError: When there is no arrow or a stage is empty.
    """
    cuts = [(argument.find(arrow), arrow) for arrow in ARROWS if arrow in argument]
    if not cuts:
        raise InvalidInputError(
            f"reranker {spec!r} has no arrow between its stages; use {CASCADE_FORM} (or ->)"
        )
    at, arrow = min(cuts)
    first, second = argument[:at].strip(), argument[at + len(arrow) :].strip()
    if not first or not second:
        raise InvalidInputError(
            f"reranker {spec!r} needs two stages, a spec on each side of the arrow; use "
            f"{CASCADE_FORM}"
        )
    if any(a in second for a in ARROWS) and not second.startswith("cascade:"):
        second = f"cascade:{second}"
    return first, second


def _stage_options(
    options: dict[str, Any], label: str, inherited: dict[str, Any]
) -> dict[str, Any]:
    """Takes ``first`` or ``second`` out of ``options``: that stage's options over ``inherited``."""
    own = options.pop(label, None)
    if own is None:
        own = {}
    if not isinstance(own, Mapping):
        raise InvalidInputError(
            f"{label}={own!r:.60} is not allowed; give the {label} stage's options as a dict "
            f"({label}={{'window': 10}})"
        )
    fixed = sorted(set(own) & set(_CASCADE_ONLY))
    if fixed:
        raise InvalidInputError(
            f"{label}={{{fixed[0]!r}: ...}} is not allowed: {', '.join(_CASCADE_ONLY)} belong "
            "to the cascade; give them as the cascade's options"
        )
    return {**inherited, **own}


def build_cascade(
    spec: str,
    argument: str,
    client: LLMClient | None,
    options: dict[str, Any],
    get_reranker: StageBuilder,
) -> CascadeReranker:
    """The cascade a ``cascade:<first>→<second>`` spec names (the family's factory).

    Args:
        spec: The whole spec (the name in results).
        argument: What follows ``cascade:``.
        client: The LLM client, given to both stages (rerankers without an LLM ignore it).
        options: ``depth``, ``first`` and ``second`` (dicts of each stage's options), and
            the cascade's :class:`~xling.rerankers.base.RerankerConfig` fields.
        get_reranker: Builds a stage from its spec.

    Raises:
        InvalidInputError: For a spec without two stages, stage options that are not a dict
            or hold a cascade-only option, or an option neither the cascade nor a stage has.
        UnknownSpecError: For an unknown stage spec (the message lists the forms).
    """
    first_spec, second_spec = split_cascade(argument, spec)
    options = dict(options)
    inherited = {key: options[key] for key in _INHERITED if key in options}
    stage_options = {
        label: _stage_options(options, label, inherited) for label in ("first", "second")
    }
    allowed = {f.name for f in fields(CascadeConfig)}
    stray = sorted(set(options) - allowed)
    if stray:
        raise InvalidInputError(
            f"option {stray[0]}={options[stray[0]]!r} is not a cascade option; give a stage's "
            f"own options as first={{...}} or second={{...}}; the cascade's: {sorted(allowed)}"
        )
    stages = []
    for label, stage_spec in (("first", first_spec), ("second", second_spec)):
        try:
            # The cascade cuts the request to its rank_end: each stage ranks all it is given.
            stages.append(get_reranker(stage_spec, client, **stage_options[label], rank_end=None))
        except UnknownSpecError as exc:
            raise UnknownSpecError(f"the {label} stage of {spec!r}: {exc}") from None
        except InvalidInputError as exc:
            raise InvalidInputError(f"the {label} stage of {spec!r}: {exc}") from None
    return CascadeReranker(stages[0], stages[1], name=spec, **options)
