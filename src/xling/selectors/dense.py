"""Dense selection: cosine similarity of multilingual sentence embeddings (ICL-MT's formats).

``s2s`` compares the query with the pool's source sentences, ``s2t`` with their translations
(a cross-lingual comparison), and ``mix`` with both: ``alpha * sim(x, x_i) + (1 - alpha) *
sim(x, y_i)``. Because the similarity is linear in the pool vectors, ``mix`` is one matrix
product with the blended vectors ``alpha * X + (1 - alpha) * Y``.

Example selection is a symmetric task (a sentence against pool sentences): queries and pool
sides are embedded in the roles of the selector's ``symmetric_roles``
(:func:`~xling.embedders.symmetric_role_pair`). Pool sides are embedded once. Vectors a pool
carries (a Chroma pool's, always in the document role) are reused when they are what the
selector would compute: the same embedder and document-role pool sides; otherwise (another
embedder, or the ``query`` pairing) the pool is embedded again. The default pairing is
:data:`SELECTION_SYMMETRIC_ROLES` (``query``, measured best) for a pool the selector embeds
itself, and ``document`` for a pool carrying the embedder's stored vectors, the better of the two
pairings that reuse them. With the embedding cache, embedding the same pool again costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Unpack

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.numerics import top_k
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.validation import check_choice, check_finite, check_positive_int
from xling.embedders import (
    DEFAULT_EMBEDDER,
    Embedder,
    SymmetricRoles,
    get_embedder,
    symmetric_role_pair,
)
from xling.selectors._options import SelectorOptions
from xling.selectors.base import Blocked, Ranking, Selector, mask_blocked, row_chunks
from xling.selectors.types import DENSE_FORMATS, SELECTION_SYMMETRIC_ROLES, DenseFormat

__all__ = ["DenseSelector", "check_query_dims", "resolve_embedder"]


def resolve_embedder(embedder: str | Embedder | None) -> Embedder:
    """An embedder from a spec string or object (``None`` → the default, e5-small-q4)."""
    if isinstance(embedder, Embedder):
        return embedder
    return get_embedder(embedder or DEFAULT_EMBEDDER)


def _stored_id(pool: AlignedPool) -> str | None:
    return pool.embedder_id if pool.source_vectors is not None else None


def check_query_dims(query_vectors: np.ndarray, keys: np.ndarray) -> None:
    """Raises unless the query vectors are 2-d with the pool vectors' width."""
    if query_vectors.ndim != 2 or query_vectors.shape[1] != keys.shape[1]:
        raise InvalidInputError(
            f"query vectors have shape {query_vectors.shape} but the pool vectors are "
            f"{keys.shape[1]}-d; embed queries with the embedder that made the pool vectors"
        )


class DenseSelector(Selector):
    """The ``k`` pool pairs most similar to the query by cosine similarity.

    Args:
        pool: The translation pairs.
        embedder: Spec or embedder. Default: the embedder that made the pool's stored vectors
            (those vectors are then used as they are), else e5-small-q4. Stored vectors made
            by another embedder are ignored and the pool is embedded again.
        format: ``s2s``, ``s2t`` or ``mix``.
        alpha: Weight of the source side in ``mix``.
        batch_size: Queries embedded per progress step.
        symmetric_roles: The roles of queries and pool sentences: ``document``, ``query`` or
            ``query-document`` (:func:`~xling.embedders.symmetric_role_pair`). Stored pool
            vectors are document-role, so ``query`` embeds the pool again in the query role.
            ``None``: ``document`` when the pool carries the embedder's stored vectors (reused
            as they are), else :data:`SELECTION_SYMMETRIC_ROLES`.
        **options: :class:`~xling.selectors.base.Selector`'s ``order`` and ``leakage_guard``.
    """

    name = "dense"

    def __init__(
        self,
        pool: AlignedPool,
        embedder: str | Embedder | None = None,
        *,
        format: DenseFormat = "s2s",
        alpha: float = 0.5,
        batch_size: int = 256,
        symmetric_roles: SymmetricRoles | None = None,
        **options: Unpack[SelectorOptions],
    ) -> None:
        super().__init__(pool, **options)
        check_choice(format, "dense format", DENSE_FORMATS)
        check_finite(alpha, "alpha", minimum=0.0, maximum=1.0)
        # Stored vectors are a Chroma pool's: document-role, by the embedder it records.
        same_embedder = embedder is None or (
            (embedder.id if isinstance(embedder, Embedder) else embedder) == pool.embedder_id
        )
        if symmetric_roles is None:
            stored = pool.source_vectors is not None or pool.target_vectors is not None
            symmetric_roles = "document" if stored and same_embedder else SELECTION_SYMMETRIC_ROLES
        self.query_role, self.pool_role = symmetric_role_pair(symmetric_roles)
        self.symmetric_roles: SymmetricRoles = symmetric_roles
        self._embedder: Embedder | None = None
        self._spec = embedder
        self._trust_stored = self.pool_role == "document" and same_embedder
        self.format: DenseFormat = format
        self.alpha = float(alpha)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self._sides: dict[str, np.ndarray] = {}
        self._keys: np.ndarray | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder of queries (and of pool sides without stored vectors), loaded lazily."""
        if self._embedder is None:
            spec = self._spec if self._spec is not None else _stored_id(self.pool)
            self._embedder = resolve_embedder(spec)
        return self._embedder

    def _side(self, side: str, on_progress: ProgressCallback | None = None) -> np.ndarray:
        """Unit vectors of one pool side (``source`` or ``target``), embedded once."""
        if side not in self._sides:
            stored = getattr(self.pool, f"{side}_vectors")
            if stored is not None and self._trust_stored:
                vectors = np.asarray(stored, dtype=np.float32)
            else:
                texts = self.pool.sources if side == "source" else self.pool.targets
                vectors = self._embed(texts, self._embed_pool_side, on_progress)
            other = next(iter(self._sides.values()), None)
            width = other.shape[1] if other is not None else vectors.shape[-1]
            if vectors.ndim != 2 or vectors.shape != (len(self.pool), width):
                raise InvalidInputError(
                    f"pool {side} vectors have shape {vectors.shape}; expected "
                    f"({len(self.pool)}, {width})"
                )
            self._sides[side] = np.ascontiguousarray(vectors)
        return self._sides[side]

    def _embed(
        self,
        texts: Sequence[str],
        embed: Callable[[list[str]], np.ndarray],
        on_progress: ProgressCallback | None,
    ) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            parts.append(embed(chunk))
            if on_progress:
                on_progress(min(len(texts), start + self.batch_size), len(texts))
        return np.concatenate(parts) if parts else np.zeros((0, self.embedder.dim), np.float32)

    def prepare(self, on_progress: ProgressCallback | None = None) -> None:
        """Embeds the pool sides this selector compares with (done on first use otherwise)."""
        self.keys(on_progress)

    def keys(self, on_progress: ProgressCallback | None = None) -> np.ndarray:
        """The ``(pool, dim)`` vectors queries are compared with for this format."""
        if self._keys is None:
            if self.format == "s2s":
                self._keys = self._side("source", on_progress)
            elif self.format == "s2t":
                self._keys = self._side("target", on_progress)
            else:
                src, tgt = self._side("source", on_progress), self._side("target", on_progress)
                self._keys = np.ascontiguousarray(
                    self.alpha * src + (1.0 - self.alpha) * tgt, dtype=np.float32
                )
        return self._keys

    def embed_queries(
        self, queries: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Unit query vectors, embedded ``batch_size`` at a time.

        Example selection is a symmetric task (a source sentence against pool sentences), so
        queries take the query side's role of :attr:`symmetric_roles`.
        """
        return self._embed(queries, self._embed_query_side, on_progress)

    def _embed_query_side(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts, self.query_role, what="query texts")

    def _embed_pool_side(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts, self.pool_role)

    def similarities(self, query_vectors: np.ndarray, rows: slice | None = None) -> np.ndarray:
        """Similarity of query vectors (or a row block of them) with every pool pair."""
        block = query_vectors if rows is None else query_vectors[rows]
        return block @ self.keys().T

    def rank_vectors(
        self, query_vectors: np.ndarray, k: int, blocked: Blocked | None = None
    ) -> Ranking:
        """Ranks the pool for precomputed unit query vectors (no embedding, no validation)."""
        blocked = blocked if blocked is not None else Blocked.none()
        keys = self.keys()
        check_query_dims(query_vectors, keys)
        parts = []
        for rows in row_chunks(len(query_vectors), len(keys)):
            scores = mask_blocked(query_vectors[rows] @ keys.T, blocked, rows)
            parts.append(top_k(scores, k))
        return Ranking(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def _rank(
        self, queries: list[str], k: int, blocked: Blocked, on_progress: ProgressCallback | None
    ) -> Ranking:
        self.keys()
        return self.rank_vectors(self.embed_queries(queries, on_progress), k, blocked)
