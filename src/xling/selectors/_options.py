"""Keyword options a selector passes on unchanged to the selector it builds on.

Subclasses take these as ``**options`` (typed with :data:`typing.Unpack`), so each option's
default and validation live in one place: the base class that owns it.
"""

from __future__ import annotations

from typing import TypedDict

from xling.embedders import SymmetricRoles
from xling.retrieval.bm25_index import BM25Method
from xling.selectors.types import DenseFormat, Order

__all__ = ["BM25Options", "DenseOptions", "SelectorOptions"]


class SelectorOptions(TypedDict, total=False):
    """Options of every :class:`~xling.selectors.base.Selector`.

    Attributes:
        order: Prompt order of the examples.
        leakage_guard: Exclude pool pairs identical to the query.
    """

    order: Order
    leakage_guard: bool


class DenseOptions(SelectorOptions, total=False):
    """Options of :class:`~xling.selectors.dense.DenseSelector` beyond the pool and embedder.

    Attributes:
        format: What the query is compared with (``s2s``, ``s2t``, ``mix``).
        alpha: Weight of the source side in ``mix``.
        batch_size: Queries embedded per progress step.
        symmetric_roles: The roles of queries and pool sentences.
    """

    format: DenseFormat
    alpha: float
    batch_size: int
    symmetric_roles: SymmetricRoles | None


class BM25Options(SelectorOptions, total=False):
    """Options of :class:`~xling.selectors.lexical.BM25Selector` beyond the pool.

    Attributes:
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        method: BM25 variant (bm25s' names).
    """

    k1: float
    b: float
    method: BM25Method
