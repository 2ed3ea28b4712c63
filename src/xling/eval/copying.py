"""Whether a translation repeats its source: the copying failure of small models under few-shot
prompts, counted so that a chrF++ gain from copied names and numbers is visible.

Both texts are normalised (NFKC, case-folded, punctuation deleted, symbols and whitespace as
word breaks, digit-only words dropped: numbers are shared by every translation) and split into
words. The overlap is the longest common subsequence of the two word sequences (the words the
output repeats *in the source's order*), divided by the shorter side's length:
``max(lcs / len(output), lcs / len(source))``. An output that is the source, any part of it (a
copy cut short) or the source with something added (the source then a translation) scores 1;
one word changed in a 10-word sentence scores 0.9; a translation that keeps the names scores low,
since only the names match and the words around them do not.

:data:`COPY_THRESHOLD` (0.8) was picked on FLORES-200 devtest (1,012 sentences), English source
against the reference translation (which is never a copy) and against constructed copies:

=====================================================  ==============  ==========
pairs                                                  overlap         mean
=====================================================  ==============  ==========
eng vs fra reference                                   max 0.714       0.076
eng vs swh reference                                   max 0.692       0.047
eng vs deu reference                                   max 0.562       0.071
eng vs wol reference                                   max 0.562       0.060
source, one word replaced by a Swahili word            min 0.857       0.948
source, 20 % of words replaced                         min 0.727       0.802
source, 30 % of words replaced                         min 0.636       0.705
source lower-cased, punctuation removed                min 0.929       1.000
first half of the source; source + reference           min 1.000       1.000
=====================================================  ==============  ==========

The highest real pair is a list of names (*Baba Kanjar, Bhutha Kanjar, …* in French, 0.714);
0.8 sits 0.086 above it and under every one-word-changed copy, and flags about half of the
copies with a fifth of their words changed: at 4 words in 5 repeated in order an output is a
copy. On the published Llama-2-7B ICL-MT outputs the overlap is bimodal (most below 0.3, a
second mode at 0.9–1.0: copies); outputs between 0.6 and 0.8 are mostly code-mixed (English
with some target words) and are not counted.

Words are split on whitespace, so for a source in a script written without spaces (Chinese,
Japanese, Thai) only an exact copy (after normalisation) counts; a copy of an English source
is found whatever the target. :func:`xling.eval.is_copy` (laCOMET's statistic) is the narrower
exact check.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from xling.core.errors import InvalidInputError
from xling.core.validation import preview

__all__ = ["COPY_THRESHOLD", "source_overlap", "copies_source", "copy_rate"]

COPY_THRESHOLD = 0.8
"""The overlap (:func:`source_overlap`) from which an output counts as a copy of its source."""


def _check_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {preview(value)}")
    return value


def _words(text: str) -> list[str]:
    """Normalised words: case-folded, punctuation deleted, digit-only words dropped."""
    out = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        kind = unicodedata.category(char)[0]
        if kind == "P":
            continue
        out.append(" " if kind in "SZC" else char)
    return [w for w in "".join(out).split() if not w.isdigit()]


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two word sequences."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def source_overlap(source: str, output: str) -> float:
    """How much of the output repeats the source, in order, from 0 to 1 (module docstring).

    Args:
        source: The sentence that was translated.
        output: The translation.

    Returns:
        ``max(lcs / len(output words), lcs / len(source words))``; 0 when either side has no
        word (an empty output is no copy).

    Raises:
        InvalidInputError: If either is not a string.
    """
    src = _words(_check_str(source, "source"))
    out = _words(_check_str(output, "output"))
    if not src or not out:
        return 0.0
    common = _lcs(out, src)
    return max(common / len(out), common / len(src))


def copies_source(source: str, output: str, *, threshold: float = COPY_THRESHOLD) -> bool:
    """Whether the output repeats its source (overlap at least ``threshold``).

    Args:
        source: The sentence that was translated.
        output: The translation.
        threshold: The overlap from which an output is a copy, in (0, 1] (default
            :data:`COPY_THRESHOLD`, measured in the module docstring).

    Raises:
        InvalidInputError: If a text is not a string or the threshold is outside (0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInputError(f"threshold={threshold!r} is not allowed; use a number in (0, 1]")
    if not 0 < threshold <= 1:
        raise InvalidInputError(f"threshold={threshold!r} is not allowed; use a number in (0, 1]")
    return source_overlap(source, output) >= threshold


def copy_rate(
    sources: Sequence[str], outputs: Sequence[str], *, threshold: float = COPY_THRESHOLD
) -> float:
    """The share of outputs that copy their source (:func:`copies_source`).

    Raises:
        InvalidInputError: If the lists differ in length or are empty, or hold a non-string.
    """
    if isinstance(sources, str) or isinstance(outputs, str):
        raise InvalidInputError("sources and outputs must be lists of strings, not one string")
    if len(sources) != len(outputs):
        raise InvalidInputError(f"{len(sources)} sources but {len(outputs)} outputs")
    if not sources:
        raise InvalidInputError("no outputs: a copy rate needs at least one")
    copies = sum(
        copies_source(s, o, threshold=threshold) for s, o in zip(sources, outputs, strict=True)
    )
    return copies / len(sources)
