"""The :class:`Embedder` interface shared by every embedding backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from xling._validation import check_positive_int, check_texts

__all__ = ["Embedder", "Role", "l2_normalize", "batched"]

Role = Literal["query", "document"]


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Returns float32 rows scaled to unit L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yields consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Embedder(ABC):
    """A multilingual text embedder.

    Subclasses implement :meth:`_encode` for one batch of raw texts and a role; this base class
    validates input, batches, applies the family's prefixes and L2-normalises.

    Attributes:
        id: Stable identifier, the canonical spec string; recorded on Chroma collections.
        dim: Embedding dimensionality.
        batch_size: Texts per backend call.
    """

    id: str
    dim: int
    batch_size: int = 64

    def embed_queries(self, texts: Iterable[str]) -> np.ndarray:
        """Embeds search queries.

        Args:
            texts: Non-empty strings.

        Returns:
            A ``(len(texts), dim)`` float32 array of unit-norm rows.
        """
        return self.embed(texts, "query")

    def embed_documents(self, texts: Iterable[str]) -> np.ndarray:
        """Embeds documents (passages, pool sentences).

        Args:
            texts: Non-empty strings.

        Returns:
            A ``(len(texts), dim)`` float32 array of unit-norm rows.
        """
        return self.embed(texts, "document")

    def embed(self, texts: Iterable[str], role: Role) -> np.ndarray:
        """Embeds texts in the given role (``"query"`` or ``"document"``)."""
        items = check_texts(texts, f"{role} texts")
        return self._embed_checked(items, role)

    def _embed_checked(self, texts: list[str], role: Role) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = check_positive_int(self.batch_size, "batch_size")
        parts = [self._encode(list(chunk), role) for chunk in batched(texts, size)]
        return l2_normalize(np.concatenate(parts, axis=0))

    @abstractmethod
    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        """Encodes one batch of validated texts; the result need not be normalised."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, dim={self.dim})"
