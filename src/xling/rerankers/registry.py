"""Rerankers by spec: a name (``get_reranker("prp-heapsort", client, top_k=10)``) or a family
with an argument (``get_reranker("ce:/models/bge-reranker-v2-m3")``).

Names are the LLM rerankers, which prompt the model behind the ``client`` they are given.
Families are ``family:argument`` specs (:data:`RERANKER_FAMILIES`): rerankers with a model of
their own (a cross-encoder, a scoring server), which ignore the client, and compositions of
other specs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.registry import Registry
from xling.llm import LLMClient
from xling.rerankers.base import Reranker
from xling.rerankers.cascade import CASCADE_FORM, build_cascade
from xling.rerankers.cross_encoder import build_cross_encoder
from xling.rerankers.listwise import ListwiseReranker
from xling.rerankers.pairwise import PairwiseReranker
from xling.rerankers.pointwise import PointwiseReranker
from xling.rerankers.reasoning import ReasoningReranker
from xling.rerankers.score_servers import build_cohere, build_tei, build_vllm_score
from xling.rerankers.setwise import SetwiseReranker

__all__ = [
    "RERANKERS",
    "RERANKER_FAMILIES",
    "RerankerEntry",
    "RerankerFamily",
    "get_reranker",
    "available_rerankers",
    "check_reranker_spec",
    "reranker_forms",
    "register_reranker",
    "register_reranker_family",
]


class RerankerEntry:
    """A reranker class with preset options, and a one-line description."""

    def __init__(self, cls: Callable[..., Reranker], description: str, **preset: Any) -> None:
        self.cls = cls
        self.description = description
        self.preset = preset

    def build(self, name: str, client: LLMClient | None, options: dict[str, Any]) -> Reranker:
        """The reranker with the preset options plus ``options`` (presets cannot change)."""
        for key, value in self.preset.items():
            if key in options and options[key] != value:
                raise InvalidInputError(
                    f"option {key}={options[key]!r} conflicts with reranker {name!r}, which "
                    f"fixes {key}={value!r}; choose another reranker name"
                )
        if client is None:
            raise InvalidInputError(
                f"reranker {name!r} prompts an LLM; give it a client, LLMClient(url)"
            )
        return self.cls(client, name=name, **{**options, **self.preset})


FamilyFactory = Callable[[str, str, LLMClient | None, dict[str, Any]], Reranker]


class RerankerFamily:
    """A ``family:argument`` reranker spec: how to build one from its argument.

    Args:
        factory: ``factory(spec, argument, client, options)`` → the reranker (``spec`` is the
            whole spec, its name in results; ``client`` may be ``None``).
        form: The spec's shape for help texts (``"ce:<name-or-path>"``).
        description: One line on what it is and what its scores mean.
    """

    def __init__(self, factory: FamilyFactory, form: str, description: str) -> None:
        self.factory = factory
        self.form = form
        self.description = description


RERANKER_FAMILIES: Registry[RerankerFamily] = Registry("reranker family", {})


RERANKERS: Registry[RerankerEntry] = Registry(
    "reranker",
    {
        "listwise": RerankerEntry(
            ListwiseReranker,
            "sliding windows, generated permutations repaired (RankGPT/RankZephyr/LRL)",
            mode="sliding",
        ),
        "first": RerankerEntry(
            ListwiseReranker,
            "sliding windows ranked by first-token logprobs after '[' (FIRST)",
            scoring="first",
        ),
        "tdpart": RerankerEntry(
            ListwiseReranker,
            "top-down partitioning: pivot from the first window, other windows in parallel",
            mode="tdpart",
        ),
        "prp-allpair": RerankerEntry(
            PairwiseReranker, "PRP over all pairs, n(n-1) prompts in flight", variant="allpair"
        ),
        "prp-heapsort": RerankerEntry(
            PairwiseReranker, "PRP heap sort of the top-k", variant="heapsort"
        ),
        "prp-sliding": RerankerEntry(
            PairwiseReranker, "PRP k bubble passes from the bottom", variant="sliding"
        ),
        "setwise-heapsort": RerankerEntry(
            SetwiseReranker,
            "setwise: best of num_child+1 passages by label logprobs, c-ary heap sort of the top-k",
            method="heapsort",
        ),
        "setwise-bubblesort": RerankerEntry(
            SetwiseReranker,
            "setwise: best of num_child+1 passages by label logprobs, k bubble passes",
            method="bubblesort",
        ),
        "pointwise": RerankerEntry(
            PointwiseReranker, "yes/no relevance by logprob, one per passage"
        ),
        "reasoning": RerankerEntry(
            ReasoningReranker,
            "listwise for models that think first (Rank-K, ReasonRank, Qwen3): a thinking "
            "budget, the ranking read after </think>, the answer forced when thinking runs out",
        ),
    },
)


def available_rerankers() -> list[str]:
    """Registered reranker names (the LLM rerankers; see :func:`reranker_forms` for all)."""
    return sorted(RERANKERS)


def reranker_forms() -> list[str]:
    """Every reranker spec's shape: the names, then the families (``ce:<name-or-path>``)."""
    return [*available_rerankers(), *(family.form for _, family in RERANKER_FAMILIES.items())]


def check_reranker_spec(spec: object, flag: str = "rerank") -> str:
    """The spec, if it is a reranker name or starts with a family's ``family:``; built later.

    A cheap check before slow work (opening a pool); building it checks the rest.

    Raises:
        UnknownSpecError: Naming ``flag`` and listing :func:`reranker_forms`.
    """
    if isinstance(spec, str) and (spec in RERANKERS or spec.partition(":")[0] in RERANKER_FAMILIES):
        return spec
    forms = ", ".join(reranker_forms())
    raise UnknownSpecError(f"{flag}={spec!r:.80} is not allowed; use one of: {forms}")


def register_reranker_family(name: str, family: RerankerFamily, *, replace: bool = False) -> None:
    """Adds a ``family:argument`` family (a name in use is refused unless ``replace``)."""
    RERANKER_FAMILIES.register(name, family, replace=replace)


def register_reranker(name: str, entry: RerankerEntry, *, replace: bool = False) -> None:
    """Adds a reranker under ``name`` (a name in use is refused unless ``replace``)."""
    RERANKERS.register(name, entry, replace=replace)


def get_reranker(spec: str, client: LLMClient | None = None, **options: Any) -> Reranker:
    """Builds the reranker a spec names.

    Args:
        spec: A name of :func:`available_rerankers` (an LLM reranker) or a family's
            ``family:argument`` (see :func:`reranker_forms`).
        client: The LLM client of LLM rerankers (needed by those, ignored by the others).
        **options: Fields of its config (``window``, ``template``, ``top_k``, ``on_failure``...).

    Raises:
        UnknownSpecError: For an unknown name or family (the message lists the known ones).
        InvalidInputError: For unknown or invalid options, or an LLM reranker without a client.
    """
    if isinstance(spec, str) and spec in RERANKERS:
        return RERANKERS.get(spec).build(spec, client, options)
    if isinstance(spec, str):
        family, sep, argument = spec.partition(":")
        if sep and family in RERANKER_FAMILIES:
            entry = RERANKER_FAMILIES.get(family)
            if not argument.strip():
                raise InvalidInputError(f"reranker {spec!r} has no argument; use {entry.form}")
            return entry.factory(spec, argument, client, options)
    raise UnknownSpecError(
        f"unknown reranker {spec!r:.80}; use one of: {', '.join(reranker_forms())}"
    )


# Cross-encoders: a local model, or one behind a scoring server; scores are probabilities.
register_reranker_family(
    "ce",
    RerankerFamily(
        build_cross_encoder,
        "ce:<name-or-path>",
        "a local sentence-transformers cross-encoder (a folder or the hub cache); score: "
        "sigmoid of its logit, the probability of relevance",
    ),
)
register_reranker_family(
    "vllm-score",
    RerankerFamily(
        build_vllm_score,
        "vllm-score:<url>#<model>",
        "a cross-encoder served by vLLM's /score; score: the model's probability",
    ),
)
register_reranker_family(
    "tei",
    RerankerFamily(
        build_tei,
        "tei:<url>",
        "a cross-encoder served by text-embeddings-inference's /rerank; score: its probability",
    ),
)
register_reranker_family(
    "cohere",
    RerankerFamily(
        build_cohere,
        "cohere:<url>#<model>",
        "any Cohere-compatible /v2/rerank (Cohere, xling serve); score: its relevance_score",
    ),
)


def _cascade(
    spec: str, argument: str, client: LLMClient | None, options: dict[str, Any]
) -> Reranker:
    return build_cascade(spec, argument, client, options, get_reranker)


register_reranker_family(
    "cascade",
    RerankerFamily(
        _cascade,
        CASCADE_FORM,
        "the first spec reranks all, the second its top depth (20); relevance from the stage "
        "that ranked each last",
    ),
)
