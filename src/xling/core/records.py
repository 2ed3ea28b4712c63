"""The records that cross layers, with their readers and writers (rank_llm's ``data.py``).

- :class:`Hit`, :class:`QueryHits`, :class:`RunRow`: a retriever returns one :class:`QueryHits`
  per query (hits best first); a reranker takes them as they are (its candidates are hits), and
  both convert to and from the run format of ``xling eval retrieval`` (query id → document id →
  score, ranks by descending score).
- :class:`AlignedPool` and :class:`Example`: translation pairs of one direction, what ICL
  example selectors choose from, and what they choose.
- :class:`Question`: a question or retrieval query with its id and language, and its files.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import is_blank, json_object, preview, read_utf8

__all__ = [
    "AlignedPool",
    "FieldsDict",
    "Example",
    "Hit",
    "Question",
    "QueryHits",
    "RunRow",
    "hits_from_run",
    "hits_to_run",
    "ranked_rows",
    "read_questions",
    "run_rows",
]

_HIT_FIELDS = ("id", "text", "score", "lang", "metadata")
_HIT_KEYS = ("id", "text", "lang", "score", "metadata")  # the published order of a hit's keys


class FieldsDict:
    """Gives a dataclass record ``to_dict``: its fields in order, containers copied."""

    def to_dict(self) -> dict[str, Any]:
        """The record's fields in declaration order (``dataclasses.asdict``), JSON-ready."""
        return asdict(cast(Any, self))


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
        score: The retriever's score (higher is better), or ``None`` when unknown: cosine
            similarity for ``dense`` (of language-centred vectors with ``center``), the BM25
            score for ``bm25``, the fused score for ``hybrid`` (``weighted``: in [0, 1]; RRF:
            a sum of ``1 / (60 + rank)``), the CSLS or ratio margin for ``margin``; after a
            reranker, its relevance probability. A list of hits is in its best-first order
            whatever the scores.
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

    @property
    def citation(self) -> str:
        """Where a document chunk comes from, for people: ``"Title > Section, p. 12"``
        (``""`` for a hit that is not a document chunk)."""
        meta = self.metadata
        if "doc_id" not in meta:
            return ""
        parts = [str(meta.get("title") or meta["doc_id"])]
        if meta.get("section"):
            parts.append(str(meta["section"]))
        where = " > ".join(parts)
        page = meta.get("page")
        return f"{where}, p. {page}" if isinstance(page, int) else where

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "text", "lang", "score", "metadata"}`` (JSON-ready; metadata copied)."""
        fields = asdict(self)
        return {key: fields[key] for key in _HIT_KEYS}

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
class RunRow(FieldsDict):
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


@dataclass
class AlignedPool:
    """Translation pairs of one direction, in pool row order, held in memory.

    Attributes:
        sources: Source-side texts.
        targets: Target-side texts.
        rows: Each pair's 0-based row in the file it came from.
        src_lang: Canonical source language code.
        tgt_lang: Canonical target language code.
        source_vectors: Unit-norm vectors of the sources, if loaded.
        target_vectors: Unit-norm vectors of the targets, if loaded.
        embedder_id: The embedder that made the vectors.
    """

    sources: list[str]
    targets: list[str]
    rows: list[int]
    src_lang: str
    tgt_lang: str
    source_vectors: np.ndarray | None = None
    target_vectors: np.ndarray | None = None
    embedder_id: str | None = None

    def __post_init__(self) -> None:
        if not (len(self.sources) == len(self.targets) == len(self.rows)):
            raise InvalidInputError(
                f"aligned pool is misaligned: {len(self.sources)} sources, "
                f"{len(self.targets)} targets, {len(self.rows)} rows"
            )

    def __len__(self) -> int:
        return len(self.sources)


@dataclass(slots=True)
class Example:
    """One in-context example chosen from an aligned pool.

    Attributes:
        row: 0-based line of the pair in the pool's files (the pool's ``rows`` entry).
        source: Source-language sentence.
        target: Its translation.
        score: The strategy's score (cosine, BM25, margin, n-gram recall, fused points; 0 for
            ``random``). Higher is better.
        rank: 1 for the example the strategy likes best, 2 for the next, ... (prompt order may
            differ, see :data:`Order`).
    """

    row: int
    source: str
    target: str
    score: float
    rank: int = 1


@dataclass(frozen=True)
class Question:
    """A question and, if known, its language.

    Attributes:
        text: The question.
        qid: Its id (the JSONL ``qid``, else the 0-based line number).
        lang: The user's language; ``None``: detected from the question.
        hint: A client's hint of the user's language when ``lang`` is not given: an
            ``Accept-Language`` value (``"fr-CH, fr;q=0.9"``) or a code. It nudges the
            detection of short questions; the question's own words still win.
    """

    text: str
    qid: str = "0"
    lang: str | None = None
    hint: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or is_blank(self.text):
            raise InvalidInputError(
                f"question {preview(self.text)} is not allowed; ask a non-empty question"
            )
        if not isinstance(self.qid, str) or not self.qid:
            raise InvalidInputError(f"qid {preview(self.qid)} is not allowed; use a non-empty str")
        if self.lang is not None:
            object.__setattr__(self, "lang", normalize_code(self.lang))
        if self.hint is not None and not isinstance(self.hint, str):
            raise InvalidInputError(
                f"hint {preview(self.hint)} is not allowed; give an Accept-Language value or a code"
            )


def read_questions(path: str | Path) -> list[Question]:
    """Reads questions or queries: one a line, or JSONL ``{"question", "lang"?, "qid"?}``.

    In JSONL the text may also be called ``query`` (the field of ``xling retrieve`` lines).

    A file whose first non-blank line starts with ``{`` is JSONL. Blank lines are skipped;
    ``qid`` defaults to the 0-based line number.

    Raises:
        InvalidInputError: Naming ``file:line`` for a bad line, a missing or empty question, an
            unknown language or a repeated ``qid``; or when the file holds no question.
    """
    text = read_utf8(path, "questions file")
    lines = text.split("\n")
    jsonl = next((line.lstrip().startswith("{") for line in lines if line.strip()), False)
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}:{number + 1}"
        try:
            if jsonl:
                obj = json_object(line, where)
                key = "query" if "query" in obj and "question" not in obj else "question"
                unknown = set(obj) - {key, "lang", "qid"}
                if unknown or key not in obj:
                    raise InvalidInputError(
                        f'{where}: use {{"question" (or "query"), "lang"?, "qid"?}}'
                        + (f", not {sorted(unknown)}" if unknown else "")
                    )
                qid = obj.get("qid", str(number))
                if isinstance(qid, int) and not isinstance(qid, bool):
                    qid = str(qid)
                question = Question(obj[key], qid, obj.get("lang"))
            else:
                question = Question(line.strip(), str(number))
        except InvalidInputError as exc:
            message = str(exc)
            if not message.startswith(where):
                message = f"{where}: {message}"
            raise InvalidInputError(message) from None
        if question.qid in seen:
            raise InvalidInputError(
                f"{where}: qid {question.qid!r} was used before; make it unique"
            )
        seen.add(question.qid)
        questions.append(question)
    if not questions:
        raise InvalidInputError(f"{path} holds no question")
    return questions
