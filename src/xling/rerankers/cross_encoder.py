"""Local cross-encoders: ``ce:<name-or-path>``, a sentence-transformers ``CrossEncoder``.

A cross-encoder reads the query and one passage together and gives one logit of relevance; the
score is its probability, ``sigmoid(logit)``, whatever activation the model's own configuration
sets (so ``relevance`` is the score itself, the ``probability`` calibration). Models load from a
local folder or the user's Hugging Face hub cache, never from the network, once per process for
each (model, backend); scoring runs on a worker thread so the event loop stays free.

from xling.rerankers import get_reranker

reranker = get_reranker("ce:BAAI/bge-reranker-v2-m3", backend="onnx", max_length=512)
result = reranker.rerank(request)   # result.candidates[i].score: P(relevant)
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xling.core.errors import InvalidInputError, missing_extra_error
from xling.core.http_replies import one_line
from xling.core.validation import check_choice, check_positive_int
from xling.rerankers.base import Ledger, Reranker, RerankerConfig, RerankOrder
from xling.rerankers.calibration import CalibrationKind
from xling.rerankers.records import ModelCall, RerankRequest

__all__ = [
    "CrossEncoderBackend",
    "CrossEncoderConfig",
    "CrossEncoderReranker",
    "LoadedCrossEncoder",
    "fit_pair",
    "load_cross_encoder",
]

CrossEncoderBackend = Literal["torch", "onnx"]

# Models kept loaded per process, most recently used last; a few, since each holds its weights.
_CACHE_SIZE = 4
_MODELS: OrderedDict[tuple[str, str], LoadedCrossEncoder] = OrderedDict()
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class CrossEncoderConfig(RerankerConfig):
    """Options of :class:`CrossEncoderReranker` (plus those of :class:`RerankerConfig`).

    Attributes:
        batch_size: Query-passage pairs per forward pass.
        backend: ``torch`` or ``onnx`` (ONNX Runtime through sentence-transformers; needs
            ``pip install 'xling[onnx]'``; a model without an ONNX file is exported on load).
        max_length: Model tokens of query plus passage (special tokens included); ``None``: the
            model's own maximum. Passages are cut to fit it, and to ``max_passage_tokens``.
    """

    batch_size: int = 32
    backend: CrossEncoderBackend = "torch"
    max_length: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(self.batch_size, "batch_size")
        check_choice(self.backend, "backend", ("torch", "onnx"))
        if self.max_length is not None:
            check_positive_int(self.max_length, "max_length")


class LoadedCrossEncoder:
    """A loaded model, its tokenizer, its maximum length, and a lock for their use (one batch
    at a time: neither a fast tokenizer nor the forward pass gains from sharing the cores).

    Attributes:
        model: The sentence-transformers ``CrossEncoder``.
        tokenizer: Its Hugging Face tokenizer.
        max_length: The model's maximum tokens of a pair.
        lock: Held while a batch is tokenized and scored.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tokenizer = model.tokenizer
        # sentence-transformers 5 calls it max_seq_length (max_length is deprecated there).
        length = getattr(model, "max_seq_length", None) or model.max_length
        self.max_length = int(length)
        self.lock = threading.Lock()


def _check_installed(module: str, extra: str, feature: str) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        found = False
    if not found:
        raise missing_extra_error(module, extra, feature)


def _resolve(model: str, spec: str) -> str:
    """The local folder: ``model`` itself, or a hub name's snapshot in the hub cache.

    Loading from the snapshot folder, not by the hub name, keeps every loader off the network:
    transformers' ``AutoProcessor`` drops ``local_files_only`` and would ask the hub for a
    ``processor_config.json`` (with retries: minutes without a network).
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        return str(folder.resolve())
    _check_installed("huggingface_hub", "st", f"reranker {spec!r}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if model.count("/") <= 1 and not model.startswith(("/", ".", "~")):
        try:
            return str(snapshot_download(model, local_files_only=True))
        except (LocalEntryNotFoundError, ValueError):  # not cached; not a repository name
            pass
    raise InvalidInputError(
        f"reranker {spec!r}: {model!r} is neither a local model folder nor a model in the "
        "Hugging Face hub cache; give a folder, or download it first "
        f"(`huggingface-cli download {model}`): xling never downloads a model itself"
    )


def load_cross_encoder(model: str, backend: CrossEncoderBackend = "torch") -> LoadedCrossEncoder:
    """Loads a cross-encoder once per process for each ``(model, backend)`` (blocking).

    Args:
        model: A local model folder (a hub name's snapshot folder in the hub cache).
        backend: ``torch`` or ``onnx``.

    Raises:
        InvalidInputError: When the model cannot be loaded from local files, or has more
            than one output label (not a relevance cross-encoder).
    """
    key = (model, backend)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None:
            _MODELS.move_to_end(key)
            return loaded
        from sentence_transformers import CrossEncoder

        try:
            raw = CrossEncoder(model, local_files_only=True, backend=backend)
        except (OSError, ValueError) as exc:  # missing files; a config that names no model
            raise InvalidInputError(
                f"cross-encoder {model!r} cannot be loaded from local files "
                f"({one_line(str(exc))}); give a model folder or a model in the Hugging Face hub "
                "cache"
            ) from None
        if raw.num_labels != 1:
            raise InvalidInputError(
                f"cross-encoder {model!r} has {raw.num_labels} output labels; use a relevance "
                "cross-encoder with one (its logit's sigmoid is the probability of relevance)"
            )
        loaded = _MODELS[key] = LoadedCrossEncoder(raw)
        while len(_MODELS) > _CACHE_SIZE:
            _MODELS.popitem(last=False)
        return loaded


_Tokens = tuple[list[int], list[Any] | None]  # token ids, and their character offsets if known


def _tokenize(tokenizer: Any, texts: list[str], limit: int) -> list[_Tokens]:
    """Each text's first ``limit`` token ids (no special tokens) and, with a fast tokenizer,
    their offsets."""
    fast = bool(getattr(tokenizer, "is_fast", False))
    encoded = tokenizer(
        texts,
        add_special_tokens=False,
        return_offsets_mapping=fast,
        truncation=True,
        max_length=limit,
    )
    offsets = encoded.get("offset_mapping") if fast else None
    return [
        (list(ids), list(offsets[i]) if offsets is not None else None)
        for i, ids in enumerate(encoded["input_ids"])
    ]


def _cut(tokenizer: Any, text: str, tokens: _Tokens, keep: int) -> str:
    """``text`` cut after its first ``keep`` tokens (at the last kept token's end offset)."""
    ids, offsets = tokens
    if keep >= len(ids):
        return text
    if keep <= 0:
        return ""
    if offsets is not None:
        return text[: int(offsets[keep - 1][1])]
    return str(tokenizer.decode(ids[:keep]))


def _fit(
    tokenizer: Any,
    query: tuple[str, _Tokens],
    passage: tuple[str, _Tokens],
    max_length: int,
    max_passage_tokens: int,
) -> tuple[str, str, int]:
    """:func:`fit_pair` on tokenized texts; also returns the pair's tokens, specials included."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    room = max(max_length - specials, 2)
    q_len, p_len = len(query[1][0]), len(passage[1][0])
    p_keep = min(max_passage_tokens, p_len, max(room - q_len, room // 2))
    q_keep = min(q_len, room - p_keep)
    return (
        _cut(tokenizer, query[0], query[1], q_keep),
        _cut(tokenizer, passage[0], passage[1], p_keep),
        q_keep + p_keep + specials,
    )


def fit_pair(
    tokenizer: Any, query: str, passage: str, max_length: int, max_passage_tokens: int
) -> tuple[str, str]:
    """Query and passage cut by the model's tokens so the pair fits ``max_length``.

    The passage is cut, not the query: it gets what ``max_length`` leaves after the query and
    the special tokens, at most ``max_passage_tokens``. Only a query longer than half the room
    is cut too, to leave the passage the other half.

    Args:
        tokenizer: The model's (Hugging Face) tokenizer.
        query: The query text.
        passage: The passage text.
        max_length: Model tokens of the whole pair, special tokens included.
        max_passage_tokens: Cap on the passage's tokens.

    Returns:
        The (query, passage) texts to score, cut at token ends of the original texts (a slow
        tokenizer without offsets: decoded from the kept tokens).
    """
    q, p = _tokenize(tokenizer, [query, passage], max_length + 1)
    cut_query, cut_passage, _ = _fit(
        tokenizer, (query, q), (passage, p), max_length, max_passage_tokens
    )
    return cut_query, cut_passage


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # tanh form: no overflow for large negative logits.
    return 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))


class CrossEncoderReranker(Reranker):
    """Scores each (query, passage) pair with a local cross-encoder; best probability first.

    Each score is ``sigmoid(logit)`` of the model's one output: the model's probability that the
    passage is relevant (the model's own configured activation is not used, so a model card
    that sets another one still gives probabilities). Passages are cut by the model's
    tokenizer so the query is kept (:func:`fit_pair`).

    Args:
        model: A local model folder, or a hub name already in the Hugging Face hub cache.
        config: The options; or give them as keywords in ``options``.
        name: The name in results (default ``ce:<model>``).
        **options: Fields of :class:`CrossEncoderConfig`.

    Raises:
        InvalidInputError: When the model is neither a folder nor in the hub cache, or for bad
            options.
        MissingDependencyError: Without sentence-transformers (``xling[st]``), or without
            optimum's ONNX Runtime support for ``backend="onnx"`` (``xling[onnx]``).
    """

    default_name = "ce"
    config_class = CrossEncoderConfig
    config: CrossEncoderConfig

    def __init__(
        self,
        model: str,
        config: CrossEncoderConfig | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidInputError(
                f"cross-encoder model {model!r} is not allowed; use a folder or a hub name"
            )
        self.model_name = model
        super().__init__(config, name or f"ce:{model}", **options)

    @property
    def calibration_kind(self) -> CalibrationKind:
        """``probability``: the score is the model's probability already."""
        return "probability"

    def _setup(self) -> None:
        _check_installed("sentence_transformers", "st", f"reranker {self.name!r}")
        if self.config.backend == "onnx":
            _check_installed("optimum.onnxruntime", "onnx", f"reranker {self.name!r} on ONNX")
        self.model_path = _resolve(self.model_name, self.name)
        self._loaded: LoadedCrossEncoder | None = None

    def _load(self) -> LoadedCrossEncoder:
        if self._loaded is None:
            loaded = load_cross_encoder(self.model_path, self.config.backend)
            wanted = self.config.max_length
            if wanted is not None and wanted > loaded.max_length:
                raise InvalidInputError(
                    f"max_length={wanted} is not allowed for {self.name!r}; use 1.."
                    f"{loaded.max_length} (the model's maximum)"
                )
            self._loaded = loaded
        return self._loaded

    def _score(self, query: str, passages: Sequence[str]) -> tuple[list[float], int]:
        """Probabilities of one batch, and the tokens it fed the model (blocking)."""
        import torch

        loaded = self._load()
        max_length = self.config.max_length or loaded.max_length
        tokenizer = loaded.tokenizer
        # The lock covers the tokenizer too: a fast tokenizer shared by threads fails ("Already
        # borrowed") when two of them set its truncation at once.
        with loaded.lock:
            # One token past the limit is enough to tell that a text must be cut.
            tokenized = _tokenize(tokenizer, [query, *passages], max_length + 1)
            fitted = [
                _fit(
                    tokenizer,
                    (query, tokenized[0]),
                    (text, tokens),
                    max_length,
                    self.config.max_passage_tokens,
                )
                for text, tokens in zip(passages, tokenized[1:], strict=True)
            ]
            logits = loaded.model.predict(
                [(q, p) for q, p, _ in fitted],
                batch_size=len(fitted),
                activation_fn=torch.nn.Identity(),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _sigmoid(np.asarray(logits).reshape(-1)).tolist(), sum(n for _, _, n in fitted)

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        span = self.span(request)
        texts = [c.text for c in request.candidates[:span]]
        await asyncio.to_thread(self._load)
        size = self.config.batch_size
        scores: list[float] = []
        for start in range(0, span, size):
            batch = texts[start : start + size]
            probabilities, tokens = await asyncio.to_thread(self._score, request.query, batch)
            scores += probabilities
            ledger.usage.calls += 1
            ledger.usage.prompt_tokens += tokens
            if ledger.trace is not None:
                ledger.trace.append(
                    ModelCall(
                        prompt=[{"query": request.query, "passages": batch}],
                        answer="",
                        prompt_tokens=tokens,
                        where=f"batch {start}-{start + len(batch)}",
                    )
                )
        order = sorted(range(span), key=lambda i: (-scores[i], i))
        return RerankOrder(order, [scores[i] for i in order], rounds=1)


def build_cross_encoder(
    spec: str, argument: str, client: Any, options: dict[str, Any]
) -> CrossEncoderReranker:
    """The ``ce:<name-or-path>`` family's factory (the LLM client is not used)."""
    return CrossEncoderReranker(argument.strip(), name=spec, **options)
