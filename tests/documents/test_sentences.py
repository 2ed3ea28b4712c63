"""Sentence spans on real text in scripts with and without spaces.

Texts: FLORES-200 dev (CC BY-SA 4.0), NTREX-128 (CC BY-SA 4.0) and Tatoeba (CC BY 2.0 FR)
sentences, joined into paragraphs; the expected splits are written by hand.
"""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.documents.sentences import script_language, sentence_spans

ENGLISH = [
    "Dr. Lee also expressed his concern about reports that children in Turkey have now become "
    "infected with the A(H5N1) avian influenza virus without becoming ill.",
    "In 1977, Dr. Damadian completed the construction of the first “whole-body” MRI scanner, "
    "which he called the ”Indomitable”.",
    "Such a chip, e.g. the one from Stanford, costs about one U.S. cent each.",
    "Is it cheap?",
]
GERMAN = [
    "Das Unternehmen hofft, seine Gewinnquellen diversifizieren zu können und in Gebieten, in "
    "denen Skype eine starke Position hält, z. B. China, Osteuropa und Brasilien, an "
    "Beliebtheit zu gewinnen.",
    "Dr. Lee drückte auch seine Besorgnis über Berichte aus, dass sich Kinder in der Türkei "
    "sich nun mit dem Vogelgrippevirus A(H5N1) infiziert hätten, ohne krank zu werden.",
]
CHINESE = [
    "有人提议应将 AM 的头衔改为MWP（威尔士议会议员)，这让有些 AM 惊愕不已。",
    "之所以会这样，是因为有计划将国民议会的名称更改为“威尔士议会”。",
    "整个政坛的 AM 担心这会惹来嘲笑。",
    "我们试试看！",
    "你在干什么啊？",
]
JAPANESE = [
    "ウェールズ議会の名称を変更するという計画がその発端となっている。",
    "あらゆる所属政党の議員は、これは馬鹿げた事態を招きうると懸念している。",
    "どうしたら信じてくれる？",
    "言いたいことは分かってるよ。",
]
THAI = [
    "หางานเป็นไงบ้าง?",
    "ได้เวลาปลุกทอมแล้ว",
    "เขาอยู่ที่ป่าคนเดียว",
    "หนังสือเกี่ยวกับชีวิตที่เยี่ยมที่สุดก็คือชีวิตนั่นเอง",
    "ฉันอยากซื้อแจ็คเก็ตตัวนี้",
]


def sentences(text: str, lang: str | None) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text, lang)]


@pytest.mark.parametrize("lang", ["eng", "en", None])
def test_english_abbreviations_do_not_end_sentences(lang: str | None) -> None:
    text = "  " + " ".join(ENGLISH) + "\n"
    assert sentences(text, lang) == ENGLISH


@pytest.mark.parametrize("lang", ["deu", None])
def test_german_z_b_and_dr_do_not_end_sentences(lang: str | None) -> None:
    assert sentences("\n".join(GERMAN), lang) == GERMAN


@pytest.mark.parametrize("lang", ["cmn", "zh", "yue", None])
def test_chinese_splits_at_full_width_stops_without_spaces(lang: str | None) -> None:
    # yue has no two-letter code: the script (Han) chooses Chinese rules.
    assert sentences("".join(CHINESE), lang) == CHINESE


@pytest.mark.parametrize("lang", ["jpn", None])
def test_japanese(lang: str | None) -> None:
    assert sentences("".join(JAPANESE), lang) == JAPANESE


@pytest.mark.parametrize("lang", ["tha", None])
def test_thai_splits_at_the_spaces_between_sentences(lang: str | None) -> None:
    assert sentences(" ".join(THAI), lang) == THAI


def test_thai_keeps_spaces_around_digits_and_latin_words() -> None:
    # Tatoeba: "ราคา 30 ยูโรค่ะ/ครับ" (It costs 30 euros); "ผมใช้ Python ทุกวัน" is written here.
    text = "ราคา 30 ยูโรค่ะ/ครับ ผมใช้ Python ทุกวัน"
    assert sentences(text, "tha") == ["ราคา 30 ยูโรค่ะ/ครับ", "ผมใช้ Python ทุกวัน"]


def test_spans_leave_out_whitespace_and_blank_text_has_none() -> None:
    text = "  First one.   Second one.  "
    assert sentence_spans(text, "eng") == [(2, 12), (15, 26)]
    assert sentence_spans(" \n\t ", None) == []
    assert sentence_spans("", "eng") == []


def test_text_without_stops_is_one_span() -> None:
    assert sentence_spans("威尔士国民议会议员(AM)担心“看起来像笨蛋”", None) == [(0, 23)]


def test_script_language() -> None:
    assert script_language("今日は晴れです。") == "ja"
    assert script_language("我喜欢猫。") == "zh"
    assert script_language("ได้เวลาปลุกทอมแล้ว") == "th"
    assert script_language("Привет, мир.") == "ru"
    assert script_language("Hello. 123") == "en"
    assert script_language("123 !!") == "en"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="xx-unknown"):
        sentence_spans("Hello.", "xx-unknown")
