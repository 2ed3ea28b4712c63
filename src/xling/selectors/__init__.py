"""In-context example selection for machine translation, over aligned pools.

Every selection method implements :class:`Selector`: ``select(queries, k)`` returns, for each query,
``k`` :class:`Example` pairs in prompt order, scoring all queries at once. Strategies are
chosen by name (:data:`SELECTORS`): ``random``, ``bm25``, ``r-bm25``, ``s2s``, ``s2t``,
``mix``, ``mmr``, ``margin``, ``borda``, ``rrf``.
"""

from xling.selectors.aligned import aligned_pool
from xling.selectors.base import Blocked, Ranking, Selector
from xling.selectors.dense import DenseSelector
from xling.selectors.filters import (
    POOL_FILTERS,
    FilteredPool,
    FilterOptions,
    expected_scripts,
    filter_pool,
    lid_checker,
    subset_pool,
)
from xling.selectors.fusion import FUSION_METHODS, FusionSelector
from xling.selectors.leakage import LeakageGuard, normalize_text
from xling.selectors.lexical import BM25Selector
from xling.selectors.margin import MarginSelector
from xling.selectors.mmr import MMRSelector
from xling.selectors.pool_files import load_aligned_pool
from xling.selectors.random_sample import RandomSelector
from xling.selectors.recall import RBM25Selector
from xling.selectors.registry import (
    SELECTORS,
    SelectorCache,
    available_selectors,
    get_selector,
    register_selector,
    select_examples,
)
from xling.selectors.types import (
    DEFAULT_FILTERS,
    DENSE_FORMATS,
    ORDERS,
    SELECTION_SYMMETRIC_ROLES,
    Example,
    Order,
    Selection,
    SelectionConfig,
)

__all__ = [
    "DEFAULT_FILTERS",
    "DENSE_FORMATS",
    "FUSION_METHODS",
    "ORDERS",
    "POOL_FILTERS",
    "SELECTION_SYMMETRIC_ROLES",
    "SELECTORS",
    "BM25Selector",
    "Blocked",
    "DenseSelector",
    "Example",
    "FilterOptions",
    "FilteredPool",
    "FusionSelector",
    "LeakageGuard",
    "MMRSelector",
    "MarginSelector",
    "Order",
    "RBM25Selector",
    "RandomSelector",
    "Ranking",
    "Selection",
    "SelectionConfig",
    "Selector",
    "SelectorCache",
    "aligned_pool",
    "available_selectors",
    "expected_scripts",
    "filter_pool",
    "get_selector",
    "lid_checker",
    "load_aligned_pool",
    "normalize_text",
    "register_selector",
    "select_examples",
    "subset_pool",
]
