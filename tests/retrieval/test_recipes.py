"""Language recipes on real Chroma with the bundled e5, over the bundled FLORES sample in five
languages, and query translation through a table of hand-written translations."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.data import sample_path
from xling.embedders import Embedder
from xling.retrieval import (
    CachedTranslator,
    RecipeRetriever,
    TranslationCache,
    available_retrievers,
    get_retriever,
)
from xling.store import Pool, load_lines

ROWS = {*range(12), 45, 60}  # 60: Steve Jobs unveils the iPhone; 45: Arthur Guinness's lease
QUESTION = "Wer hat das iPhone auf der Bühne vorgestellt?"
# No word of it is in the English passage: BM25 over English passages needs a translation.
DEVICE = "Wer hat das Gerät enthüllt, als er die Bühne betrat?"
TABLE = {
    (DEVICE, "deu", "eng"): "Who unveiled the device by walking onto the stage?",
    (DEVICE, "deu", "fra"): "Qui a dévoilé l'appareil en montant sur scène ?",
    (DEVICE, "deu", "swh"): "Nani alizindua kifaa hicho kwa kutembea kwenye jukwaa?",
    (DEVICE, "deu", "wol"): "Kan moo wone jumtukaay bi ci dugg ci estraad bi?",
}


def table_translate(text: str, src: str, tgt: str) -> str:
    """A translator: the hand-written translations above."""
    return TABLE[(text, src, tgt)]


@pytest.fixture(scope="module")
def recipe_db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    """14 rows in English, French, German and Swahili, and only row 60 in Wolof."""
    db = tmp_path_factory.mktemp("recipes") / "db"
    pool = Pool.open("five", e5, path=db)
    for lang in ("eng", "fra", "deu", "swh"):
        pool.index([r for r in load_lines(sample_path(lang), lang) if r.row in ROWS])
    pool.index([r for r in load_lines(sample_path("wol"), "wol") if r.row == 60])
    return db


@pytest.fixture
def pool(recipe_db: Path, tmp_path: Path) -> Pool:
    db = tmp_path / "db"
    shutil.copytree(recipe_db, db)
    return Pool.open("five", path=db, create=False)


def _rows(hits: object) -> list[tuple[str, int]]:
    return [(h.lang, h.metadata["row"]) for h in hits]  # type: ignore[attr-defined]


def test_user_pivot_and_all_filter_by_the_stored_language(pool: Pool) -> None:
    dense = get_retriever("dense", pool)
    assert pool.count() == 4 * 14 + 1
    (user,) = RecipeRetriever(dense, "user").retrieve([QUESTION], k=5, query_lang="de")
    assert {h.lang for h in user.hits.hits} == {"deu"} and len(user.hits.hits) == 5
    assert _rows(user.hits.hits)[0] == ("deu", 60)
    assert user.langs == ("deu",) and user.translations == {}
    assert user.hits.query_lang == "deu" and user.hits.qid == "0"
    (pivot,) = RecipeRetriever(dense, "pivot").retrieve([QUESTION], k=5, query_lang="deu")
    assert {h.lang for h in pivot.hits.hits} == {"eng"} and pivot.langs == ("eng",)
    assert _rows(pivot.hits.hits)[0] == ("eng", 60)
    (french,) = RecipeRetriever(dense, "pivot", pivot="fr").retrieve([QUESTION], k=3)
    assert {h.lang for h in french.hits.hits} == {"fra"}
    (every,) = RecipeRetriever(dense, "all").retrieve([QUESTION], k=5)
    assert every.langs == ()
    # Unfiltered, the five languages' iPhone lines are the five best passages.
    assert sorted(_rows(every.hits.hits)) == [(x, 60) for x in ("deu", "eng", "fra", "swh", "wol")]
    # An explicit langs bounds every recipe: the asker's language outside it finds nothing.
    (none,) = RecipeRetriever(dense, "user").retrieve([QUESTION], k=5, query_lang="deu",
                                                      langs=["eng"])  # fmt: skip
    assert none.hits.hits == () and none.langs == ()
    (bounded,) = RecipeRetriever(dense, "all").retrieve([QUESTION], k=4, langs=["eng", "sw"])
    assert {h.lang for h in bounded.hits.hits} == {"eng", "swh"}


def test_balanced_gives_each_language_its_quota_merged_by_rank(pool: Pool) -> None:
    recipe = RecipeRetriever(get_retriever("dense", pool), "balanced")
    assert recipe.pool_languages() == ("deu", "eng", "fra", "swh", "wol")
    (result,) = recipe.retrieve([QUESTION], k=9, query_lang="deu")
    hits = result.hits.hits
    assert result.langs == ("deu", "eng", "fra", "swh", "wol")
    assert len({h.id for h in hits}) == 9
    # Rank 1 of every language first (the five iPhone lines, by score), then rank 2 of the
    # four languages that have a second passage: Wolof has one, so it leaves its place.
    assert sorted(_rows(hits[:5])) == [(x, 60) for x in ("deu", "eng", "fra", "swh", "wol")]
    scores = [h.score for h in hits[:5]]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert sorted(h.lang for h in hits[5:]) == ["deu", "eng", "fra", "swh"]
    assert Counter(h.lang for h in hits) == {"deu": 2, "eng": 2, "fra": 2, "swh": 2, "wol": 1}
    # k not a multiple of the languages: the first of the last round get one more.
    (seven,) = recipe.retrieve([QUESTION], k=7, query_lang="deu")
    assert sorted(Counter(h.lang for h in seven.hits.hits).values()) == [1, 1, 1, 2, 2]
    # Bounded by langs: balanced between English and French only.
    (two,) = recipe.retrieve([QUESTION], k=6, query_lang="deu", langs=["en", "fr"])
    assert Counter(h.lang for h in two.hits.hits) == {"eng": 3, "fra": 3}
    assert two.langs == ("eng", "fra")


@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid", "margin"])
def test_every_method_takes_the_recipes(pool: Pool, method: str) -> None:
    assert method in available_retrievers()
    retriever = get_retriever(method, pool)
    questions = [QUESTION, "Arthur Guinness St James' Gate Dublin 1759"]
    user = RecipeRetriever(retriever, "user").retrieve(
        questions, k=3, query_lang=["deu", "swh"], qids=["a", "b"]
    )
    assert [r.hits.qid for r in user] == ["a", "b"]
    assert {h.lang for h in user[0].hits.hits} == {"deu"}
    assert {h.lang for h in user[1].hits.hits} == {"swh"}
    assert _rows(user[0].hits.hits)[0] == ("deu", 60)
    assert _rows(user[1].hits.hits)[0] == ("swh", 45)
    (pivot,) = RecipeRetriever(retriever, "pivot").retrieve(questions[1:], k=2)
    assert _rows(pivot.hits.hits)[0] == ("eng", 45)
    (balanced,) = RecipeRetriever(retriever, "balanced").retrieve(
        questions[1:], k=4, query_lang="eng", langs=["deu", "fra"]
    )
    # BM25 finds only passages sharing a word with the query: there may be fewer than 2.
    counts = Counter(h.lang for h in balanced.hits.hits)
    assert set(counts) == {"deu", "fra"} and max(counts.values()) <= 2
    assert sorted(_rows(balanced.hits.hits[:2])) == [("deu", 45), ("fra", 45)]


def test_query_translation_searches_each_language_with_its_translation(
    pool: Pool, tmp_path: Path
) -> None:
    bm25 = get_retriever("bm25", pool)
    calls: list[tuple[str, str, str]] = []

    def translate(text: str, src: str, tgt: str) -> str:
        calls.append((text, src, tgt))
        return table_translate(text, src, tgt)

    # Without a translation the German words find no English passage about the device.
    (plain,) = RecipeRetriever(bm25, "pivot").retrieve([DEVICE], k=3, query_lang="deu")
    assert ("eng", 60) not in _rows(plain.hits.hits)
    cache = TranslationCache(tmp_path / "translations.sqlite")
    translator = CachedTranslator(translate, model="table", cache=cache)
    pivot = RecipeRetriever(bm25, "pivot", translator=translator)
    (found,) = pivot.retrieve([DEVICE], k=3, query_lang="deu")
    assert found.translations == {"eng": "Who unveiled the device by walking onto the stage?"}
    assert _rows(found.hits.hits)[0] == ("eng", 60)
    line = found.to_dict()
    assert line["translations"] == found.translations and line["langs"] == ["eng"]
    assert line["qid"] == "0" and line["hits"][0]["lang"] == "eng"
    assert calls == [(DEVICE, "deu", "eng")] and translator.calls == 1
    pivot.retrieve([DEVICE, DEVICE], k=3, query_lang="deu", qids=["x", "y"])
    assert translator.calls == 1  # cached
    # The file keeps it for another process: a new translator over the file asks nothing.
    again = CachedTranslator(translate, model="table", cache=TranslationCache(cache.path))
    (same,) = RecipeRetriever(bm25, "pivot", translator=again).retrieve(
        [DEVICE], k=3, query_lang="deu"
    )
    assert again.calls == 0 and same.translations == found.translations
    # The asker's own language is never translated.
    (user,) = RecipeRetriever(bm25, "user", translator=translate).retrieve(
        [DEVICE], k=3, query_lang="deu"
    )
    assert user.translations == {} and {h.lang for h in user.hits.hits} == {"deu"}


def test_all_fuses_the_translations_by_rrf_and_balanced_merges_them_by_rank(pool: Pool) -> None:
    bm25 = get_retriever("bm25", pool)
    every = RecipeRetriever(bm25, "all", translator=table_translate, translate_into=["en", "fr"])
    (fused,) = every.retrieve([DEVICE], k=6, query_lang="deu")
    assert set(fused.translations) == {"eng", "fra"}
    # The question and its two translations each find their own language's iPhone line first
    # (BM25 matches words of one language), and no other list finds it: each gets 1/61 (RRF,
    # k = 60), the question's first on the tie; then each list's second hit, 1/62.
    hits = fused.hits.hits
    assert _rows(hits[:3]) == [("deu", 60), ("eng", 60), ("fra", 60)]
    assert [h.score for h in hits] == pytest.approx([1 / 61] * 3 + [1 / 62] * 3)
    assert [h.lang for h in hits[3:]] == ["deu", "eng", "fra"]
    balanced = RecipeRetriever(get_retriever("dense", pool), "balanced", translator=table_translate)
    (merged,) = balanced.retrieve([DEVICE], k=5, query_lang="deu")
    assert set(merged.translations) == {"eng", "fra", "swh", "wol"}
    assert sorted(_rows(merged.hits.hits)) == [(x, 60) for x in ("deu", "eng", "fra", "swh", "wol")]


def test_bad_recipes_and_translators_are_named(pool: Pool) -> None:
    dense = get_retriever("dense", pool)
    with pytest.raises(InvalidInputError, match="recipe='mixed' is not allowed; use one of: "
                       "user, pivot, all, balanced"):  # fmt: skip
        RecipeRetriever(dense, "mixed")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="recipe 'user' needs each query's language"):
        RecipeRetriever(dense, "user").retrieve([QUESTION], k=2)
    with pytest.raises(InvalidInputError, match="query translation needs each query's language"):
        RecipeRetriever(dense, "pivot", translator=table_translate).retrieve([DEVICE], k=2)
    empty = RecipeRetriever(dense, "pivot", translator=lambda text, src, tgt: " ")
    with pytest.raises(InvalidInputError, match="it must return a non-empty text"):
        empty.retrieve([DEVICE], k=2, query_lang="deu")
