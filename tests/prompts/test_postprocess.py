"""Cutting an MT completion down to the translation."""

from __future__ import annotations

import pytest

from xling.prompts.postprocess import MT_STOP, clean_translation, mt_stop_sequences


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Habari za asubuhi.\n###\nEnglish sentence\nHello", "Habari za asubuhi."),
        ("Habari za asubuhi.\nEnglish sentence\nHello", "Habari za asubuhi."),
        ("Bonjour.\n\nAutre chose", "Bonjour."),
        ("Bonjour. ### English sentence", "Bonjour."),
        ("  Bonjour.  ", "Bonjour."),
        ("\n\nBonjour.\nsuite", "Bonjour."),
        ("", ""),
        ("###", ""),
    ],
)
def test_cut_at_separator_newline_or_label(raw: str, expected: str) -> None:
    assert clean_translation(raw) == expected


def test_echoed_labels_are_recognised_by_language() -> None:
    # A label written before the answer is dropped, not taken as the end of the answer.
    assert clean_translation("Swahili translation\nAsante sana.", "eng", "swh") == "Asante sana."
    # A label after the answer on the same line cuts it.
    assert clean_translation("Asante. English sentence Thanks", "en", "sw") == "Asante."
    # Without languages, labels are unknown and only the line/### rules apply.
    assert clean_translation("Asante. English sentence Thanks") == "Asante. English sentence Thanks"


def test_stop_sequences_are_icl_mt_ones_without_a_bare_newline() -> None:
    assert MT_STOP == ("###",)
    assert mt_stop_sequences("eng", "fra") == ["###", "English sentence"]
    assert mt_stop_sequences("eng", "fra", "icl-mt-9") == ["###", "English:"]
    assert mt_stop_sequences() == ["###"]
    # A completion that opens with a blank line still yields its first line.
    assert clean_translation("\n\nBonjour.\n###", "eng", "fra") == "Bonjour."
