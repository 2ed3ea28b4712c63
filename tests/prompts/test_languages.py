"""Language codes: ISO 639-1, ISO 639-3 and FLORES-200 codes name the same languages."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError
from xling.prompts import get_language, language_name, normalize_code, same_language, to_iso639_1


@pytest.mark.parametrize(
    ("code", "canonical", "name"),
    [
        ("sw", "swh", "Swahili"),
        ("swa", "swh", "Swahili"),
        ("swh_Latn", "swh", "Swahili"),
        ("wol_Latn", "wol", "Wolof"),
        ("wo", "wol", "Wolof"),
        ("en", "eng", "English"),
        ("fra", "fra", "French"),
        ("fre", "fra", "French"),
        ("ger", "deu", "German"),
        ("dut", "nld", "Dutch"),
        ("cze", "ces", "Czech"),
        ("gre", "ell", "Greek"),
        ("chi", "cmn", "Chinese"),
        ("per", "pes", "Persian"),
        ("GER", "deu", "German"),
        ("de", "deu", "German"),
        ("zh", "cmn", "Chinese"),
        ("zho_Hans", "cmn", "Chinese"),
        ("ar", "arb", "Arabic"),
        ("lvs", "lvs", "Latvian"),
        ("ekk", "ekk", "Estonian"),
        ("ber", "ber", "Berber"),
    ],
)
def test_codes_resolve(code: str, canonical: str, name: str) -> None:
    assert normalize_code(code) == canonical
    assert language_name(code) == name


def test_script_and_two_letter_codes() -> None:
    swahili = get_language("swh_Latn")
    assert (swahili.script, swahili.flores_code, swahili.iso639_1) == ("Latn", "swh_Latn", "sw")
    assert to_iso639_1("cmn") == "zh" and to_iso639_1("wol") == "wo" and to_iso639_1("ber") is None


def test_tatoeba_codes_all_resolve(shared_data: object) -> None:
    from pathlib import Path

    folder = Path(str(shared_data)) / "tatoeba"
    codes = sorted({p.name.split(".")[1].split("-")[0] for p in folder.glob("tatoeba.*-eng.eng")})
    assert len(codes) == 112
    assert all(get_language(c).name for c in codes)


def test_same_language() -> None:
    assert same_language("sw", "swh_Latn") and same_language("zh", "cmn")
    assert not same_language("swh", "wol")


@pytest.mark.parametrize("code", ["xx", "klingon", "", "sw_latn", None, "e"])
def test_unknown_codes_are_refused(code: object) -> None:
    with pytest.raises(InvalidInputError, match="ISO 639-1 .* or FLORES-200"):
        get_language(code)  # type: ignore[arg-type]
