"""LID backends: known misreadings, restricted candidates, code normalisation, defaults."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.lid import (
    LID_DEFAULTS,
    available_lid_backends,
    canonical_code,
    default_backend,
    get_identifier,
)

SWAHILI = "Habari ya asubuhi, rafiki yangu."
GERMAN = "Die Antwort ist 42."


def test_registry_lists_the_four_backends() -> None:
    assert available_lid_backends() == ["langdetect", "lingua", "py3langid", "pycld2"]
    with pytest.raises(UnknownSpecError, match="unknown LID backend 'fasttext'; allowed: "):
        get_identifier("fasttext")


def test_langdetect_misreads_short_text_unless_restricted() -> None:
    langdetect = get_identifier("langdetect")
    # The design card's failures: Swahili read as Indonesian, German as Afrikaans.
    assert langdetect.detect(SWAHILI).lang == "ind"
    assert langdetect.detect(GERMAN).lang == "afr"
    # Restricted to {expected, English} the same model gets both right.
    assert langdetect.detect(SWAHILI, ["sw", "en"]).lang == "swh"
    assert langdetect.detect(GERMAN, ["de", "en"]).lang == "deu"


@pytest.mark.parametrize("backend", ["lingua", "pycld2"])
def test_short_swahili_and_german(backend: str) -> None:
    identifier = get_identifier(backend)
    candidates = ["swh", "deu", "eng", "ind", "afr"] if backend == "lingua" else None
    assert identifier.detect(SWAHILI, candidates).lang == "swh"
    assert identifier.detect(GERMAN, candidates).lang == "deu"


def test_pycld2_is_the_one_that_knows_wolof(flores: Callable[[str, str], list[str]]) -> None:
    wolof = flores("wol", "devtest")[:20]
    hits = sum(d.lang == "wol" for d in get_identifier("pycld2").detect_many(wolof))
    assert hits >= 18
    for name in ("langdetect", "lingua", "py3langid"):
        assert "wol" not in get_identifier(name).supported_languages()
        with pytest.raises(InvalidInputError, match=f"LID backend '{name}' cannot identify wol"):
            get_identifier(name).detect("Naka nga def?", ["wol", "eng"])
    assert default_backend("wo") == "pycld2"


def test_candidate_codes_are_normalised() -> None:
    py3langid = get_identifier("py3langid")
    a = py3langid.detect(SWAHILI, ["sw", "en"])
    b = py3langid.detect(SWAHILI, ["swh_Latn", "eng_Latn"])
    c = py3langid.detect(SWAHILI, ["swa", "eng"])
    assert a == b == c
    assert a.lang == "swh" and 0.5 < a.confidence <= 1.0
    assert {code for code, _ in a.scores} <= {"swh", "eng"}
    with pytest.raises(InvalidInputError, match="unknown language code 'zz'"):
        py3langid.detect(SWAHILI, ["zz"])


def test_backend_codes_map_to_iso639_3() -> None:
    assert canonical_code("zh-cn") == "cmn"
    assert canonical_code("zh-Hant") == "cmn"
    assert canonical_code("SWA") == "swh"
    assert canonical_code("un") is None


@pytest.mark.parametrize("backend", ["langdetect", "py3langid", "pycld2"])
def test_empty_and_letterless_text_is_undetermined(backend: str) -> None:
    identifier = get_identifier(backend)
    assert identifier.detect("").lang == "und"
    assert identifier.detect("   \n").confidence == 0.0
    with pytest.raises(InvalidInputError, match="must be a string"):
        identifier.detect(None)  # type: ignore[arg-type]


def test_full_sentences_per_backend(flores: Callable[[str, str], list[str]]) -> None:
    for lang in ("fra", "deu", "swh"):
        lines = flores(lang, "devtest")[:10]
        for name in ("langdetect", "py3langid", "pycld2"):
            found = [d.lang for d in get_identifier(name).detect_many(lines)]
            assert found.count(lang) >= 9, (name, lang, found)


def test_defaults_name_registered_backends_that_know_the_language() -> None:
    for lang, backend in LID_DEFAULTS.items():
        assert backend in available_lid_backends()
        assert lang in get_identifier(backend).supported_languages()
        assert default_backend(lang) == backend
    assert default_backend("swh_Latn") == LID_DEFAULTS["swh"]
