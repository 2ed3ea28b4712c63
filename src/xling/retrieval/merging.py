"""The hits of several queries for one asker, as one list: best score per passage, a minimum
score, the ``k`` best (OpenAI's multi-query vector-store search, Dify's score threshold)."""

from __future__ import annotations

from collections.abc import Sequence

from xling.core.errors import InvalidInputError
from xling.core.records import Hit, QueryHits
from xling.core.validation import check_positive_int

__all__ = ["merge_hits"]


def merge_hits(results: Sequence[QueryHits], k: int, min_score: float | None = None) -> list[Hit]:
    """The ``k`` best passages over every query's hits, each once with its best score.

    Args:
        results: Hits per query (scores higher-better, as the dense retriever's cosines).
        k: Most hits returned.
        min_score: Drop hits scored below it (and hits without a score); ``None``: keep all.

    Returns:
        Hits by decreasing score; ties keep the order in which they were first found.

    Raises:
        InvalidInputError: On ``k < 1`` or a ``min_score`` that is not a finite number.
    """
    check_positive_int(k, "k")
    if min_score is not None and (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or min_score != min_score
        or min_score in (float("inf"), float("-inf"))
    ):
        raise InvalidInputError(f"min_score={min_score!r} is not allowed; use a finite number")
    best: dict[str, Hit] = {}  # insertion order: first found
    for query in results:
        for hit in query.hits:
            seen = best.get(hit.id)
            if seen is None or _score(hit) > _score(seen):
                best[hit.id] = hit
    kept = [h for h in best.values() if min_score is None or _score(h) >= min_score]
    order = {hid: i for i, hid in enumerate(best)}
    kept.sort(key=lambda h: (-_score(h), order[h.id]))
    return kept[:k]


def _score(hit: Hit) -> float:
    return hit.score if hit.score is not None else float("-inf")
