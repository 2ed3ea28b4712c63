"""Language recipes: which languages a question's passages come from, over any method.

The multilingual RAG studies (BERGEN, XRAG, MIRAGE-Bench) compare these, and a
:class:`RecipeRetriever` runs each of them over any :class:`~xling.retrieval.Retriever`
(``dense``, ``bm25``, ``hybrid``, ``margin``), through the retriever's language filter on the
pool's stored ``lang`` metadata:

* ``user``: only passages in the asker's language;
* ``pivot``: only passages in the pivot language (English unless told otherwise);
* ``all``: every passage, no filter;
* ``balanced``: an equal quota per language present in the pool: one search per language,
  merged by rank (every language's first hit, then every language's second, ...; within one
  rank by score), duplicates dropped. With ``k`` not a multiple of the languages the first
  languages of the last round get one more; a language with too few passages leaves its
  places to the others.

An explicit ``langs`` bounds every recipe: ``all`` searches only those languages,
``balanced`` balances among the pool's languages that are in it, and ``user`` or ``pivot``
find nothing when their language is outside it (the filter is a filter, not a suggestion).

**Query translation** (a ``translator``): the question is translated into the languages the
recipe searches and each language is searched with its own translation. ``pivot`` translates
into the pivot; ``balanced`` searches each language with the question in that language and
merges by rank as above; ``all`` searches the whole (bounded) pool once with the question and
once with each translation (into the pool's languages, or ``translate_into``) and fuses the
lists by reciprocal rank fusion (RRF, ``k = 60``), so passages that several translations find
rise; ``user`` needs none. Translations are cached (see
:class:`~xling.retrieval.query_translation.CachedTranslator`) and reported with the hits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from xling.core.aio import blocking_method
from xling.core.errors import InvalidInputError
from xling.core.fusion import RRF_K, fuse_rankings
from xling.core.languages import normalize_code
from xling.core.records import Hit, QueryHits
from xling.core.validation import check_choice, check_positive_int, check_texts
from xling.retrieval.base import Filter, Retriever
from xling.retrieval.query_translation import (
    CachedTranslator,
    TranslationCache,
    Translator,
    cached,
    translate_all,
)
from xling.store.documents import read_stored

__all__ = ["DEFAULT_PIVOT", "RECIPES", "Recipe", "RecipeHits", "RecipeRetriever"]

Recipe = Literal["user", "pivot", "all", "balanced"]
RECIPES: tuple[Recipe, ...] = get_args(Recipe)
DEFAULT_PIVOT = "eng"

_Merge = Literal["single", "rrf", "rank"]


@dataclass(frozen=True)
class RecipeHits:
    """One question's hits under a recipe.

    Attributes:
        hits: The hits, best first, with the question's id, text and language.
        translations: Language → the question's translation that searched it (only
            translations: the question itself is not repeated).
        langs: The languages searched (empty: every language).
    """

    hits: QueryHits
    translations: dict[str, str] = field(default_factory=dict)
    langs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the hits' line with ``translations`` and ``langs`` added."""
        return {
            **self.hits.to_dict(),
            "translations": dict(self.translations),
            "langs": list(self.langs),
        }


@dataclass(frozen=True)
class _Search:
    text: str
    langs: tuple[str, ...] | None  # None: no language filter


@dataclass
class _Plan:
    searches: list[_Search]
    merge: _Merge
    translations: dict[str, str]


class RecipeRetriever:
    """Runs a language recipe over any retriever.

    Args:
        retriever: The retriever (any method) over the pool.
        recipe: ``user``, ``pivot``, ``all`` or ``balanced``.
        pivot: The pivot language of ``pivot`` (default English).
        translator: Translates the question before searching (``None``: no translation): any
            ``translate(text, src, tgt)`` callable, an
            :class:`~xling.retrieval.query_translation.LLMTranslator`, or a
            :class:`~xling.retrieval.query_translation.CachedTranslator`.
        translate_into: With ``all``: the languages to translate into (default: every
            language of the pool within ``langs``); with ``balanced``: the languages searched
            with a translation (the others with the question as it is).
        cache: The translations' cache when ``translator`` is not already cached (default: a
            fresh in-memory one).

    Raises:
        InvalidInputError: On an unknown recipe or language code.
    """

    def __init__(
        self,
        retriever: Retriever,
        recipe: Recipe = "all",
        *,
        pivot: str = DEFAULT_PIVOT,
        translator: Translator | CachedTranslator | None = None,
        translate_into: Sequence[str] | None = None,
        cache: TranslationCache | None = None,
    ) -> None:
        if not isinstance(retriever, Retriever):
            raise InvalidInputError(f"retriever must be an xling Retriever, got {retriever!r:.60}")
        self.retriever = retriever
        self.recipe: Recipe = check_choice(recipe, "recipe", RECIPES)
        self.pivot = normalize_code(pivot)
        self.translator = cached(translator, cache) if translator is not None else None
        self.translate_into = (
            Filter.of(translate_into).langs if translate_into is not None else None
        )
        self._languages: tuple[tuple[str, int], tuple[str, ...]] | None = None

    def __repr__(self) -> str:
        return (
            f"RecipeRetriever({self.retriever!r}, recipe={self.recipe!r}, "
            f"translate={self.translator is not None})"
        )

    def pool_languages(self) -> tuple[str, ...]:
        """The languages of the pool's passages, sorted (read once per pool state)."""
        pool = self.retriever.pool
        state = pool.state()
        if self._languages is None or self._languages[0] != state:
            stored = read_stored(pool, None, ["metadatas"])["metadatas"]
            found = {str(m.get("lang")) for m in stored if m and m.get("lang")}
            self._languages = (state, tuple(sorted(found)))
        return self._languages[1]

    async def aretrieve(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        query_lang: str | Sequence[str | None] | None = None,
        langs: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        qids: Sequence[str] | None = None,
    ) -> list[RecipeHits]:
        """The ``k`` best passages of each query under the recipe (async).

        Args:
            queries: Query texts.
            k: Hits per query.
            query_lang: The queries' language (one code, or one per query); needed by
                ``user`` and by query translation.
            langs: Only passages in these languages (bounds every recipe, see the module).
            where: A further Chroma metadata filter.
            qids: Query ids (default ``"0"``, ``"1"``, ...).

        Returns:
            One :class:`RecipeHits` per query, in input order.

        Raises:
            InvalidInputError: On an empty query, ``k < 1``, a bad filter, or a missing
                ``query_lang`` where one is needed.
            ServiceUnavailableError: If Chroma or the translating LLM fails.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k")
        bound = Filter.of(langs, None, where)
        ids = Retriever._qids(qids, len(texts))
        qlangs = Retriever._query_langs(query_lang, len(texts))
        if not texts:
            return []
        needs_lang = self.recipe == "user" or self.translator is not None
        missing = [i for i, lang in enumerate(qlangs) if lang is None]
        if needs_lang and missing:
            what = "recipe 'user'" if self.recipe == "user" else "query translation"
            raise InvalidInputError(
                f"{what} needs each query's language; query {ids[missing[0]]!r} has none "
                "(give query_lang)"
            )
        pool_langs = (
            await asyncio.to_thread(self.pool_languages)
            if self.recipe == "balanced" or (self.recipe == "all" and self.translator)
            else ()
        )
        plans = await self._plans(texts, qlangs, bound.langs, pool_langs)
        found = await self._search(plans, k, where)
        out = []
        for i, plan in enumerate(plans):
            hits = self._merge(plan.merge, found[i], k)
            searched = sorted({x for s in plan.searches for x in s.langs or ()})
            if any(s.langs is None for s in plan.searches):
                searched = []
            out.append(
                RecipeHits(
                    QueryHits(ids[i], texts[i], tuple(hits), qlangs[i]),
                    plan.translations,
                    tuple(searched),
                )
            )
        return out

    retrieve = blocking_method(aretrieve)

    async def _plans(
        self,
        texts: list[str],
        qlangs: list[str | None],
        bound: tuple[str, ...],
        pool_langs: tuple[str, ...],
    ) -> list[_Plan]:
        """What each query searches, with the translations it needs made."""
        present = tuple(x for x in pool_langs if not bound or x in bound)
        targets: list[list[tuple[str, tuple[str, ...] | None, bool]]] = []
        merges: list[_Merge] = []
        for qlang in qlangs:
            translate = self.translator is not None
            # (language whose text searches, the filter, whether to translate into it)
            if self.recipe in ("user", "pivot"):
                lang = qlang if self.recipe == "user" else self.pivot
                assert lang is not None
                inside = not bound or lang in bound
                targets.append([(lang, (lang,), translate)] if inside else [])
                merges.append("single")
            elif self.recipe == "balanced":
                into = self.translate_into
                targets.append(
                    [(x, (x,), translate and (into is None or x in into)) for x in present]
                )
                merges.append("rank")
            elif not translate:
                targets.append([(qlang or "", bound or None, False)])
                merges.append("single")
            else:
                into = self.translate_into if self.translate_into is not None else present
                extra = [x for x in into if x != qlang]
                row = [(qlang or "", bound or None, False)]
                targets.append(row + [(x, bound or None, True) for x in extra])
                merges.append("rrf")
        jobs = sorted(
            {
                (text, qlang, lang)
                for text, qlang, row in zip(texts, qlangs, targets, strict=True)
                for lang, _, translate in row
                if translate and qlang is not None and lang != qlang
            }
        )
        done: dict[tuple[str, str, str], str] = {}
        if jobs:
            assert self.translator is not None
            made = await translate_all(self.translator, [(t, s, g) for t, s, g in jobs])
            done = dict(zip(jobs, made, strict=True))
        plans = []
        for text, qlang, row, merge in zip(texts, qlangs, targets, merges, strict=True):
            searches, translations = [], {}
            for lang, filt, translate in row:
                key = (text, qlang or "", lang)
                if translate and key in done:
                    translations[lang] = done[key]
                    searches.append(_Search(done[key], filt))
                else:
                    searches.append(_Search(text, filt))
            plans.append(_Plan(searches, merge, translations))
        return plans

    async def _search(
        self, plans: list[_Plan], k: int, where: Mapping[str, Any] | None
    ) -> list[list[list[Hit]]]:
        """Every plan's searches, batched: one call of the retriever per language filter."""
        groups: dict[tuple[str, ...] | None, list[tuple[int, int, str]]] = {}
        for i, plan in enumerate(plans):
            for j, search in enumerate(plan.searches):
                groups.setdefault(search.langs, []).append((i, j, search.text))
        found: list[list[list[Hit]]] = [[[] for _ in plan.searches] for plan in plans]
        for filt, members in groups.items():
            results = await self.retriever.aretrieve(
                [text for _, _, text in members], k, langs=filt, where=where
            )
            for (i, j, _), result in zip(members, results, strict=True):
                found[i][j] = list(result.hits)
        return found

    @staticmethod
    def _merge(merge: _Merge, lists: list[list[Hit]], k: int) -> list[Hit]:
        if not lists:
            return []
        if merge == "single":
            return lists[0][:k]
        if merge == "rank":
            return _merge_by_rank(lists, k)
        return _fuse_rrf(lists, k)


def _merge_by_rank(lists: list[list[Hit]], k: int) -> list[Hit]:
    """Every list's first hit, then every list's second, ...: within one rank by score, then
    by the lists' order; a passage already taken is skipped."""
    out: list[Hit] = []
    seen: set[str] = set()
    depth = max((len(x) for x in lists), default=0)
    for rank in range(depth):
        row = [(n, x[rank]) for n, x in enumerate(lists) if rank < len(x)]
        row.sort(key=lambda item: (-(item[1].score if item[1].score is not None else -np.inf),
                                   item[0]))  # fmt: skip
        for _, hit in row:
            if hit.id not in seen:
                seen.add(hit.id)
                out.append(hit)
                if len(out) == k:
                    return out
    return out


def _fuse_rrf(lists: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal rank fusion of the lists; a hit's score becomes its fused points."""
    first: dict[str, Hit] = {}
    for hits in lists:
        for hit in hits:
            first.setdefault(hit.id, hit)
    if not first:
        return []
    number = {rid: n for n, rid in enumerate(first)}
    depth = max(len(x) for x in lists)
    rankings = [
        np.array([[number[h.id] for h in hits] + [-1] * (depth - len(hits))], dtype=np.int64)
        for hits in lists
    ]
    fused = fuse_rankings(rankings, len(first), k, "rrf", rrf_k=RRF_K)
    ids = list(first)
    return [
        Hit(h.id, h.text, float(score), h.lang, h.metadata)
        for n, score in zip(fused.indices[0], fused.scores[0], strict=True)
        if n >= 0
        for h in [first[ids[n]]]
    ]
