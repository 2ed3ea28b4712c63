"""The ICL-MT few-shot prompt (template 11) and its chat-message form."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.prompts.mt import MT_TEMPLATES, build_mt_messages, build_mt_prompt
from xling.selectors import Example

DEMOS = [("Thank you.", "Asante."), ("Good night.", "Usiku mwema.")]


def test_template_11_exactly() -> None:
    # ICL-MT templates.py, key 11: prefix "{src} sentence\n", middle "\n{tgt} translation\n",
    # suffix "\n###\n"; the query is prefix + x + middle.
    expected = (
        "English sentence\nThank you.\nSwahili translation\nAsante.\n###\n"
        "English sentence\nGood night.\nSwahili translation\nUsiku mwema.\n###\n"
        "English sentence\nGood morning.\nSwahili translation\n"
    )
    assert build_mt_prompt("Good morning.", DEMOS, "eng", "swh") == expected


def test_zero_shot_is_the_query_part_alone() -> None:
    prompt = build_mt_prompt("Hello.", [], "fr", "de")
    assert prompt == "French sentence\nHello.\nGerman translation\n"


@pytest.mark.parametrize("code", ["sw", "swa", "swh", "swh_Latn"])
def test_language_codes_of_every_kind_name_the_language(code: str) -> None:
    assert "\nSwahili translation\n" in build_mt_prompt("Hi.", [], "eng_Latn", code)


def test_examples_are_used_in_the_given_order() -> None:
    examples = [Example(7, "A.", "a.", 0.1, 2), Example(3, "B.", "b.", 0.9, 1)]
    prompt = build_mt_prompt("C.", examples, "en", "fr")
    assert prompt.index("\nA.\n") < prompt.index("\nB.\n") < prompt.index("\nC.\n")


def test_other_icl_mt_templates() -> None:
    assert set(MT_TEMPLATES) == {"icl-mt-7", "icl-mt-9", "icl-mt-11"}
    # Template 9: "{src}: x\n{tgt}: y\n###\n".
    assert build_mt_prompt("Q.", [("X.", "Y.")], "en", "wo", "icl-mt-9") == (
        "English: X.\nWolof: Y.\n###\nEnglish: Q.\nWolof: "
    )


def test_chat_messages() -> None:
    messages = build_mt_messages("Good morning.", DEMOS, "eng", "swh")
    roles = ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["role"] for m in messages] == roles
    assert "English into Swahili" in messages[0]["content"]
    assert messages[1]["content"] == "English sentence\nThank you.\nSwahili translation"
    assert messages[2]["content"] == "Asante."
    assert messages[-1]["content"] == "English sentence\nGood morning.\nSwahili translation"
    assert build_mt_messages("Hi.", [], "en", "fr", system="")[0]["role"] == "user"


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="unknown language code 'xx'"):
        build_mt_prompt("Hi.", [], "xx", "fr")
    with pytest.raises(UnknownSpecError, match="allowed: icl-mt-11, icl-mt-7, icl-mt-9"):
        build_mt_prompt("Hi.", [], "en", "fr", "icl-mt-12")
    with pytest.raises(InvalidInputError, match="query"):
        build_mt_prompt("  ", [], "en", "fr")
    with pytest.raises(InvalidInputError, match="demonstration targets"):
        build_mt_prompt("Hi.", [("A.", "")], "en", "fr")
    with pytest.raises(InvalidInputError, match="3-tuple"):
        build_mt_prompt("Hi.", [("A.", "a.", "x")], "en", "fr")  # type: ignore[list-item]
