"""Evidence that a text is in a language: common words and 3-grams against a measured floor."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.lid.evidence import (
    language_evidence,
    language_profile,
    profiled_languages,
)
from xling.lid.evidence import tokens as evidence_tokens


def test_bundled_profiles_cover_the_benchmark_languages() -> None:
    assert {"eng", "fra", "deu", "swh", "spa", "por", "ind", "cmn", "jpn"} <= profiled_languages()
    swahili = language_profile("sw")
    assert swahili is not None and swahili.lang == "swh"
    assert {"na", "ya", "kwa", "ni"} <= swahili.words
    assert " na" in swahili.trigrams and 0.2 < swahili.floor < 0.6
    assert language_profile("wol") is None  # no Tatoeba lines to build it from


def test_a_real_swahili_sentence_reaches_the_floor() -> None:
    evidence = language_evidence("Kwa sababu ya mvua, watoto walibaki nyumbani.", "swh")
    assert evidence.lang == "swh" and evidence.words == 7
    assert evidence.word_share >= 0.5 and evidence.enough is True


def test_invented_words_stay_under_the_floor() -> None:
    evidence = language_evidence("Zorbi flanta mekora tuvani kelo blimpa.", "swh")
    assert evidence.word_share == 0.0 and evidence.enough is False
    # English words are not French words.
    assert language_evidence("The pilot was a squadron leader.", "fra").enough is False


def test_names_inside_a_sentence_are_left_out() -> None:
    evidence = language_evidence("Ja, in Berlin.", "deu")
    assert evidence.words == 2 and evidence.word_share == 1.0  # "ja", "in"; not "Berlin"
    assert language_evidence("Sí, en Madrid.", "spa").words == 2
    # The first word of a sentence counts even when it is capitalised.
    assert language_evidence("Ndiyo.", "swh").words == 1


def test_unsegmented_scripts_count_characters() -> None:
    assert evidence_tokens("我很好。Tom 走了") == ["我", "很", "好", "tom", "走", "了"]
    assert language_evidence("我们今天去学校。", "cmn").enough is True


def test_no_profile_and_bad_input() -> None:
    wolof = language_evidence("Dafa bëgg dem Ndakaaru.", "wol")
    assert wolof.floor is None and wolof.enough is None and wolof.score == 0.0
    assert language_evidence("42 !!", "fra").enough is None  # no words
    with pytest.raises(InvalidInputError, match="unknown language code 'klingon'"):
        language_evidence("Qapla'", "klingon")
    with pytest.raises(InvalidInputError, match="text must be a string"):
        language_evidence(42, "fra")  # type: ignore[arg-type]
