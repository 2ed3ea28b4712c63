"""Retrieval metrics over runs and qrels: nDCG@k, Recall@k, MRR@k (RR@k), MAP (AP), P@k.

Definitions follow trec_eval (and so ir-measures): documents are ranked by descending score,
ties broken by descending document id; nDCG uses linear gains and ``log2(rank + 1)`` discounts
with the ideal ranking built from the qrels; a document is relevant when its grade is at least
``rel`` (1 by default). Files are TREC (``qid Q0 docid rank score tag`` runs, ``qid 0 docid
grade`` qrels) or JSONL (``{"query_id", "doc_id", "score"}`` and ``{"query_id", "doc_id",
"relevance"}``); every parse error names the file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.records import ranked_rows
from xling.core.validation import check_choice, check_sequence, json_object, preview, read_utf8

__all__ = [
    "Qrels",
    "Run",
    "MEASURES",
    "Measure",
    "RetrievalResult",
    "parse_measure",
    "read_qrels",
    "read_run",
    "rank",
    "TIE_BREAKS",
    "evaluate_run",
]

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
Ranked = list[str]
MeasureFn = Callable[[Ranked, Mapping[str, int], int | None, int], float]

# Where each query id was first seen (file, line), for errors about query ids.
_Origins = dict[str, tuple[str, int]]


def _relevant(qrels: Mapping[str, int], rel: int) -> set[str]:
    return {doc for doc, grade in qrels.items() if grade >= rel}


def _ndcg(ranked: Ranked, qrels: Mapping[str, int], k: int | None, rel: int) -> float:
    top = ranked if k is None else ranked[:k]
    dcg = sum(max(qrels.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(top))
    ideal_gains = sorted((g for g in qrels.values() if g > 0), reverse=True)
    ideal_gains = ideal_gains if k is None else ideal_gains[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    return dcg / idcg if idcg > 0 else 0.0


def _recall(ranked: Ranked, qrels: Mapping[str, int], k: int | None, rel: int) -> float:
    relevant = _relevant(qrels, rel)
    if not relevant:
        return 0.0
    top = ranked if k is None else ranked[:k]
    return sum(doc in relevant for doc in top) / len(relevant)


def _precision(ranked: Ranked, qrels: Mapping[str, int], k: int | None, rel: int) -> float:
    relevant = _relevant(qrels, rel)
    top = ranked if k is None else ranked[:k]
    denominator = k if k is not None else len(ranked)
    return sum(doc in relevant for doc in top) / denominator if denominator else 0.0


def _rr(ranked: Ranked, qrels: Mapping[str, int], k: int | None, rel: int) -> float:
    relevant = _relevant(qrels, rel)
    for i, doc in enumerate(ranked if k is None else ranked[:k]):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


def _ap(ranked: Ranked, qrels: Mapping[str, int], k: int | None, rel: int) -> float:
    relevant = _relevant(qrels, rel)
    if not relevant:
        return 0.0
    hits = 0
    total = 0.0
    for i, doc in enumerate(ranked if k is None else ranked[:k]):
        if doc in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


# Canonical name → function; aliases map other spellings to these.
MEASURES: dict[str, MeasureFn] = {
    "nDCG": _ndcg,
    "R": _recall,
    "P": _precision,
    "RR": _rr,
    "AP": _ap,
}
_ALIASES = {
    "ndcg": "nDCG",
    "r": "R",
    "recall": "R",
    "p": "P",
    "precision": "P",
    "rr": "RR",
    "mrr": "RR",
    "ap": "AP",
    "map": "AP",
}
_SPEC = re.compile(r"^([A-Za-z]+)(?:@(\d+))?$")


@dataclass(frozen=True)
class Measure:
    """A parsed measure: ``nDCG@10`` → ``Measure("nDCG", 10)``."""

    name: str
    k: int | None = None

    def __str__(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"


def parse_measure(spec: str) -> Measure:
    """Parses ``nDCG@10``, ``Recall@100``/``R@100``, ``MRR@10``/``RR@10``, ``MAP``/``AP``, ``P@5``.

    Raises:
        UnknownSpecError: If the name is unknown or the cutoff is not a positive integer.
    """
    if not isinstance(spec, str):
        raise UnknownSpecError(
            f"retrieval measure must be a string such as 'nDCG@10', got {preview(spec)} "
            f"({type(spec).__name__})"
        )
    match = _SPEC.match(spec.strip())
    name = _ALIASES.get(match.group(1).lower()) if match else None
    if match is None or name is None or (match.group(2) is not None and int(match.group(2)) < 1):
        raise UnknownSpecError(
            f"unknown retrieval measure {spec!r}; allowed: nDCG@k, Recall@k (R@k), MRR@k "
            "(RR@k), MAP (AP), P@k"
        )
    return Measure(name, int(match.group(2)) if match.group(2) else None)


def _records(path: Path) -> Iterable[tuple[int, list[str] | dict[str, Any]]]:
    jsonl = path.suffix.lower() in (".jsonl", ".json", ".ndjson")
    text = read_utf8(path)
    if not text.strip():
        raise InvalidInputError(f"file {str(path)!r} is empty")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not jsonl:
            yield number, line.split()
            continue
        yield number, json_object(line, f"{path}:{number}")


def _expanded(
    records: Iterable[tuple[int, list[str] | dict[str, Any]]], layout: _Layout, path: Path
) -> Iterable[tuple[int, list[str] | dict[str, Any]]]:
    """Run lines, with each ``xling retrieve`` / ``xling rerank`` line (a query's ranked
    ``hits`` or ``candidates``) turned into one line per document, ranks kept."""
    for number, record in records:
        key = next(
            (k for k in ("hits", "candidates") if isinstance(record, dict) and k in record), None
        )
        if layout.name != "run" or key is None or not isinstance(record, dict):
            yield number, record
            continue
        where = f"{path}:{number}"
        qid, items = record.get("qid"), record[key]
        if qid is None or isinstance(qid, bool) or not isinstance(qid, str | int):
            raise InvalidInputError(f"{where} has {key!r} but no 'qid'; give each query an id")
        if not isinstance(items, list) or not all(
            isinstance(x, dict) and isinstance(x.get("id"), str | int) for x in items
        ):
            raise InvalidInputError(f"{where}: {key!r} must be a list of objects with an 'id'")
        ranked = [(str(x["id"]), x.get("score")) for x in items]
        for row in ranked_rows(str(qid), ranked):
            yield number, {"query_id": row.query_id, "doc_id": row.doc_id, "score": row.score}


def _field(record: dict[str, Any], keys: tuple[str, ...], where: str) -> Any:
    for key in keys:
        if key in record:
            return record[key]
    raise InvalidInputError(f"{where} lacks {keys[0]!r} (also accepted: {', '.join(keys[1:])})")


def _number(value: Any, kind: type, what: str, where: str) -> Any:
    """Parses a score (any finite number) or a grade (a whole number; ``2.0`` is 2)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{where}: {what} {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{where}: {what} {value!r} is not finite")
    if kind is int:
        if isinstance(value, int):
            return value
        if not number.is_integer():
            raise InvalidInputError(
                f"{where}: {what} {value!r} is not a whole number; relevance grades are "
                "integers (0, 1, 2, ...)"
            )
        return int(number)
    return number


@dataclass(frozen=True)
class _Layout:
    """How a file of (query, document, value) lines is laid out: qrels or a run.

    Attributes:
        name: What the file is, for messages (``qrels``, ``run``).
        trec_fields: The TREC line's fields, space-separated (their count is checked).
        value_column: Where the value stands on a TREC line.
        value_keys: JSON keys of the value, the preferred one first (also its name).
        kind: ``int`` or ``float``: what the value must parse as.
        repeated: The message for a repeated (query, document), with ``{doc}`` and ``{qid}``.
    """

    name: str
    trec_fields: str
    value_column: int
    value_keys: tuple[str, ...]
    kind: type
    repeated: str


_QRELS = _Layout(
    "qrels",
    "query_id iteration doc_id relevance",
    3,
    ("relevance", "rel", "grade"),
    int,
    "judges document {doc!r} of query {qid!r} twice",
)
_RUN = _Layout(
    "run",
    "query_id Q0 doc_id rank score tag",
    4,
    ("score",),
    float,
    "lists document {doc!r} for query {qid!r} twice",
)


def _read_table(path: str | Path, layout: _Layout) -> tuple[dict[str, dict[str, Any]], _Origins]:
    """Reads qrels or a run: query id → document id → value, and where each query was first seen.

    Raises:
        InvalidInputError: On a malformed line or a repeated (query, document), naming file:line.
    """
    p = Path(path)
    table: dict[str, dict[str, Any]] = {}
    origins: _Origins = {}
    width = len(layout.trec_fields.split())
    for number, record in _expanded(_records(p), layout, p):
        where = f"{p}:{number}"
        if isinstance(record, list):
            if len(record) != width:
                raise InvalidInputError(
                    f"{where} has {len(record)} fields; TREC {layout.name} lines are "
                    f"'{layout.trec_fields}'"
                )
            qid, doc, raw = record[0], record[2], record[layout.value_column]
        else:
            qid = _field(record, ("query_id", "qid"), where)
            doc = _field(record, ("doc_id", "docid", "docno"), where)
            raw = _field(record, layout.value_keys, where)
        value = _number(raw, layout.kind, layout.value_keys[0], where)
        docs = table.setdefault(str(qid), {})
        origins.setdefault(str(qid), (str(p), number))
        if str(doc) in docs:
            raise InvalidInputError(f"{where} {layout.repeated.format(doc=doc, qid=qid)}")
        docs[str(doc)] = value
    return table, origins


def _check_map(table: Any, layout: _Layout) -> dict[str, dict[str, Any]]:
    """Validates an in-memory run or qrels: query id → document id → number."""
    what = layout.value_keys[0]
    if not isinstance(table, Mapping):
        raise InvalidInputError(
            f"the {layout.name} must be a file path or a mapping of query id → document id → "
            f"{what}, got {preview(table)} ({type(table).__name__})"
        )
    out: dict[str, dict[str, Any]] = {}
    for qid, docs in table.items():
        if not isinstance(docs, Mapping):
            raise InvalidInputError(
                f"{layout.name} query {qid!r} must map document ids to {what}s, got {preview(docs)}"
            )
        where = f"{layout.name} query {qid!r}"
        out[str(qid)] = {
            str(doc): _number(value, layout.kind, f"{what} of {doc!r}", where)
            for doc, value in docs.items()
        }
    return out


def read_qrels(path: str | Path) -> Qrels:
    """Reads relevance judgements (TREC ``qid iter docid grade`` or JSONL).

    Raises:
        InvalidInputError: On a malformed line or a repeated (query, document), naming file:line.
    """
    qrels, _ = _read_table(path, _QRELS)
    return qrels


def read_run(path: str | Path) -> Run:
    """Reads a run (TREC ``qid Q0 docid rank score tag`` or JSONL with ``score``).

    Raises:
        InvalidInputError: On a malformed line or a repeated (query, document), naming file:line.
    """
    run, _ = _read_table(path, _RUN)
    return run


def _trec_eval_order(scores: Mapping[str, float]) -> Ranked:
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _msmarco_order(scores: Mapping[str, float]) -> Ranked:
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


# How equal scores are ordered. trec_eval (and ir-measures' pytrec_eval provider, used for
# nDCG, AP, R, P and uncut RR) puts the larger document id first; the MS MARCO script (which
# ir-measures uses for RR@k) the smaller one.
TIE_BREAKS: dict[str, Callable[[Mapping[str, float]], Ranked]] = {
    "trec_eval": _trec_eval_order,
    "msmarco": _msmarco_order,
}


def rank(scores: Mapping[str, float], ties: str = "trec_eval") -> Ranked:
    """Document ids by descending score; equal scores ordered as :data:`TIE_BREAKS` says.

    Raises:
        InvalidInputError: If ``ties`` is not a key of :data:`TIE_BREAKS`.
    """
    if ties not in TIE_BREAKS:
        raise InvalidInputError(f"ties={ties!r} is not allowed; use {' or '.join(TIE_BREAKS)}")
    return TIE_BREAKS[ties](scores)


@dataclass(frozen=True)
class RetrievalResult:
    """Mean and per-query values of each measure.

    Attributes:
        metrics: Measure name (``nDCG@10``) → mean over the evaluated queries.
        per_query: Query id → measure name → value.
        queries: Number of queries evaluated.
        missing: Judged queries the run has no results for (scored 0, or skipped).
    """

    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    queries: int
    missing: list[str] = field(default_factory=list)

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        """The result as JSON-ready data (what ``xling eval retrieval --json`` prints).

        Args:
            per_query: Also include ``per_query`` (query id → measure → value).

        Returns:
            Each measure's mean under its name, then ``queries`` and ``missing``.
        """
        payload: dict[str, Any] = {
            **self.metrics,
            "queries": self.queries,
            "missing": list(self.missing),
        }
        if per_query:
            payload["per_query"] = {qid: dict(values) for qid, values in self.per_query.items()}
        return payload


def evaluate_run(
    run: Run | str | Path,
    qrels: Qrels | str | Path,
    measures: Iterable[str | Measure] = ("nDCG@10", "R@100", "RR@10", "AP"),
    *,
    rel: int = 1,
    unknown_queries: Literal["error", "skip"] = "error",
    missing_queries: Literal["zero", "skip"] = "zero",
    ties: str = "trec_eval",
) -> RetrievalResult:
    """Scores a run against qrels.

    Args:
        run: A run (query → document → score) or its file.
        qrels: Judgements (query → document → grade) or their file.
        measures: Measure specs (see :func:`parse_measure`).
        rel: Minimum grade of a relevant document for the binary measures.
        unknown_queries: A run query absent from the qrels is an ``error`` (naming where it
            appears) or is skipped (trec_eval's behaviour).
        missing_queries: A judged query absent from the run scores ``zero`` (ir-measures'
            behaviour, trec_eval ``-c``) or is skipped (trec_eval's default).
        ties: Order of equal scores: ``trec_eval`` (larger id first) or ``msmarco``.

    Returns:
        The :class:`RetrievalResult`.

    Raises:
        InvalidInputError: On unknown query ids (by default), empty inputs or bad files.
    """
    run_map, run_origins = (
        _read_table(run, _RUN) if isinstance(run, str | Path) else (_check_map(run, _RUN), {})
    )
    qrels_map, _ = (
        _read_table(qrels, _QRELS)
        if isinstance(qrels, str | Path)
        else (_check_map(qrels, _QRELS), {})
    )
    if isinstance(rel, bool) or not isinstance(rel, int):
        raise InvalidInputError(f"rel={preview(rel)} is not allowed; use an integer grade")
    check_choice(unknown_queries, "unknown_queries", ("error", "skip"))
    check_choice(missing_queries, "missing_queries", ("zero", "skip"))
    rank({}, ties)  # refuses an unknown tie-break up front
    parsed = [
        m if isinstance(m, Measure) else parse_measure(m)
        for m in check_sequence(measures, "measures", "measure names such as 'nDCG@10'")
    ]
    if not parsed:
        raise InvalidInputError("no measures given; e.g. nDCG@10, R@100, MRR@10, MAP")
    if not qrels_map:
        raise InvalidInputError("the qrels are empty")
    unknown = [qid for qid in run_map if qid not in qrels_map]
    if unknown and unknown_queries == "error":
        qid = unknown[0]
        where = "{}:{}".format(*run_origins[qid]) if qid in run_origins else "the run"
        raise InvalidInputError(
            f"query id {qid!r} at {where} is not in the qrels ({len(unknown)} such queries); "
            "check that run and qrels belong together, or skip them (--skip-unknown)"
        )
    missing = sorted(qid for qid in qrels_map if qid not in run_map)
    evaluated = [q for q in qrels_map if q in run_map or missing_queries == "zero"]
    if not evaluated:
        raise InvalidInputError("no query is both in the run and in the qrels")
    per_query: dict[str, dict[str, float]] = {}
    for qid in evaluated:
        ranked = rank(run_map.get(qid, {}), ties)
        per_query[qid] = {
            str(m): MEASURES[m.name](ranked, qrels_map[qid], m.k, rel) for m in parsed
        }
    metrics = {
        str(m): sum(values[str(m)] for values in per_query.values()) / len(per_query)
        for m in parsed
    }
    return RetrievalResult(metrics, per_query, len(per_query), missing)
