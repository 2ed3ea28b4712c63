"""Answer correctness: character n-gram recall of the gold answers, exact match and token F1.

Three scores of a generated answer against one question's gold answers, each the maximum over
the gold answers (an answer is as right as the gold it matches best):

- ``char3_recall`` (:func:`char_ngram_recall`): the share of a gold answer's character
  3-grams found in the answer. naver's BERGEN uses it as its main multilingual metric: it does
  not need a tokenizer, is lenient with the spelling variants of names across languages, and
  does not punish a long answer that contains the gold. It is BERGEN's code to the letter, its
  English-centred normalisation included, so figures compare with BERGEN's.
- ``em`` (:func:`exact_match`) and ``f1`` (:func:`token_f1`): SQuAD's exact match and token
  F1 with the multilingual conventions of MLQA's official script: Unicode punctuation removed,
  and text in scripts written without spaces split into characters.

The language of an answer is judged elsewhere (:class:`xling.eval.LanguageChecker`).
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import regex

from xling.core.errors import InvalidInputError
from xling.core.scripts import SPACELESS_SCRIPTS
from xling.core.validation import check_positive_int, is_blank, preview

__all__ = [
    "answer_scores",
    "char_ngram_recall",
    "exact_match",
    "normalize_answer",
    "token_f1",
]

# The keys of answer_scores, in this order.
_SCORE_KEYS = ("char3_recall", "em", "f1")


@lru_cache(maxsize=1)
def _patterns() -> tuple[Any, Any, Any]:
    """Punctuation (Unicode P* and ASCII's string.punctuation), English articles, tokens."""
    # MLQA's PUNCT: every code point of a P* category, plus ASCII symbols such as $ + < = > ^
    # ` | ~ that string.punctuation holds and Unicode files under S*.
    punctuation = regex.compile(r"[\p{P}" + regex.escape(string.punctuation) + "]")
    articles = regex.compile(r"\b(a|an|the)\b")
    spaceless = "".join(rf"\p{{{s}}}" for s in SPACELESS_SCRIPTS)
    # Within a word: one spaceless-script character with its combining marks (Thai vowels and
    # tone marks stay on their consonant), or a run of anything else.
    tokens = regex.compile(rf"[{spaceless}]\p{{M}}*|[^{spaceless}]+")
    return punctuation, articles, tokens


def normalize_answer(text: str) -> str:
    """Normalises an answer for exact match and token F1 (MLQA's convention, script-aware).

    Steps, in MLQA's order: lowercase (``str.lower``); delete punctuation (every Unicode
    ``P*`` character and ASCII's ``string.punctuation``, so ``Jean-Paul`` becomes
    ``jeanpaul`` as in SQuAD); replace the English articles ``a``, ``an``, ``the`` (whole
    words) by spaces; split on whitespace, then split each character of a script written
    without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan; see
    :data:`xling.core.scripts.SPACELESS_SCRIPTS`) into its own token, with its combining
    marks; join the tokens with single spaces.

    Decisions: only the English articles are removed, in every language (SQuAD's and MLQA's
    English rule; the per-language article lists of MLQA and MKQA would need the answer's
    language, and the removal is the same on both sides, so it can only loosen a match).
    Hangul is split by whitespace, not by character: Korean puts spaces between words, as
    MLQA's and XOR-TyDi's scripts treat it.

    Args:
        text: An answer or a gold answer.

    Returns:
        The normalised text; ``""`` if nothing but punctuation, articles and spaces remain.

    Raises:
        InvalidInputError: If ``text`` is not a string.

    Example:
        >>> normalize_answer("The Eiffel Tower!")
        'eiffel tower'
        >>> normalize_answer("東京タワー。")
        '東 京 タ ワ ー'
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"answer {preview(text)} is not a string; give the answer text")
    punctuation, articles, tokens = _patterns()
    cleaned = articles.sub(" ", punctuation.sub("", text.lower()))
    return " ".join(token for word in cleaned.split() for token in tokens.findall(word))


def _check_golds(golds: Any) -> list[str]:
    """The gold answers as a list of non-blank strings."""
    if isinstance(golds, str) or not isinstance(golds, Sequence):
        raise InvalidInputError(
            f"golds must be a list of gold answer strings, got {preview(golds)} "
            f"({type(golds).__name__}); wrap a single answer in a list"
        )
    if not golds:
        raise InvalidInputError(
            "golds is empty; give at least one gold answer (a question without gold answers "
            "has no answer scores)"
        )
    for gold in golds:
        if not isinstance(gold, str) or is_blank(gold):
            raise InvalidInputError(
                f"gold answer {preview(gold)} is not allowed; gold answers are non-empty strings"
            )
    return list(golds)


def _check_prediction(prediction: Any) -> str:
    if not isinstance(prediction, str):
        raise InvalidInputError(
            f"prediction {preview(prediction)} is not a string; give the answer text"
        )
    return prediction


def _best(prediction: Any, golds: Any, score: Callable[[str, str], float]) -> float:
    """The best score of the prediction over the gold answers; 0.0 for a blank prediction."""
    text = _check_prediction(prediction)
    answers = _check_golds(golds)
    if is_blank(text):
        return 0.0
    return max(score(text, gold) for gold in answers)


# --- BERGEN's character n-gram recall --------------------------------------------------------
# Copied in behaviour from naver/bergen, modules/metrics.py (commit 3ae59f3 of the file,
# repository HEAD 1b0ee2c, January 2026): normalize(), ngrams() and f1_single(..., ngrams).


def _bergen_normalize(text: str) -> str:
    """BERGEN's ``normalize``: lower, delete ASCII punctuation, English articles, spaces."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = regex.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _bergen_ngrams(text: str, n: int) -> list[str]:
    """BERGEN's ``ngrams``: the character n-grams of each word; a shorter word is one token."""
    text = "".join(" " if ch in string.punctuation else ch for ch in text.lower())
    grams: list[str] = []
    for word in text.split():
        if len(word) < n:
            grams.append(word)
        else:
            grams.extend(word[i : i + n] for i in range(len(word) - n + 1))
    return grams


def _bergen_recall(prediction: str, gold: str, n: int) -> float:
    gold_grams = _bergen_ngrams(_bergen_normalize(gold), n)
    common = Counter(_bergen_ngrams(_bergen_normalize(prediction), n)) & Counter(gold_grams)
    matched = sum(common.values())
    return matched / len(gold_grams) if matched else 0.0


def char_ngram_recall(prediction: str, golds: Sequence[str], n: int = 3) -> float:
    """Character n-gram recall of the best gold answer in a prediction (BERGEN's main metric).

    BERGEN's definition, to the letter (naver/bergen ``modules/metrics.py``, file commit
    ``3ae59f356cfa``; its ``RAGMetrics`` reports it as ``Recall_char3gram``): both texts are
    normalised (lowercase; ASCII punctuation deleted; the English articles ``a``, ``an``,
    ``the`` removed; whitespace collapsed), split into words on whitespace, and each word into
    its overlapping character n-grams (a word shorter than ``n`` characters is one token).
    The recall of a gold answer is the number of its n-grams found in the prediction (counted
    with multiplicity: the clipped overlap of the two multisets) over its number of n-grams;
    the score is the maximum over the gold answers. N-grams never cross a space, and text
    without spaces (Chinese, Japanese, Thai) is one long word.

    Args:
        prediction: The generated answer.
        golds: The gold answers (at least one).
        n: The n-gram length (BERGEN: 3).

    Returns:
        A recall in ``[0, 1]``; 0.0 for a blank prediction.

    Raises:
        InvalidInputError: If the prediction is not a string, ``golds`` is not a non-empty list
            of non-blank strings, or ``n`` is not a positive integer.

    Example:
        >>> char_ngram_recall("It is Paris.", ["Paris"])
        1.0
    """
    size = check_positive_int(n, "n")
    return _best(prediction, golds, lambda pred, gold: _bergen_recall(pred, gold, size))


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the prediction equals a gold answer once both are normalised, else 0.0.

    Normalisation: :func:`normalize_answer` (MLQA's, script-aware).

    Args:
        prediction: The generated answer.
        golds: The gold answers (at least one).

    Returns:
        1.0 or 0.0; 0.0 for a blank prediction.

    Raises:
        InvalidInputError: If the prediction is not a string or ``golds`` is not a non-empty
            list of non-blank strings.
    """
    return _best(
        prediction,
        golds,
        lambda pred, gold: float(normalize_answer(pred) == normalize_answer(gold)),
    )


def _f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD's token F1 with script-aware tokens, the best over the gold answers.

    Tokens are those of :func:`normalize_answer`: words split on whitespace, and each character
    of Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar and Tibetan text on its own (MLQA's
    mixed segmentation, widened from MLQA's CJK block to these scripts). The F1 of one gold is
    the harmonic mean of precision and recall of the clipped token overlap; 0.0 when nothing
    is shared (also when a side normalises to nothing, as in MLQA).

    Args:
        prediction: The generated answer.
        golds: The gold answers (at least one).

    Returns:
        An F1 in ``[0, 1]``; 0.0 for a blank prediction.

    Raises:
        InvalidInputError: If the prediction is not a string or ``golds`` is not a non-empty
            list of non-blank strings.
    """
    return _best(prediction, golds, _f1)


def answer_scores(prediction: str | None, golds: Sequence[str]) -> dict[str, float]:
    """The answer's three correctness scores against a question's gold answers.

    Args:
        prediction: The generated answer; ``None`` (no answer, e.g. a failed call) scores 0.
        golds: The gold answers (at least one).

    Returns:
        ``{"char3_recall": …, "em": …, "f1": …}`` (:func:`char_ngram_recall` with ``n=3``,
        :func:`exact_match`, :func:`token_f1`); all 0.0 for a ``None`` or blank prediction.

    Raises:
        InvalidInputError: If the prediction is neither a string nor ``None``, or ``golds`` is
            not a non-empty list of non-blank strings.
    """
    answers = _check_golds(golds)
    if prediction is None:
        return dict.fromkeys(_SCORE_KEYS, 0.0)
    return {
        "char3_recall": char_ngram_recall(prediction, answers, 3),
        "em": exact_match(prediction, answers),
        "f1": token_f1(prediction, answers),
    }
