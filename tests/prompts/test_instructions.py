"""The answer instruction written in each language: identified as that language by unrestricted
LID backends, with its citation rule, and chosen by the prompt builder."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.lid import get_identifier
from xling.prompts.instructions import INSTRUCTIONS, get_instruction, written_languages
from xling.prompts.rag import ContextPassage, answer_messages, answer_prompt

# The languages written by hand (English is the fallback of the others).
WRITTEN = [
    "fra", "deu", "spa", "por", "ita", "nld", "swe", "ron", "pol", "ces", "rus", "ukr", "ell",
    "tur", "arb", "heb", "pes", "hin", "ben", "tha", "vie", "ind", "swh", "jpn", "cmn", "kor",
]  # fmt: skip
PASSAGES = [ContextPassage(1, "Steve Jobs presented the iPhone in 2007.", "eng")]


def test_at_least_twenty_languages_are_written() -> None:
    assert written_languages() == ["eng", *WRITTEN]
    assert len(WRITTEN) >= 20


@pytest.mark.parametrize("lang", WRITTEN)
@pytest.mark.parametrize("backend", ["pycld2", "lingua"])
def test_each_instruction_is_identified_as_its_language(lang: str, backend: str) -> None:
    identifier = get_identifier(backend)
    if lang not in identifier.supported_languages():
        pytest.skip(f"{backend} does not know {lang}")
    instruction = INSTRUCTIONS[lang]
    for text in (
        instruction.system("", strict=False),
        instruction.system("", strict=True),
        " ".join([instruction.reminder, instruction.strict_reminder, instruction.strict]),
    ):
        # Unrestricted: among every language the backend knows.
        assert identifier.detect(text).lang == lang, (backend, text)


@pytest.mark.parametrize("lang", WRITTEN)
def test_each_instruction_has_the_citation_rule_and_no_placeholder(lang: str) -> None:
    instruction = INSTRUCTIONS[lang]
    assert instruction.lang == lang
    assert "[1]" in instruction.rule
    fields = (instruction.rule, instruction.strict, instruction.reminder,
              instruction.strict_reminder, instruction.passages, instruction.question,
              instruction.answer)  # fmt: skip
    for text in fields:
        assert text.strip() == text and text
        assert "{" not in text and "}" not in text  # a written one names its language inline
    # The re-ask asks more than the first prompt, in the same language.
    assert instruction.strict_reminder != instruction.reminder


def test_the_english_template_names_the_language() -> None:
    english = INSTRUCTIONS["eng"]
    assert english.system("Wolof").startswith(
        "Answer the question using only the passages below. Write your answer in Wolof, even "
        "when the passages are in other languages. Cite the passages you used by their numbers "
        "in square brackets, like [1]."
    )
    assert english.system("Wolof", strict=True, others="English, French").endswith(
        "Your previous answer was not in Wolof. Answer ONLY in Wolof; do not write in English, "
        "French."
    )
    assert english.system("Wolof", strict=True).endswith("do not write in any other language.")


def test_the_prompt_builder_picks_the_askers_language_or_english() -> None:
    french = answer_messages("Qui a présenté l'iPhone ?", PASSAGES, "fr")
    assert french[0]["content"] == INSTRUCTIONS["fra"].rule
    assert french[1]["content"] == (
        "Passages :\n[1] Steve Jobs presented the iPhone in 2007.\n\n"
        "Question : Qui a présenté l'iPhone ?\nRépondez en français."
    )
    strict = answer_messages("Qui ?", PASSAGES, "fra", strict=True, avoid=["eng"])
    assert strict[0]["content"].endswith(
        "dites-le en français. Votre réponse précédente n'était pas en français. Répondez "
        "UNIQUEMENT en français ; n'écrivez ni en anglais ni dans une autre langue."
    )
    assert strict[1]["content"].endswith("Répondez uniquement en français.")
    chinese = answer_messages("谁发布了iPhone？", PASSAGES, "zh", strict=True)
    assert chinese[0]["content"].endswith("请用中文说明。你之前的回答不是中文。请只用中文回答；"
                                          "不要用英文或任何其他语言书写。")  # fmt: skip
    english = answer_messages("Qui ?", PASSAGES, "fra", instruction_lang="eng")
    assert "Write your answer in French" in english[0]["content"]
    assert english[1]["content"].endswith("Question: Qui ?\nAnswer in French.")
    # No written Wolof instruction: English, naming Wolof.
    assert get_instruction("wol").lang == "eng"
    wolof = answer_messages("Kan?", PASSAGES, "wo")
    assert "Write your answer in Wolof" in wolof[0]["content"]
    prompt = answer_prompt("Wer?", PASSAGES, "de")
    assert prompt.startswith(INSTRUCTIONS["deu"].rule) and prompt.endswith("\nAntwort:")


def test_bad_choices_are_named() -> None:
    with pytest.raises(InvalidInputError, match="instruction_lang='fra' is not allowed; use one "
                       "of: user, eng"):  # fmt: skip
        get_instruction("fra", "fra")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unknown language code 'xx'"):
        answer_messages("?", PASSAGES, "xx")
