"""Strategies by name, and :func:`select_examples`, the one-call entry point."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace

from xling.core.errors import InvalidInputError
from xling.core.progress import ProgressCallback
from xling.core.records import AlignedPool
from xling.core.registry import Registry
from xling.embedders import Embedder
from xling.prompts.mt import DEFAULT_MT_TEMPLATE, MTTemplate, build_mt_prompt, get_mt_template
from xling.selectors._options import BM25Options, DenseOptions, SelectorOptions
from xling.selectors.base import Selector
from xling.selectors.dense import DenseSelector
from xling.selectors.filters import FilteredPool, FilterOptions, filter_pool
from xling.selectors.fusion import FusionMethod, FusionSelector
from xling.selectors.lexical import BM25Selector
from xling.selectors.margin import MarginSelector
from xling.selectors.mmr import MMRSelector
from xling.selectors.random_sample import RandomSelector
from xling.selectors.recall import RBM25Selector
from xling.selectors.types import DenseFormat, Selection, SelectionConfig

__all__ = [
    "SELECTORS",
    "SelectorCache",
    "SelectorFactory",
    "available_selectors",
    "get_selector",
    "register_selector",
    "select_examples",
]

SelectorCache = dict[Hashable, tuple[FilteredPool, Selector]]
"""What :func:`select_examples` keeps between calls on one pool (see its ``cache``)."""

SelectorFactory = Callable[[AlignedPool, SelectionConfig, "str | Embedder"], Selector]


def _common(c: SelectionConfig) -> SelectorOptions:
    return {"order": c.order, "leakage_guard": c.leakage_guard}


def _bm25_options(c: SelectionConfig) -> BM25Options:
    return {"k1": c.bm25_k1, "b": c.bm25_b, **_common(c)}


def _dense_options(c: SelectionConfig, fmt: DenseFormat | None = None) -> DenseOptions:
    return {
        "format": fmt or c.dense_format,
        "alpha": c.alpha,
        "batch_size": c.batch_size,
        "symmetric_roles": c.symmetric_roles,
        **_common(c),
    }


def _dense(fmt: DenseFormat) -> SelectorFactory:
    def make(pool: AlignedPool, c: SelectionConfig, emb: str | Embedder) -> Selector:
        return DenseSelector(pool, emb, **_dense_options(c, fmt))

    return make


def _fusion(method: FusionMethod) -> SelectorFactory:
    def make(pool: AlignedPool, c: SelectionConfig, emb: str | Embedder) -> Selector:
        return FusionSelector(
            pool,
            emb,
            method=method,
            depth=c.candidates,
            rrf_k=c.rrf_k,
            k1=c.bm25_k1,
            b=c.bm25_b,
            **_dense_options(c),
        )

    return make


SELECTORS: Registry[SelectorFactory] = Registry(
    "selection method",
    {
        "random": lambda pool, c, emb: RandomSelector(pool, seed=c.seed, **_common(c)),
        "bm25": lambda pool, c, emb: BM25Selector(pool, **_bm25_options(c)),
        "r-bm25": lambda pool, c, emb: RBM25Selector(
            pool,
            candidates=c.candidates,
            weight=c.recall_weight,
            threshold=c.recall_threshold,
            **_bm25_options(c),
        ),
        "s2s": _dense("s2s"),
        "s2t": _dense("s2t"),
        "mix": _dense("mix"),
        "mmr": lambda pool, c, emb: MMRSelector(
            pool, emb, lam=c.mmr_lambda, candidates=c.candidates, **_dense_options(c)
        ),
        "margin": lambda pool, c, emb: MarginSelector(
            pool, emb, neighbors=c.margin_neighbors, kind=c.margin_kind, **_dense_options(c)
        ),
        "borda": _fusion("borda"),
        "rrf": _fusion("rrf"),
    },
)
"""Strategy name → factory ``(pool, config, embedder) -> Selector``."""


def register_selector(name: str, factory: SelectorFactory, *, replace: bool = False) -> None:
    """Adds a selection method (a name in use is refused unless ``replace``)."""
    SELECTORS.register(name, factory, replace=replace)


def available_selectors() -> list[str]:
    """The registered selection methods."""
    return SELECTORS.names()


def _check_config(config: object) -> SelectionConfig:
    if not isinstance(config, SelectionConfig):
        raise InvalidInputError(
            f"config must be a SelectionConfig or a selection method, got {config!r:.40} "
            f"({type(config).__name__})"
        )
    return config


def get_selector(
    pool: AlignedPool,
    config: SelectionConfig | str = "s2s",
    *,
    embedder: str | Embedder | None = None,
) -> Selector:
    """Builds the selector a configuration (or a bare method name) asks for.

    Args:
        pool: The translation pairs (filter them first with :func:`filter_pool` if wanted).
        config: A :class:`SelectionConfig`, or a method name with default settings.
        embedder: An embedder object to use instead of ``config.embedder``.

    Raises:
        UnknownSpecError: On an unknown method (the message lists them).
        InvalidInputError: If ``config`` is neither a :class:`SelectionConfig` nor a name.
    """
    cfg = SelectionConfig(method=config) if isinstance(config, str) else _check_config(config)
    factory = SELECTORS.get(cfg.method)
    return factory(pool, cfg, embedder if embedder is not None else cfg.embedder)


def select_examples(
    queries: Sequence[str],
    pool: AlignedPool,
    config: SelectionConfig | None = None,
    *,
    embedder: str | Embedder | None = None,
    filter_options: FilterOptions | None = None,
    template: str | MTTemplate | None = DEFAULT_MT_TEMPLATE,
    on_prepare: ProgressCallback | None = None,
    on_progress: ProgressCallback | None = None,
    cache: SelectorCache | None = None,
) -> Selection:
    """Filters the pool, builds the selector, selects examples and builds every prompt.

    The one path of ``xling select``, the server's ``/v1/select-examples`` and the experiment
    runner.

    Args:
        queries: Source-language sentences to translate.
        pool: The translation pairs (:func:`~xling.selectors.aligned_pool` for a Chroma pool:
            its stored vectors are used when the embedder is the pool's).
        config: What to do; default dense ``s2s`` with k = 5.
        embedder: An embedder object (or spec) to use instead of ``config.embedder``; give a
            Chroma pool's own embedder so that its stored vectors are used.
        filter_options: Settings of the pool filters named in ``config.filters`` (default:
            ``config.max_length_ratio``).
        template: The MT prompt template of :attr:`Selection.prompts` (``None``: no prompts).
        on_prepare: Called with (steps done, steps to do) while the pool side is prepared
            (embedded, indexed).
        on_progress: Called with (steps done, steps to do) while selecting.
        cache: Keeps the filtered pool and the selector (with its embedded pool side) of each
            configuration apart from ``k``, for calls on the same ``pool`` (the experiment
            runner: one selector for every k and template of a method).

    Returns:
        The examples of each query in prompt order, its prompt, and the filter report.

    Raises:
        InvalidInputError: If ``k`` is larger than the filtered pool, or on bad queries.
        UnknownSpecError: On an unknown method, filter or template.
    """
    cfg = SelectionConfig() if config is None else _check_config(config)
    if template is not None:
        get_mt_template(template)
    options = filter_options or FilterOptions(max_length_ratio=cfg.max_length_ratio)
    emb_key = embedder.id if isinstance(embedder, Embedder) else embedder
    key = (replace(cfg, k=1), emb_key, repr(options))
    if cache is not None and key in cache:
        filtered, selector = cache[key]
    else:
        filtered = filter_pool(pool, cfg.filters, options)
        selector = None
    size = len(filtered.pool)
    if cfg.k > size:
        raise InvalidInputError(
            f"k={cfg.k} is larger than the pool ({size} pairs); use at most {size}"
        )
    if selector is None:
        selector = get_selector(filtered.pool, cfg, embedder=embedder)
        if cache is not None:
            cache[key] = (filtered, selector)
    selector.prepare(on_prepare)
    texts = list(queries)
    examples = selector.select(texts, cfg.k, on_progress=on_progress)
    prompts = (
        [
            build_mt_prompt(q, chosen, pool.src_lang, pool.tgt_lang, template)
            for q, chosen in zip(texts, examples, strict=True)
        ]
        if template is not None
        else []
    )
    return Selection(
        queries=texts,
        examples=examples,
        config=cfg,
        pool_size=size,
        filtered=filtered.dropped,
        prompts=prompts,
    )
