"""Copies of the source: exact and near copies are found, real translations never are."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from xling.core.errors import InvalidInputError
from xling.eval import COPY_THRESHOLD, copies_source, copy_rate, source_overlap

Flores = Callable[[str, str], list[str]]


def test_overlap_counts_the_output_words_repeated_in_the_source_order() -> None:
    # the cat sat on (a→the) mat: 5 of 6 words in order.
    assert source_overlap("The cat sat on the mat.", "the cat sat on a mat") == pytest.approx(5 / 6)
    assert source_overlap("The cat sat on the mat.", "Le chat est assis sur le tapis.") == 0.0
    # Order matters: of "mat the on sat cat the" only "the … sat … the" is in the source's order.
    shuffled = source_overlap("the cat sat on the mat", "mat the on sat cat the")
    assert shuffled == pytest.approx(3 / 6)
    # Case, punctuation and spacing do not hide a copy.
    assert source_overlap("Dr. Ehud Ur, professor.", "DR EHUD   UR PROFESSOR") == 1.0
    # A copy cut short, and the source followed by more, are whole copies.
    assert source_overlap("one two three four five six", "one two three") == 1.0
    assert source_overlap("one two three", "one two three quatre cinq six sept") == 1.0
    # Numbers are shared by every translation: digit-only words are left out.
    assert source_overlap("In 2015, 25 people came.", "2015 25") == 0.0
    assert source_overlap("Hello.", "") == 0.0
    assert source_overlap("", "Hello.") == 0.0


def test_a_translation_that_keeps_the_names_is_no_copy(flores: Flores) -> None:
    eng, fra, swh = (flores(lang, "devtest")[1] for lang in ("eng", "fra", "swh"))
    assert eng.startswith("Dr. Ehud Ur, professor of medicine at Dalhousie University")
    assert fra.startswith("Le Dr Ehud Ur, professeur de médecine à l'Université Dalhousie")
    assert not copies_source(eng, fra) and not copies_source(eng, swh)
    # The names are all they share: dr ehud ur … dalhousie … halifax nova scotia.
    assert source_overlap(eng, fra) < 0.5 and source_overlap(eng, swh) < 0.5


def test_the_english_sentence_with_one_word_changed_is_a_copy() -> None:
    source = "Dr. Ehud Ur, professor of medicine at Dalhousie University in Halifax, Nova Scotia"
    output = "Dr. Ehud Ur, profesa of medicine at Dalhousie University in Halifax, Nova Scotia"
    assert source_overlap(source, output) == pytest.approx(12 / 13)
    assert copies_source(source, output)
    assert copies_source(source, source)
    # With a threshold of 1 only an exact (normalised) copy counts.
    assert not copies_source(source, output, threshold=1.0)


def test_no_real_flores_translation_is_a_copy_and_constructed_copies_are(flores: Flores) -> None:
    eng = flores("eng", "devtest")
    for lang in ("fra", "swh", "deu", "wol"):
        pairs = enumerate(zip(eng, flores(lang, "devtest"), strict=True))
        copied = [i for i, (s, t) in pairs if copies_source(s, t)]
        assert copied == [], lang
    # Every English sentence with one word replaced by a Swahili word is a copy.
    rng = random.Random(0)
    swahili = " ".join(flores("swh", "dev")).split()
    for sentence in eng:
        words = sentence.split()
        words[rng.randrange(len(words))] = rng.choice(swahili)
        assert copies_source(sentence, " ".join(words)), sentence


def test_copy_rate_is_the_share_of_copies() -> None:
    sources = ["The cat sat on the mat.", "I like tea.", "The dog runs home fast today.", "Hi."]
    outputs = [
        "The cat sat on the mat.",
        "J'aime le thé.",
        "The dog anakimbia home fast today.",
        "",
    ]
    assert copy_rate(sources, outputs) == 0.5
    assert COPY_THRESHOLD == 0.8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: copies_source("a", "a", threshold=0), "threshold=0 is not allowed"),
        (lambda: copies_source("a", "a", threshold=1.5), "threshold=1.5 is not allowed"),
        (lambda: copies_source("a", "a", threshold=True), "threshold=True is not allowed"),
        (lambda: source_overlap(None, "a"), "source must be a string, got None"),
        (lambda: copy_rate(["a"], ["a", "b"]), "1 sources but 2 outputs"),
        (lambda: copy_rate([], []), "no outputs"),
        (lambda: copy_rate("ab", "ab"), "not one string"),
    ],
)
def test_bad_input_is_named(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()
