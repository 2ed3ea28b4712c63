"""Typed records of reranking: requests, candidates, results and what happened on the way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xling.core.errors import InvalidInputError
from xling.core.records import Hit, QueryHits, check_lang
from xling.core.validation import check_texts, json_object
from xling.core.validation import preview as _preview
from xling.llm.answers import TokenUsage

__all__ = [
    "RerankRequest",
    "RankedCandidate",
    "Repair",
    "RepairKind",
    "Fallback",
    "FallbackKind",
    "RerankUsage",
    "RerankResult",
    "ModelCall",
    "read_requests",
]

RepairKind = Literal[
    "think_stripped",
    "answer_cut",
    "lookalike_digits",
    "no_identifiers",
    "duplicates_dropped",
    "out_of_range_dropped",
    "missing_appended",
    "unparsed_answer",
    "reasoning_cut",
]
FallbackKind = Literal["first_stage_order", "generation"]


@dataclass(frozen=True)
class RerankRequest:
    """A query and its first-stage candidates, best first.

    A retriever's :class:`~xling.core.records.QueryHits` is taken as it is by every reranker
    (:meth:`of`); its hits are the candidates, metadata and all.

    Attributes:
        query: The query text.
        candidates: The candidates (:class:`~xling.core.records.Hit`) in first-stage order (ids
            unique, at least one).
        query_lang: The query's language code, if known (enables the cross-lingual note).
        qid: The query id, carried into the result (``None``: none given).
    """

    query: str
    candidates: tuple[Hit, ...]
    query_lang: str | None = None
    qid: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.query, str) or not self.query.strip():
            raise InvalidInputError(f"query {self.query!r} is not allowed; use a non-empty text")
        if isinstance(self.candidates, str | bytes | Mapping) or not isinstance(
            self.candidates, Iterable
        ):
            raise InvalidInputError(
                f"candidates {_preview(self.candidates)} are not allowed; give a sequence of Hit"
            )
        candidates = tuple(self.candidates)
        if not candidates:
            raise InvalidInputError(
                f"no candidates to rerank for query {self.query[:60]!r}; give at least one"
            )
        seen: set[str] = set()
        for candidate in candidates:
            if not isinstance(candidate, Hit):
                raise InvalidInputError(
                    f"candidate {_preview(candidate)} is not a Hit; build it with Hit(id, text)"
                )
            if candidate.id in seen:
                raise InvalidInputError(
                    f"duplicate candidate id {candidate.id!r} for query {self.query[:60]!r}; "
                    "ids must be unique within a request"
                )
            seen.add(candidate.id)
        object.__setattr__(self, "candidates", candidates)
        if self.query_lang is not None:
            object.__setattr__(self, "query_lang", check_lang(self.query_lang, "query_lang"))
        if self.qid is not None and (not isinstance(self.qid, str) or not self.qid):
            raise InvalidInputError(f"qid {_preview(self.qid)} is not allowed; use a non-empty str")

    @classmethod
    def of(cls, request: RerankRequest | QueryHits) -> RerankRequest:
        """The request itself, or a retriever's result as a request (hits as candidates)."""
        if isinstance(request, RerankRequest):
            return request
        if isinstance(request, QueryHits):
            return cls(request.query, request.hits, request.query_lang, request.qid)
        raise InvalidInputError(
            f"{_preview(request)} is not a RerankRequest or a retriever's QueryHits"
        )

    @classmethod
    def from_texts(
        cls,
        query: str,
        texts: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        scores: Sequence[float] | None = None,
        langs: Sequence[str | None] | None = None,
        query_lang: str | None = None,
    ) -> RerankRequest:
        """Builds a request from parallel lists; ids default to ``"0", "1", ...``."""
        texts = check_texts(texts, "texts")
        n = len(texts)
        for name, values in (("ids", ids), ("scores", scores), ("langs", langs)):
            if values is None:
                continue
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise InvalidInputError(
                    f"{name}={_preview(values)} is not allowed; give a list aligned with texts"
                )
            if len(values) != n:
                raise InvalidInputError(f"{name} has {len(values)} items but texts has {n}")
        return cls(
            query,
            tuple(
                Hit(
                    ids[i] if ids is not None else str(i),
                    texts[i],
                    scores[i] if scores is not None else None,
                    langs[i] if langs is not None else None,
                )
                for i in range(n)
            ),
            query_lang,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RerankRequest:
        """From ``{"qid"?, "query", "candidates": [...], "query_lang"?}`` or a retrieve line.

        ``xling retrieve``'s lines (``hits`` instead of ``candidates``) are read as they are;
        each candidate is ``{"id"?, "text", "score"?, "lang"?, "metadata"?}``.
        """
        key = "candidates" if isinstance(data, Mapping) and "candidates" in data else "hits"
        if not isinstance(data, Mapping) or "query" not in data or key not in data:
            raise InvalidInputError(
                f"request {str(data)[:80]!r} needs 'query' and 'candidates' (or an xling "
                "retrieve line's 'hits'), and optionally 'qid' and 'query_lang'"
            )
        raw = data[key]
        if not isinstance(raw, list):
            raise InvalidInputError(f"{key!r} must be a list, got {type(raw).__name__}")
        candidates = tuple(Hit.from_dict(item, i) for i, item in enumerate(raw))
        qid = data.get("qid")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        if qid is not None and not isinstance(qid, str):
            raise InvalidInputError(f"qid {_preview(qid)} is not allowed; use a string or integer")
        return cls(data["query"], candidates, data.get("query_lang"), qid)

    @property
    def langs(self) -> list[str]:
        """The known candidate languages, in first-stage order (repeats kept)."""
        return [c.lang for c in self.candidates if c.lang]

    def is_cross_lingual(self) -> bool:
        """Whether any candidate's language differs from the query's (both known)."""
        return self.query_lang is not None and any(lang != self.query_lang for lang in self.langs)


@dataclass(frozen=True)
class RankedCandidate:
    """A candidate in its reranked place.

    Attributes:
        candidate: The original candidate.
        score: The reranker's score (higher is better; rank-derived for listwise/sorting).
        first_stage_rank: Its 0-based place in the request.
        relevance: The probability that it is relevant, in (0, 1), non-increasing down the
            reranked list (see :mod:`xling.rerankers.calibration`); ``p >= 0.5`` reads "more
            likely relevant than not".
    """

    candidate: Hit
    score: float
    first_stage_rank: int
    relevance: float

    @property
    def id(self) -> str:
        """The candidate id."""
        return self.candidate.id

    @property
    def text(self) -> str:
        """The candidate text."""
        return self.candidate.text


@dataclass(frozen=True)
class Repair:
    """A fix applied to a model answer that did not follow the format.

    Attributes:
        kind: What was fixed.
        count: How many items (identifiers, characters, answers) it concerned.
        where: Which step (``"window 80-100"``, ``"pair 3 (d1 vs d7)"``, ``"candidate d12"``).
    """

    kind: RepairKind
    count: int = 1
    where: str = ""


@dataclass(frozen=True)
class Fallback:
    """A step that fell back to a simpler method.

    Attributes:
        kind: ``first_stage_order`` (the server failed: the request kept its first-stage order)
            or ``generation`` (no logprobs from the server: answers were generated and parsed).
        reason: Why, in one line.
    """

    kind: FallbackKind
    reason: str


@dataclass
class RerankUsage(TokenUsage):
    """LLM traffic of one request (generation calls only; tokenizer calls are not counted).

    Attributes:
        reasoning_tokens: Of the completion tokens, those a reasoning model spent thinking
            (as the server counts them, else the reasoning text's tokens in the model's
            tokenizer; every token of a call cut inside its thinking).
    """

    reasoning_tokens: int = 0

    @property
    def llm_calls(self) -> int:
        """Completed LLM calls (the ``llm_calls`` of the output line)."""
        return self.calls


@dataclass(frozen=True)
class ModelCall:
    """One model call of a request, kept when the reranker's ``trace`` is on.

    Attributes:
        prompt: The messages sent (an LLM's chat prompt), or the query and passages of one
            scoring batch (a cross-encoder's).
        answer: The raw answer text as the model gave it (``""`` for scores only).
        prompt_tokens: Tokens in the prompt, as the server counted them.
        completion_tokens: Tokens generated.
        finish_reason: Why generation stopped (``stop``, ``length``), when the server says.
        top_logprobs: The first step's alternatives (token → logprob), when asked for.
        reasoning: The thinking a reasoning model did before its answer, kept apart from it.
        where: Which step (``"window 20-40"``, ``"pair 3 (d1 vs d7)"``).
    """

    prompt: list[dict[str, Any]]
    answer: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    top_logprobs: dict[str, float] | None = None
    reasoning: str | None = None
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "where": self.where,
            "prompt": [dict(message) for message in self.prompt],
            "answer": self.answer,
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "top_logprobs": self.top_logprobs,
        }


@dataclass(frozen=True)
class RerankResult:
    """The reranked candidates of one request and how they were obtained.

    Attributes:
        query: The query.
        candidates: All candidates, best first.
        reranker: The registry name of the reranker.
        usage: LLM calls and tokens spent on this request.
        repairs: Fixes applied to malformed answers.
        fallbacks: Steps that fell back (see :class:`Fallback`).
        windows: Listwise windows ranked.
        comparisons: Comparisons made: PRP pairs (each two prompts, both orders) or setwise
            choices (one prompt each, the best of up to ``num_child + 1`` passages).
        rounds: Longest chain of LLM calls that had to wait for each other.
        qid: The request's query id, if it had one.
        query_lang: The request's query language, if known.
        guard: The reranker's weight in the weak-judge guard's fusion with the first-stage
            order (:mod:`~xling.rerankers.guard`), or ``None`` when the order is the
            reranker's own.
        trace: Each model call, in order, when the reranker's ``trace`` is on; else ``None``.
    """

    query: str
    candidates: list[RankedCandidate]
    reranker: str
    usage: RerankUsage = field(default_factory=RerankUsage)
    repairs: list[Repair] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)
    windows: int = 0
    comparisons: int = 0
    rounds: int = 0
    qid: str | None = None
    query_lang: str | None = None
    guard: float | None = None
    trace: list[ModelCall] | None = None

    def query_hits(self, qid: str | None = None) -> QueryHits:
        """The reranked hits, best first, scored by their relevance probability (metadata kept).

        Args:
            qid: The query id to use when the request had none (default ``"0"``).
        """
        return QueryHits(
            self.qid or qid or "0",
            self.query,
            tuple(
                Hit(c.id, c.text, c.relevance, c.candidate.lang, c.candidate.metadata)
                for c in self.candidates
            ),
            self.query_lang,
        )

    @property
    def ids(self) -> list[str]:
        """Candidate ids, best first."""
        return [c.id for c in self.candidates]

    @property
    def fallback(self) -> bool:
        """Whether the server failed and the first-stage order was returned."""
        return any(f.kind == "first_stage_order" for f in self.fallbacks)

    def repair_counts(self) -> dict[str, int]:
        """Total count per repair kind."""
        totals: dict[str, int] = {}
        for repair in self.repairs:
            totals[repair.kind] = totals.get(repair.kind, 0) + repair.count
        return totals

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's output line)."""
        data: dict[str, Any] = {
            "qid": self.qid,
            "query": self.query,
            "query_lang": self.query_lang,
            "reranker": self.reranker,
            "candidates": [
                {
                    "id": c.id,
                    "text": c.text,
                    "score": c.score,
                    "relevance": c.relevance,
                    "lang": c.candidate.lang,
                    "metadata": dict(c.candidate.metadata),
                    "first_stage_rank": c.first_stage_rank,
                    "first_stage_score": c.candidate.score,
                }
                for c in self.candidates
            ],
            "llm_calls": self.usage.llm_calls,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "reasoning_tokens": self.usage.reasoning_tokens,
            "windows": self.windows,
            "comparisons": self.comparisons,
            "rounds": self.rounds,
            "fallback": self.fallback,
            "fallbacks": [{"kind": f.kind, "reason": f.reason} for f in self.fallbacks],
            "repairs": self.repair_counts(),
            "guard": self.guard,
        }
        if self.trace is not None:
            data["trace"] = [call.to_dict() for call in self.trace]
        return data


def read_requests(lines: Iterable[str | bytes], source: str) -> list[RerankRequest]:
    """Reads rerank requests, one JSON object a line (a JSONL file, stdin).

    Each line is ``{qid?, query, candidates: [{id, text, score?, lang?, metadata?}],
    query_lang?}`` or a line of ``xling retrieve`` (``hits`` for ``candidates``), see
    :meth:`RerankRequest.from_dict`; blank lines are skipped.

    Args:
        lines: The lines, as text or as UTF-8 bytes (a leading byte-order mark is allowed):
            an open file, ``sys.stdin.buffer``, a list.
        source: Names the input in errors (``in.jsonl``, ``stdin``).

    Returns:
        The requests, in order.

    Raises:
        InvalidInputError: Naming ``source:line`` for bytes that are not UTF-8, a line that
            is not JSON, or a request that is not allowed; or when no line holds a request.
    """
    requests = []
    for number, raw in enumerate(lines, 1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{source}:{number} is not valid UTF-8 (byte {exc.start + 1} of the line: "
                    f"{exc.reason}); save the file as UTF-8"
                ) from None
        else:
            line = raw.removeprefix("\ufeff") if number == 1 else raw
        if not line.strip():
            continue
        data = json_object(line, f"{source}:{number}")
        try:
            requests.append(RerankRequest.from_dict(data))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{source}:{number}: {exc}") from None
    if not requests:
        raise InvalidInputError(f"{source} holds no requests; give one JSON object per line")
    return requests
