"""Pool quality filters: drop pairs that would teach the model the wrong thing.

Filters run in order, each on what the previous ones kept:

- ``empty``: a side is empty or has no letters or digits.
- ``length-ratio``: one side is much longer than the other (misaligned or truncated pairs),
  measured in word-equivalents: tokens of :func:`xling.core.tokenize.tokenize`, with tokens of
  scripts written without spaces scaled by their typical characters per word, and add-one
  smoothing so very short pairs are not judged on one word.
- ``language``: a side is not in its language as far as a cheap check can tell: most of its
  letters are in another script than the language's (Cyrillic in a Swahili side), or the
  "translation" is a copy of the source. Same-script confusions (French in an English side)
  need a language identifier: pass ``language_checker``.
- ``duplicates``: the source sentence already occurred (after normalisation); the first stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.languages import normalize_code
from xling.core.records import AlignedPool
from xling.core.scripts import expected_scripts
from xling.core.tokenize import tokenize
from xling.selectors.leakage import normalize_text

__all__ = [
    "POOL_FILTERS",
    "FilterOptions",
    "FilteredPool",
    "LanguageChecker",
    "expected_scripts",
    "filter_pool",
    "lid_checker",
    "subset_pool",
]

LanguageChecker = Callable[[Sequence[str], str], Sequence[bool]]
"""``(texts, language code) -> is each text in that language``."""

# Typical tokens per word for languages written without spaces (tokenize() splits them per
# character): rough averages, enough to compare lengths across scripts.
_TOKENS_PER_WORD: dict[str, float] = {
    **dict.fromkeys(("cmn", "yue", "wuu"), 1.5),
    "jpn": 2.0,
    **dict.fromkeys(("tha", "lao", "khm", "mya", "bod", "dzo"), 3.0),
}


def lid_checker(backend: str | None = None) -> LanguageChecker:
    """A ``language_checker`` from xling's LID backends (:mod:`xling.eval.language_check`).

    A text is kept unless it is judged ``wrong_language``; undetermined or mixed texts stay.

    Args:
        backend: LID backend name; default the one measured best for each language.
    """
    from xling.eval.language_check import LanguageChecker as LIDChecker

    checker = LIDChecker(backend=backend, sentence_voting=False)

    def check(texts: Sequence[str], lang: str) -> list[bool]:
        return [checker.check(lang, t).verdict != "wrong_language" for t in texts]

    return check


@lru_cache(maxsize=64)
def _script_pattern(scripts: tuple[str, ...]) -> Any:
    import regex

    return regex.compile("[" + "".join(rf"\p{{{s}}}" for s in scripts) + "]")


@lru_cache(maxsize=1)
def _letter_pattern() -> Any:
    import regex

    return regex.compile(r"\p{L}")


def _script_share(texts: Sequence[str], scripts: tuple[str, ...]) -> np.ndarray:
    """Share of each text's letters written in the given scripts (1 for texts with none)."""
    pattern, letters = _script_pattern(scripts), _letter_pattern()
    share = np.ones(len(texts))
    for i, text in enumerate(texts):
        total = len(letters.findall(text))
        if total:
            share[i] = len(pattern.findall(text)) / total
    return share


@dataclass(frozen=True)
class FilterOptions:
    """Settings of the pool filters.

    Attributes:
        max_length_ratio: ``length-ratio``: largest allowed ratio of (word-equivalents + 1).
        min_script_share: ``language``: least share of letters in the language's script.
        language_checker: ``language``: an optional language identifier run on both sides.
    """

    max_length_ratio: float = 3.0
    min_script_share: float = 0.5
    language_checker: LanguageChecker | None = None


def _empty(pool: AlignedPool, options: FilterOptions) -> np.ndarray:
    pairs = zip(pool.sources, pool.targets, strict=True)
    return np.array([bool(tokenize(s)) and bool(tokenize(t)) for s, t in pairs], dtype=bool)


def _words(texts: Sequence[str], lang: str) -> np.ndarray:
    scale = _TOKENS_PER_WORD.get(normalize_code(lang), 1.0)
    return np.array([len(tokenize(t)) for t in texts], dtype=np.float64) / scale


def _length_ratio(pool: AlignedPool, options: FilterOptions) -> np.ndarray:
    src = _words(pool.sources, pool.src_lang) + 1.0
    tgt = _words(pool.targets, pool.tgt_lang) + 1.0
    return np.maximum(src, tgt) / np.minimum(src, tgt) <= options.max_length_ratio


def _language(pool: AlignedPool, options: FilterOptions) -> np.ndarray:
    keep = np.ones(len(pool), dtype=bool)
    for texts, lang in ((pool.sources, pool.src_lang), (pool.targets, pool.tgt_lang)):
        scripts = expected_scripts(lang)
        if scripts is not None:
            keep &= _script_share(texts, scripts) >= options.min_script_share
        if options.language_checker is not None:
            keep &= np.asarray(options.language_checker(texts, lang), dtype=bool)
    if normalize_code(pool.src_lang) != normalize_code(pool.tgt_lang):
        pairs = zip(pool.sources, pool.targets, strict=True)
        keep &= np.array([normalize_text(s) != normalize_text(t) for s, t in pairs], dtype=bool)
    return keep


def _duplicates(pool: AlignedPool, options: FilterOptions) -> np.ndarray:
    seen: set[str] = set()
    keep = np.zeros(len(pool), dtype=bool)
    for i, text in enumerate(pool.sources):
        key = normalize_text(text)
        if key not in seen:
            seen.add(key)
            keep[i] = True
    return keep


POOL_FILTERS: dict[str, Callable[[AlignedPool, FilterOptions], np.ndarray]] = {
    "empty": _empty,
    "length-ratio": _length_ratio,
    "language": _language,
    "duplicates": _duplicates,
}
"""Filter name → function returning the keep mask of a pool."""


@dataclass(frozen=True)
class FilteredPool:
    """A filtered pool and what each filter dropped.

    Attributes:
        pool: The pairs kept (their ``rows`` still point into the original files).
        dropped: Pairs dropped per filter, in the order the filters ran.
    """

    pool: AlignedPool
    dropped: dict[str, int] = field(default_factory=dict)


def subset_pool(pool: AlignedPool, keep: np.ndarray) -> AlignedPool:
    """The pairs of ``pool`` where ``keep`` is true, vectors included."""
    idx = np.flatnonzero(keep)
    pick = idx.tolist()
    return AlignedPool(
        sources=[pool.sources[i] for i in pick],
        targets=[pool.targets[i] for i in pick],
        rows=[pool.rows[i] for i in pick],
        src_lang=pool.src_lang,
        tgt_lang=pool.tgt_lang,
        source_vectors=None if pool.source_vectors is None else pool.source_vectors[idx],
        target_vectors=None if pool.target_vectors is None else pool.target_vectors[idx],
        embedder_id=pool.embedder_id,
    )


def filter_pool(
    pool: AlignedPool,
    filters: Sequence[str] = tuple(POOL_FILTERS),
    options: FilterOptions | None = None,
) -> FilteredPool:
    """Applies quality filters to a pool.

    Args:
        pool: The pool.
        filters: Filter names, applied in this order (see :data:`POOL_FILTERS`).
        options: Filter settings.

    Returns:
        The kept pairs and the count each filter dropped.

    Raises:
        UnknownSpecError: On an unknown filter name (the message lists them).
        InvalidInputError: If the filters drop every pair.
    """
    if not isinstance(pool, AlignedPool):
        raise InvalidInputError(f"pool must be an xling AlignedPool, got {pool!r:.60}")
    if options is not None and not isinstance(options, FilterOptions):
        raise InvalidInputError(f"options must be FilterOptions, got {options!r:.60}")
    if isinstance(filters, str):
        filters = [filters]
    for name in filters:
        if name not in POOL_FILTERS:
            raise UnknownSpecError(
                f"unknown pool filter {name!r}; allowed: {', '.join(POOL_FILTERS)}"
            )
    options = options or FilterOptions()
    dropped: dict[str, int] = {}
    for name in dict.fromkeys(filters):
        keep = POOL_FILTERS[name](pool, options)
        dropped[name] = int((~keep).sum())
        if not keep.any():
            raise InvalidInputError(
                f"pool filter {name!r} dropped all {len(keep)} remaining pairs; "
                "check the languages given for the pool or leave that filter out"
            )
        if dropped[name]:
            pool = subset_pool(pool, keep)
    return FilteredPool(pool, dropped)
