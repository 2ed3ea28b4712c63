"""The one passage record of retrieval and reranking: :class:`Hit`, and a query's hits.

A retriever returns :class:`QueryHits` (one per query, hits best first); a reranker takes them
as they are (its candidates are hits), and both convert to and from the run format of
``xling eval retrieval`` (query id → document id → score, ranks by descending score).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xling._validation import preview
from xling.core.languages import normalize_code
from xling.errors import InvalidInputError

__all__ = [
    "Hit",
    "QueryHits",
    "RunRow",
    "hits_from_run",
    "hits_to_run",
    "ranked_rows",
    "run_rows",
]

_HIT_FIELDS = ("id", "text", "score", "lang", "metadata")


def _check_score(score: Any, hid: str) -> float:
    """A score as ``float``: any finite real number (numpy's included), no bool."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
        raise InvalidInputError(
            f"candidate {hid!r} has score {preview(score)}; use a finite number (or no score)"
        )
    return float(score)


def check_lang(code: Any, what: str) -> str:
    """A language code, normalised (``sw`` → ``swh``); raises naming ``what`` otherwise."""
    if not isinstance(code, str):
        raise InvalidInputError(
            f"{what} has language {preview(code)}; use a code such as 'sw', 'swh' or 'swh_Latn'"
        )
    return normalize_code(code)


@dataclass(frozen=True)
class Hit:
    """One passage found for a query (or given to a reranker as a candidate).

    Attributes:
        id: The passage id: the pool's record id for pool hits (unique within a query's hits).
        text: The passage text.
        score: The retriever's score (higher is better; cosine similarity for ``dense``), or
            ``None`` when unknown. A list of hits is in its best-first order whatever the scores.
        lang: Its language code (any ISO 639-1/639-3/FLORES code; stored normalised).
        metadata: Everything else stored with it (``source``, ``row``, the user's own fields
            such as their document id).
    """

    id: str
    text: str
    score: float | None = None
    lang: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(f"candidate id {self.id!r} is not allowed; use a non-empty str")
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidInputError(
                f"candidate {self.id!r} has text {preview(self.text)}; empty texts are not allowed"
            )
        if self.score is not None:
            object.__setattr__(self, "score", _check_score(self.score, self.id))
        if self.lang is not None:
            object.__setattr__(self, "lang", check_lang(self.lang, f"candidate {self.id!r}"))
        if not isinstance(self.metadata, Mapping):
            raise InvalidInputError(
                f"candidate {self.id!r} has metadata {preview(self.metadata)}; use a mapping"
            )
        object.__setattr__(self, "metadata", dict(self.metadata))

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "text", "lang", "score", "metadata"}`` (JSON-ready)."""
        return {
            "id": self.id,
            "text": self.text,
            "lang": self.lang,
            "score": self.score,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int = 0) -> Hit:
        """From ``{"id"?, "text", "score"?, "lang"?, "metadata"?}``; a missing id is the position.

        Raises:
            InvalidInputError: On a non-object, a missing text, an unknown field or a bad value.
        """
        if not isinstance(data, Mapping) or "text" not in data:
            raise InvalidInputError(
                f"candidate {position} is {preview(data)}; use an object with 'text' (and 'id', "
                "'score', 'lang', 'metadata')"
            )
        unknown = set(data) - set(_HIT_FIELDS)
        if unknown:
            raise InvalidInputError(
                f"candidate {position} has unknown field(s) {sorted(unknown)}; allowed: "
                f"{', '.join(_HIT_FIELDS)}"
            )
        raw_id = data.get("id", position)
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise InvalidInputError(
                f"candidate {position} has id {preview(raw_id)}; use a string or an integer"
            )
        return cls(
            str(raw_id),
            data["text"],
            data.get("score"),
            data.get("lang"),
            data.get("metadata") or {},
        )


@dataclass(frozen=True)
class RunRow:
    """One line of a retrieval run (TREC ``qid Q0 docid rank score tag``).

    Attributes:
        query_id: The query id.
        doc_id: The document (passage) id.
        rank: 1-based rank.
        score: The score; strictly decreasing with rank, so tools that sort by score (trec_eval,
            ir-measures) keep the list's order.
    """

    query_id: str
    doc_id: str
    rank: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        """``{"query_id", "doc_id", "rank", "score"}``."""
        return {
            "query_id": self.query_id,
            "doc_id": self.doc_id,
            "rank": self.rank,
            "score": self.score,
        }

    def trec(self, tag: str = "xling") -> str:
        """The TREC run line."""
        return f"{self.query_id} Q0 {self.doc_id} {self.rank} {self.score:.6f} {tag}"


def run_rows(qid: str, hits: Sequence[Hit]) -> list[RunRow]:
    """The run lines of one query's hits, best first (see :func:`ranked_rows`)."""
    return ranked_rows(qid, [(h.id, h.score) for h in hits])


def ranked_rows(qid: str, ranked: Sequence[tuple[str, float | None]]) -> list[RunRow]:
    """The run lines of ``(doc id, score)`` pairs in best-first order.

    A list's order is what counts: where scores are missing, or do not decrease strictly, the
    score becomes ``len(ranked) - rank + 1`` so that every reader keeps the order.
    """
    scores = [score for _, score in ranked]
    decreasing = all(s is not None for s in scores) and all(
        a is not None and b is not None and a > b for a, b in zip(scores, scores[1:], strict=False)
    )
    rows = []
    for rank, (doc, score) in enumerate(ranked, 1):
        value = float(score) if decreasing and score is not None else len(ranked) - rank + 1
        rows.append(RunRow(qid, doc, rank, value))
    return rows


@dataclass(frozen=True)
class QueryHits:
    """A query and its hits, best first: the line of ``xling retrieve``.

    Attributes:
        qid: The query id (the JSONL ``qid``, else the 0-based line number as a string).
        query: The query text.
        hits: The hits, best first.
        query_lang: The query's language, if known (a hint for rerankers and answers).
    """

    qid: str
    query: str
    hits: tuple[Hit, ...]
    query_lang: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.qid, str) or not self.qid:
            raise InvalidInputError(f"qid {preview(self.qid)} is not allowed; use a non-empty str")
        if not isinstance(self.query, str) or not self.query.strip():
            raise InvalidInputError(f"query {preview(self.query)} is not allowed; use a text")
        if isinstance(self.hits, str | bytes | Mapping) or not isinstance(self.hits, Iterable):
            raise InvalidInputError(f"hits {preview(self.hits)} are not allowed; give Hits")
        hits = tuple(self.hits)
        for hit in hits:
            if not isinstance(hit, Hit):
                raise InvalidInputError(f"hit {preview(hit)} is not a Hit")
        object.__setattr__(self, "hits", hits)
        if self.query_lang is not None:
            object.__setattr__(self, "query_lang", check_lang(self.query_lang, "query_lang"))

    @property
    def ids(self) -> list[str]:
        """Hit ids, best first."""
        return [h.id for h in self.hits]

    def run_rows(self) -> list[RunRow]:
        """This query's run lines (see :func:`run_rows`)."""
        return run_rows(self.qid, self.hits)

    def to_dict(self) -> dict[str, Any]:
        """``{"qid", "query", "query_lang", "hits": [...]}`` (the ``xling retrieve`` line)."""
        return {
            "qid": self.qid,
            "query": self.query,
            "query_lang": self.query_lang,
            "hits": [h.to_dict() for h in self.hits],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int = 0) -> QueryHits:
        """From an ``xling retrieve`` line; a missing ``qid`` is the position."""
        if not isinstance(data, Mapping) or "query" not in data or "hits" not in data:
            raise InvalidInputError(f"{preview(data, 80)} needs 'query' and 'hits'")
        raw = data["hits"]
        if not isinstance(raw, list):
            raise InvalidInputError(f"'hits' must be a list, got {type(raw).__name__}")
        qid = data.get("qid", str(position))
        return cls(
            str(qid),
            data["query"],
            tuple(Hit.from_dict(item, i) for i, item in enumerate(raw)),
            data.get("query_lang"),
        )


def hits_to_run(results: Iterable[QueryHits]) -> dict[str, dict[str, float]]:
    """Query id → document id → score, the in-memory run of :mod:`xling.eval.ir_metrics`.

    Raises:
        InvalidInputError: If two results share a query id.
    """
    run: dict[str, dict[str, float]] = {}
    for result in results:
        if result.qid in run:
            raise InvalidInputError(f"query id {result.qid!r} appears twice; ids must be unique")
        run[result.qid] = {row.doc_id: row.score for row in result.run_rows()}
    return run


def hits_from_run(
    run: Mapping[str, Mapping[str, float]],
    queries: Mapping[str, str],
    lookup: Callable[[Sequence[str]], Sequence[Hit | None]],
) -> list[QueryHits]:
    """A run (query id → document id → score, as :func:`xling.eval.read_run` gives) as hits.

    Documents are ordered by descending score (ties by document id, ascending) and take their
    text, language and metadata from ``lookup`` (``pool.get``); the run's score is kept.

    Args:
        run: The run.
        queries: Query id → query text, for every query of the run.
        lookup: Ids → the pool's hits (``None`` for an id it does not hold).

    Raises:
        InvalidInputError: If a query id has no text, or a document is not in the pool.
    """
    out: list[QueryHits] = []
    for qid, docs in run.items():
        if qid not in queries:
            raise InvalidInputError(f"run query {qid!r} has no query text; give it in queries")
        ids = sorted(docs, key=lambda d: (-float(docs[d]), d))
        found = lookup(ids)
        missing = [d for d, hit in zip(ids, found, strict=True) if hit is None]
        if missing:
            raise InvalidInputError(
                f"run query {qid!r} lists {len(missing)} document(s) not in the pool, e.g. "
                f"{missing[0]!r}"
            )
        hits = tuple(
            Hit(h.id, h.text, float(docs[h.id]), h.lang, h.metadata) for h in found if h is not None
        )
        out.append(QueryHits(str(qid), queries[qid], hits))
    return out
