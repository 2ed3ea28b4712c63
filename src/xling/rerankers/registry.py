"""Rerankers by name: ``get_reranker("prp-heapsort", client, top_k=10)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.registry import Registry
from xling.llm import LLMClient
from xling.rerankers.base import Reranker
from xling.rerankers.listwise import ListwiseReranker
from xling.rerankers.pairwise import PairwiseReranker
from xling.rerankers.pointwise import PointwiseReranker

__all__ = ["RERANKERS", "RerankerEntry", "get_reranker", "available_rerankers", "register_reranker"]


class RerankerEntry:
    """A reranker class with preset options, and a one-line description."""

    def __init__(self, cls: Callable[..., Reranker], description: str, **preset: Any) -> None:
        self.cls = cls
        self.description = description
        self.preset = preset

    def build(self, name: str, client: LLMClient, options: dict[str, Any]) -> Reranker:
        """The reranker with the preset options plus ``options`` (presets cannot change)."""
        for key, value in self.preset.items():
            if key in options and options[key] != value:
                raise InvalidInputError(
                    f"option {key}={options[key]!r} conflicts with reranker {name!r}, which "
                    f"fixes {key}={value!r}; choose another reranker name"
                )
        return self.cls(client, name=name, **{**options, **self.preset})


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
        "pointwise": RerankerEntry(
            PointwiseReranker, "yes/no relevance by logprob, one per passage"
        ),
    },
)


def available_rerankers() -> list[str]:
    """Registered reranker names."""
    return sorted(RERANKERS)


def register_reranker(name: str, entry: RerankerEntry, *, replace: bool = False) -> None:
    """Adds a reranker under ``name`` (a name in use is refused unless ``replace``)."""
    RERANKERS.register(name, entry, replace=replace)


def get_reranker(name: str, client: LLMClient, **options: Any) -> Reranker:
    """Builds the reranker registered as ``name``.

    Args:
        name: One of :func:`available_rerankers`.
        client: The LLM client it uses.
        **options: Fields of its config (``window``, ``template``, ``top_k``, ``on_failure``...).

    Raises:
        UnknownSpecError: For an unknown name (the message lists the known ones).
        InvalidInputError: For unknown or invalid options.
    """
    return RERANKERS.get(name).build(name, client, options)
