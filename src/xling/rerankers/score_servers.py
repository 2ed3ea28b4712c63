"""Cross-encoders behind scoring servers: ``vllm-score:``, ``tei:`` and ``cohere:`` specs.

One base class, :class:`ScoreServerReranker`, sends the candidates in batches of ``batch_size``
documents per request, the requests concurrently (at most ``max_concurrency`` in flight), and
orders the candidates by the scores the server returns. Each server's wire format is a small
adapter:

* ``vllm-score:<url>#<model>``: vLLM's ``POST /score`` (``text_1``: the query, ``text_2``: the
  documents); its scores are the model's probabilities (the sigmoid of a one-label
  cross-encoder's logit). Passages are first cut to ``max_passage_tokens`` model tokens (and to
  what the server's context leaves after the query) with the server's ``/tokenize``.
* ``tei:<url>``: text-embeddings-inference's ``POST /rerank`` with ``raw_scores: false`` (the
  sigmoid probabilities) and ``truncate: true``: TEI cuts long pairs to the model's maximum
  itself, so ``max_passage_tokens`` is not used.
* ``cohere:<url>#<model>``: any Cohere-compatible ``POST /v2/rerank`` (Cohere, xling's own
  ``xling serve``); ``relevance_score`` is the service's probability of relevance, and
  ``max_tokens_per_doc`` (= ``max_passage_tokens``) asks the service to cut each document.

Every score is read as a probability, so a result's ``relevance`` is the score itself (the
``probability`` calibration). The URL may end in ``/v1`` or not. A server that cannot be
reached, times out or answers 5xx after the retries is a
:class:`~xling.core.errors.ServiceUnavailableError` (``on_failure="fallback"`` keeps the
first-stage order); any other 4xx is a :class:`~xling.core.errors.ServerRefusedError` with the
server's own message, as for every server xling talks to (:mod:`xling.core.http_replies`).
"""

from __future__ import annotations

import math
import os
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from xling.core.errors import InvalidInputError
from xling.core.http_replies import MalformedReply, get_field
from xling.core.validation import check_positive_int
from xling.llm import LLMClient, LLMUsage
from xling.llm.transport import Transport, TransportSettings
from xling.rerankers.base import Ledger, Reranker, RerankerConfig, RerankOrder, gather
from xling.rerankers.calibration import CalibrationKind
from xling.rerankers.records import ModelCall, RerankRequest

__all__ = [
    "CohereReranker",
    "ScoreServerConfig",
    "ScoreServerReranker",
    "TEIReranker",
    "VLLMScoreReranker",
    "split_server_spec",
]

# Tokens left for the special tokens of a pair ([CLS] q [SEP] p [SEP], <s> q </s></s> p </s>)
# when passages are cut to fit the server's context after the query.
_SPECIALS_MARGIN = 8


def _check_seconds(value: Any, name: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise InvalidInputError(f"{name}={value!r} is not allowed; use a number of seconds > 0")


@dataclass(frozen=True)
class ScoreServerConfig(RerankerConfig):
    """Options of the scoring-server rerankers (plus those of :class:`RerankerConfig`).

    Attributes:
        batch_size: Documents per request.
        max_concurrency: Requests in flight at once.
        timeout: Seconds per request attempt.
        max_retries: Further attempts after a 5xx, a timeout or a refused connection.
        api_key: Bearer token the server needs (Cohere's API: default ``$CO_API_KEY``, read
            when the first request is sent).
    """

    batch_size: int = 32
    max_concurrency: int = 4
    timeout: float = 30.0
    max_retries: int = 2
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.max_concurrency, "max_concurrency")
        _check_seconds(self.timeout, "timeout")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidInputError(
                f"max_retries={self.max_retries!r} is not allowed; use an integer >= 0"
            )
        if self.max_retries < 0:
            raise InvalidInputError(
                f"max_retries={self.max_retries!r} is not allowed; use an integer >= 0"
            )
        if self.api_key is not None and (
            not isinstance(self.api_key, str) or not self.api_key.isprintable()
        ):
            raise InvalidInputError("api_key is not allowed; use a printable str or None")


def split_server_spec(spec: str, argument: str, *, model: bool) -> tuple[str, str | None]:
    """The server root (no trailing ``/`` or ``/v1``) and the model of a ``kind:<url>#<model>``.

    Args:
        spec: The whole spec, for messages.
        argument: What follows ``kind:``.
        model: Whether the spec may name a model after ``#``.

    Raises:
        InvalidInputError: For a URL that is not ``http(s)://host[:port][/path]``, or a model
            where none is allowed.
    """
    url, sep, name = argument.partition("#")
    if sep and not model:
        raise InvalidInputError(f"reranker {spec!r} takes no #model; use {spec.split('#')[0]!r}")
    if sep and not name.strip():
        raise InvalidInputError(f"reranker {spec!r} has an empty model after '#'")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidInputError(f"reranker {spec!r}: bad URL {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"reranker {spec!r}: URL {url!r} is not allowed; use http(s)://host[:port][/v1]"
        )
    root = url.strip().rstrip("/")
    root = root.removesuffix("/v1").rstrip("/")
    return root, (name.strip() or None) if sep else None


class ScoreServerReranker(Reranker):
    """Base of the rerankers that ask a scoring server for one probability per document.

    Subclasses give the wire format: :attr:`path`, :meth:`payload` and :meth:`read`, and
    optionally :meth:`afit_passages` (cutting long passages before sending).

    Args:
        url: The server root, with or without ``/v1``.
        model: The model to ask for (``None``: the server's default, where it has one).
        config: The options; or give them as keywords in ``options``.
        name: The name in results (the spec).
        **options: Fields of :class:`ScoreServerConfig`.
    """

    default_name = "score-server"
    config_class = ScoreServerConfig
    config: ScoreServerConfig
    # The endpoint, under the server root.
    path: ClassVar[str] = ""
    # What the server is, for error messages.
    what: ClassVar[str] = "scoring server"
    # The environment variable read for the key when no api_key is given.
    api_key_env: ClassVar[str | None] = None

    def __init__(
        self,
        url: str,
        model: str | None = None,
        config: ScoreServerConfig | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        self.root, _ = split_server_spec(url, url, model=False)
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise InvalidInputError(f"model={model!r} is not allowed; use a model name or None")
        self.model = model
        self._transport: Transport | None = None
        super().__init__(config, name, **options)

    @property
    def calibration_kind(self) -> CalibrationKind:
        """``probability``: the server's score is the probability already."""
        return "probability"

    @property
    def endpoint(self) -> str:
        """The URL requests go to."""
        return f"{self.root}{self.path}"

    def transport(self) -> Transport:
        """The HTTP side (made on first use, when the key is read)."""
        if self._transport is None:
            key = self.config.api_key
            if key is None and self.api_key_env is not None:
                key = os.environ.get(self.api_key_env) or None
            cfg = self.config
            self._transport = Transport(
                TransportSettings(
                    headers={"Authorization": f"Bearer {key}"} if key else {},
                    max_concurrency=cfg.max_concurrency,
                    timeout=float(cfg.timeout),
                    max_retries=cfg.max_retries,
                    backoff=0.5,
                    deadline=max(90.0, float(cfg.timeout)),
                ),
                LLMUsage(),
                what=self.what,
            )
        return self._transport

    async def aclose(self) -> None:
        """Closes the connections of the running event loop."""
        if self._transport is not None:
            await self._transport.aclose()

    # -- the wire format ----------------------------------------------------------------------
    @abstractmethod
    def payload(self, query: str, documents: Sequence[str]) -> dict[str, Any]:
        """The JSON body of one batch."""

    @abstractmethod
    def read(self, data: Any, n: int) -> tuple[list[float], int]:
        """Scores aligned with the batch's ``n`` documents, and the prompt tokens reported.

        Raises:
            MalformedReply: When the answer is not the endpoint's shape.
        """

    async def afit_passages(self, query: str, texts: list[str]) -> list[str]:
        """The passages to send (as they are; a server with a tokenizer endpoint cuts them)."""
        return texts

    # -- ranking ----------------------------------------------------------------------------
    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        span = self.span(request)
        texts = await self.afit_passages(request.query, [c.text for c in request.candidates[:span]])
        size = self.config.batch_size
        starts = range(0, span, size)
        batches = await gather(
            *(self._batch(ledger, request.query, texts[s : s + size], s) for s in starts)
        )
        scores = [score for batch in batches for score in batch]
        order = sorted(range(span), key=lambda i: (-scores[i], i))
        return RerankOrder(order, [scores[i] for i in order], rounds=1)

    async def _batch(
        self, ledger: Ledger, query: str, documents: list[str], start: int
    ) -> list[float]:
        n = len(documents)
        scores, tokens = await self.transport().arequest(
            "POST", self.endpoint, self.payload(query, documents), lambda data: self.read(data, n)
        )
        ledger.usage.calls += 1
        ledger.usage.prompt_tokens += tokens
        if ledger.trace is not None:
            ledger.trace.append(
                ModelCall(
                    prompt=[{"query": query, "passages": documents}],
                    answer="",
                    prompt_tokens=tokens,
                    where=f"batch {start}-{start + n}",
                )
            )
        return scores


def _indexed_scores(items: Any, n: int, key: str, what: str) -> list[float]:
    """Scores of ``[{"index": i, key: score}]`` aligned by index; every index once."""
    if not isinstance(items, list):
        raise MalformedReply(f"{what} is not a list")
    scores: list[float | None] = [None] * n
    for item in items:
        index = get_field(item, "index", int, f"{what} item")
        score = get_field(item, key, (int, float), f"{what} item")
        if not 0 <= index < n or scores[index] is not None:
            raise MalformedReply(f"{what} has index {index} for {n} documents")
        if not math.isfinite(score):
            raise MalformedReply(f"{what} has a score of {score}")
        scores[index] = float(score)
    if any(s is None for s in scores):
        raise MalformedReply(f"{what} scored {sum(s is not None for s in scores)} of {n} documents")
    return [float(s) for s in scores if s is not None]


def _prompt_tokens(data: dict[str, Any]) -> int:
    usage = data.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else 0


class VLLMScoreReranker(ScoreServerReranker):
    """vLLM's ``/score`` with a cross-encoder model (``vllm serve BAAI/bge-reranker-v2-m3``).

    Scores are the served model's probabilities (vLLM applies the sigmoid of a one-label
    classifier). Passages are cut to ``max_passage_tokens`` model tokens, and to what the
    server's ``max_model_len`` leaves after the query, with the server's own ``/tokenize`` and
    ``/detokenize``, so the query is never cut.

    Args:
        url: The vLLM server, with or without ``/v1``.
        model: The served model's name; ``None``: the first model ``/v1/models`` lists.
        config: The options; or give them as keywords in ``options``.
        name: The name in results (the spec).
        **options: Fields of :class:`ScoreServerConfig`.
    """

    default_name = "vllm-score"
    path = "/score"
    what = "vLLM score endpoint"

    def _setup(self) -> None:
        self._tokenizer: LLMClient | None = None

    def tokenizer(self) -> LLMClient:
        """The client of the server's ``/tokenize`` and ``/v1/models``."""
        if self._tokenizer is None:
            cfg = self.config
            self._tokenizer = LLMClient(
                self.root,
                self.model,
                api_key=cfg.api_key,
                max_concurrency=cfg.max_concurrency * 4,
                timeout=cfg.timeout,
                max_retries=cfg.max_retries,
            )
        return self._tokenizer

    async def aclose(self) -> None:
        """Closes the connections of the running event loop."""
        await super().aclose()
        if self._tokenizer is not None:
            await self._tokenizer.aclose()

    async def afit_passages(self, query: str, texts: list[str]) -> list[str]:
        client = self.tokenizer()
        if self.model is None:
            self.model = await client.amodel()
        budget = self.config.max_passage_tokens
        context = await client.amax_model_len()
        if context is not None:
            query_tokens = len(await client.atokenize(query))
            budget = max(1, min(budget, context - query_tokens - _SPECIALS_MARGIN))
        return await gather(*(client.atruncate(text, budget) for text in texts))

    def payload(self, query: str, documents: Sequence[str]) -> dict[str, Any]:
        return {"model": self.model, "text_1": query, "text_2": list(documents)}

    def read(self, data: Any, n: int) -> tuple[list[float], int]:
        items = get_field(data, "data", list, "the score answer")
        return _indexed_scores(items, n, "score", "the score answer's data"), _prompt_tokens(data)


class TEIReranker(ScoreServerReranker):
    """text-embeddings-inference's ``/rerank`` (``raw_scores: false``: sigmoid probabilities).

    TEI cuts each pair to its model's maximum length itself (``truncate: true``);
    ``max_passage_tokens`` is not used.
    """

    default_name = "tei"
    path = "/rerank"
    what = "TEI rerank endpoint"

    def payload(self, query: str, documents: Sequence[str]) -> dict[str, Any]:
        return {"query": query, "texts": list(documents), "truncate": True, "raw_scores": False}

    def read(self, data: Any, n: int) -> tuple[list[float], int]:
        return _indexed_scores(data, n, "score", "the rerank answer"), 0


class CohereReranker(ScoreServerReranker):
    """A Cohere-compatible ``/v2/rerank`` (Cohere's API, ``xling serve``, ...).

    ``relevance_score`` is the service's probability of relevance. Each document is cut by the
    service to ``max_passage_tokens`` tokens (``max_tokens_per_doc``). The key is the
    ``api_key`` option, else ``$CO_API_KEY`` (read when the first request is sent).
    """

    default_name = "cohere"
    path = "/v2/rerank"
    what = "Cohere rerank endpoint"
    api_key_env = "CO_API_KEY"

    def payload(self, query: str, documents: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "query": query,
            "documents": list(documents),
            "max_tokens_per_doc": self.config.max_passage_tokens,
        }
        if self.model is not None:
            body["model"] = self.model
        return body

    def read(self, data: Any, n: int) -> tuple[list[float], int]:
        items = get_field(data, "results", list, "the rerank answer")
        return (
            _indexed_scores(items, n, "relevance_score", "the rerank answer's results"),
            _prompt_tokens(data),
        )


def _builder(cls: type[ScoreServerReranker], *, model: bool) -> Any:
    def build(
        spec: str, argument: str, client: Any, options: dict[str, Any]
    ) -> ScoreServerReranker:
        url, name = split_server_spec(spec, argument, model=model)
        return cls(url, name, name=spec, **options)

    return build


# The families' factories (``registry.py`` registers them); the LLM client is not used.
build_vllm_score = _builder(VLLMScoreReranker, model=True)
build_tei = _builder(TEIReranker, model=False)
build_cohere = _builder(CohereReranker, model=True)
