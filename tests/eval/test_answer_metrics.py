"""Answer correctness metrics against hand-computed values.

The expected values were counted by hand (the counting is in the comments). They were also
checked against the reference code, run outside the test suite: BERGEN's own functions
(naver/bergen ``modules/metrics.py``: ``f1_score(..., ngrams)["recall"]``, repository
commit 1b0ee2c) for every character n-gram case, and MLQA's official script
(facebookresearch/MLQA ``mlqa_evaluation_v1.py``, ``lang="en"``, or ``"zh"`` for the Chinese
cases) for exact match and F1 on Latin, Cyrillic and Han text. MLQA has no rule for kana or Thai;
those expectations come from the rule documented in ``normalize_answer``. On a wider check
(5,034 Tatoeba sentences in 17 languages, each scored against random substrings of itself
and of other sentences) the character 3-gram recall equalled BERGEN's on every pair. EM and F1
equalled MLQA's on all 4,434 pairs outside Japanese and Thai.
"""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.eval import (
    answer_scores,
    char_ngram_recall,
    exact_match,
    normalize_answer,
    token_f1,
)

# --- normalize_answer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        # Unicode punctuation goes too (« » ¿ ? are P*), and so do ASCII symbols such as $.
        ("¿«Madrid»?", "madrid"),
        ("100 $", "100"),
        # Punctuation is deleted, not replaced by a space (SQuAD, MLQA).
        ("Jean-Paul", "jeanpaul"),
        ("l'eau", "leau"),
        # Only English articles, as whole words: "o" (Portuguese) stays, "theater" stays.
        ("O Rio de Janeiro", "o rio de janeiro"),
        ("an apple a theater", "apple theater"),
        # Han, kana: one token per character; the middle dot and the full stop are P*.
        ("東京タワー。", "東 京 タ ワ ー"),
        ("デイヴ・エドモンズ", "デ イ ヴ エ ド モ ン ズ"),
        ("1969年7月20日", "1969 年 7 月 20 日"),
        # Thai: one token per consonant or vowel letter, combining marks kept on their letter
        # (รุ = ร + sara u, a mark).
        ("กรุงเทพ", "ก รุ ง เ ท พ"),
        # Hangul by whitespace: Korean writes spaces between words.
        ("서울 특별시", "서울 특별시"),
        ("  Straße\t\nBERLIN ", "straße berlin"),
        ("...", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


# --- char_ngram_recall (BERGEN) ---------------------------------------------------------------


def test_char_ngram_recall_counts_clipped_gold_trigrams() -> None:
    # gold "banana": ban ana nan ana (4 trigrams); prediction "anana": ana nan ana.
    # Clipped overlap: ana x2, nan x1 = 3 -> 3/4.
    assert char_ngram_recall("anana", ["banana"]) == pytest.approx(0.75)
    # The other way round: gold "anana" has 3 trigrams, all in "banana" -> 1.0.
    assert char_ngram_recall("banana", ["anana"]) == 1.0


def test_char_ngram_recall_takes_the_best_gold() -> None:
    # gold 1 "bern": ber ern (2); prediction "berlin": ber erl rli lin -> ber: 1/2.
    # gold 2 "berlin germany": ber erl rli lin + ger erm rma man any (9) -> 4/9.
    assert char_ngram_recall("Berlin", ["Bern", "Berlin, Germany"]) == pytest.approx(0.5)
    assert char_ngram_recall("Berlin", ["Berlin, Germany"]) == pytest.approx(4 / 9)


def test_char_ngram_recall_contains_the_gold_in_a_long_answer() -> None:
    # gold "paris": par ari ris; the sentence holds all three.
    assert char_ngram_recall("The capital of France is Paris.", ["Paris"]) == 1.0
    # Swahili answer with the gold's words in another order: "mlima kilimanjaro" ->
    # mli lim ima + kil ili lim ima man anj nja jar aro (12), all in the answer.
    answer = "Kilimanjaro ni mlima mrefu zaidi Afrika"
    assert char_ngram_recall(answer, ["Mlima Kilimanjaro"]) == 1.0


def test_char_ngram_recall_short_words_are_whole_tokens() -> None:
    # gold "xyz" -> xyz; prediction "x" -> the token "x": nothing shared.
    assert char_ngram_recall("x", ["xyz"]) == 0.0
    # gold "ab" (shorter than 3) is the token "ab"; "ab ab ab" holds it.
    assert char_ngram_recall("ab ab ab", ["ab"]) == 1.0
    # n-grams never cross a space: gold "ab cd" -> tokens ab, cd; "abcd" -> abc bcd: 0.
    assert char_ngram_recall("abcd", ["ab cd"]) == 0.0


def test_char_ngram_recall_other_n() -> None:
    # n=2, gold "banana": ba an na an na (5); "anana": an na an na -> an x2, na x2 = 4/5.
    assert char_ngram_recall("anana", ["banana"], n=2) == pytest.approx(0.8)
    # n=1: characters; gold "abc" vs "cab" -> 3/3.
    assert char_ngram_recall("cab", ["abc"], n=1) == 1.0


def test_char_ngram_recall_keeps_bergen_normalisation() -> None:
    # BERGEN deletes ASCII punctuation only: gold "«madrid»" -> «ma mad adr dri rid id» (6);
    # "Madrid" -> mad adr dri rid: 4/6.
    assert char_ngram_recall("Madrid", ["«Madrid»"]) == pytest.approx(4 / 6)
    # English articles go in every language: gold "the apple" -> "apple": app ppl ple.
    assert char_ngram_recall("an apple a day", ["the apple"]) == 1.0
    # A gold that normalises to nothing has no n-gram: recall 0 (BERGEN never divides by 0).
    assert char_ngram_recall("the", ["The"]) == 0.0


def test_char_ngram_recall_scripts_without_spaces() -> None:
    # "東京タワー" is one word of 5 characters: 東京タ 京タワ タワー, all in the answer.
    assert char_ngram_recall("東京タワーです", ["東京タワー"]) == 1.0
    # gold "東京都" -> 東京都; the answer's trigrams 東京タ 京タワ タワー ワーで ーです: 0.
    assert char_ngram_recall("東京タワーです", ["東京都"]) == 0.0
    # Thai code points (marks included): "กรุงเทพ" has 7 -> 5 trigrams, all in the longer name.
    assert char_ngram_recall("กรุงเทพมหานคร", ["กรุงเทพ"]) == 1.0


# --- exact_match and token_f1 ----------------------------------------------------------------


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower.", ["Eiffel tower"]) == 1.0
    assert exact_match("«Madrid»", ["Madrid"]) == 1.0
    assert exact_match("Madrid, Spain", ["Madrid"]) == 0.0
    # Script-aware: spaces between CJK characters do not matter.
    assert exact_match("東京 タワー", ["東京タワー"]) == 1.0
    # Best gold.
    assert exact_match("Tolstoy", ["Leo Tolstoy", "Tolstoy"]) == 1.0
    # Both sides normalise to "": equal, as in MLQA's script.
    assert exact_match("The!", ["the"]) == 1.0


def test_token_f1_words() -> None:
    # "capital is berlin" (3) vs "berlin germany" (2): 1 shared, P=1/3 R=1/2, F1=0.4;
    # vs "berlin": P=1/3 R=1, F1=0.5. Best: 0.5.
    assert token_f1("The capital is Berlin", ["Berlin, Germany", "Berlin"]) == pytest.approx(0.5)
    assert token_f1("The capital is Berlin", ["Berlin, Germany"]) == pytest.approx(0.4)
    # "o rio de janeiro" (4) vs "rio de janeiro" (3): P=3/4 R=1, F1 = 1.5/1.75 = 6/7.
    assert token_f1("O Rio de Janeiro", ["Rio de Janeiro"]) == pytest.approx(6 / 7)
    # Repeated tokens are clipped: "ab ab ab" vs "ab": 1 shared, P=1/3 R=1, F1=0.5.
    assert token_f1("ab ab ab", ["ab"]) == pytest.approx(0.5)
    assert token_f1("Paris", ["Lyon"]) == 0.0


def test_token_f1_by_character_in_cjk_and_thai() -> None:
    # Katakana: デ イ ヴ エ ド モ ン ズ で す (10) vs デ イ ヴ エ ド モ ン ズ (8):
    # P=8/10 R=1, F1 = 1.6/1.8 = 8/9.
    assert token_f1("デイヴ・エドモンズです", ["デイヴ・エドモンズ"]) == pytest.approx(8 / 9)
    # Han and digits: 1969 年 7 月 20 日 (6) vs 1969 年 (2): P=1/3 R=1, F1=0.5.
    assert token_f1("1969年7月20日", ["1969年"]) == pytest.approx(0.5)
    # Thai: ก รุ ง เ ท พ ม ห า น ค ร (12) vs ก รุ ง เ ท พ (6): P=1/2 R=1, F1=2/3.
    assert token_f1("กรุงเทพมหานคร", ["กรุงเทพ"]) == pytest.approx(2 / 3)


def test_token_f1_hangul_by_whitespace() -> None:
    # 서울 특별시 (2) vs 서울 (1): P=1/2 R=1, F1=2/3; written without the space, one token.
    assert token_f1("서울 특별시", ["서울"]) == pytest.approx(2 / 3)
    assert token_f1("서울특별시", ["서울"]) == 0.0


def test_token_f1_empty_normalisation_scores_zero() -> None:
    # MLQA: no shared token -> 0, also when both sides normalise to nothing.
    assert token_f1("the", ["The"]) == 0.0


# --- answer_scores ---------------------------------------------------------------------------


def test_answer_scores() -> None:
    # char3: "paris" -> par ari ris, all in the answer: 1.0. EM: no.
    # F1: "it is paris" (3) vs "paris": P=1/3 R=1 -> 0.5; vs "paris france": P=1/3 R=1/2 -> 0.4.
    scores = answer_scores("It is Paris.", ["Paris", "Paris, France"])
    assert list(scores) == ["char3_recall", "em", "f1"]
    assert scores == pytest.approx({"char3_recall": 1.0, "em": 0.0, "f1": 0.5})
    assert answer_scores("Paris", ("Paris",)) == {"char3_recall": 1.0, "em": 1.0, "f1": 1.0}


@pytest.mark.parametrize("prediction", [None, "", "  \n"])
def test_no_answer_scores_zero(prediction: str | None) -> None:
    assert answer_scores(prediction, ["Paris"]) == {"char3_recall": 0.0, "em": 0.0, "f1": 0.0}


@pytest.mark.parametrize("metric", [char_ngram_recall, exact_match, token_f1])
def test_blank_prediction_scores_zero(metric) -> None:  # type: ignore[no-untyped-def]
    assert metric("", ["Paris"]) == 0.0


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("golds", "message"),
    [
        ("Paris", "wrap a single answer in a list"),
        ([], "golds is empty"),
        (["Paris", ""], "non-empty strings"),
        (["Paris", None], "non-empty strings"),
        (None, "list of gold answer strings"),
    ],
)
@pytest.mark.parametrize("metric", [char_ngram_recall, exact_match, token_f1, answer_scores])
def test_bad_golds(metric, golds, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match=message):
        metric("Paris", golds)


@pytest.mark.parametrize("metric", [char_ngram_recall, exact_match, token_f1, answer_scores])
def test_bad_prediction(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="prediction 3 is not a string"):
        metric(3, ["Paris"])


def test_none_prediction_only_in_answer_scores() -> None:
    with pytest.raises(InvalidInputError, match="prediction None is not a string"):
        token_f1(None, ["Paris"])  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_bad_n(n: object) -> None:
    with pytest.raises(InvalidInputError, match="n=.* is not allowed"):
        char_ngram_recall("Paris", ["Paris"], n=n)  # type: ignore[arg-type]


def test_normalize_answer_refuses_non_text() -> None:
    with pytest.raises(InvalidInputError, match="not a string"):
        normalize_answer(None)  # type: ignore[arg-type]
