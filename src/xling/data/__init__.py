"""Small data shipped with xling (CC BY-SA 4.0): a FLORES-200 sample for the demo, FLORES-200
dev plus 100 devtest sentences in three languages for the ICL-MT example experiment, and a
reference sample of 100 sentences in each of twelve languages for query-side retrieval
statistics."""

from __future__ import annotations

from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code

__all__ = [
    "SAMPLE_LANGS",
    "FLORES_LANGS",
    "FLORES_SPLITS",
    "REFERENCE_LANGS",
    "sample_path",
    "flores_path",
    "reference_path",
]

SAMPLE_LANGS = ("eng", "fra", "deu", "swh", "wol")
_DIR = Path(__file__).with_name("flores_sample")
FLORES_LANGS = ("eng", "fra", "swh")
FLORES_SPLITS = ("dev", "devtest")
_FLORES_DIR = Path(__file__).with_name("flores_iclmt")
REFERENCE_LANGS = (
    "eng", "fra", "deu", "spa", "swh", "wol", "arb", "hin", "jpn", "cmn", "hau", "yor"
)  # fmt: skip
_REFERENCE_DIR = Path(__file__).with_name("reference_sample")


def sample_path(lang: str) -> Path:
    """Path of the bundled 100-sentence FLORES-200 dev sample for a language."""
    code = normalize_code(lang)
    if code not in SAMPLE_LANGS:
        raise InvalidInputError(
            f"no bundled FLORES sample for {lang!r}; available: {', '.join(SAMPLE_LANGS)}"
        )
    return _DIR / f"{code}.txt"


def flores_path(lang: str, split: str) -> Path:
    """Path of a bundled FLORES-200 split: ``dev`` (all 997 lines) or ``devtest`` (the first 100).

    Raises:
        InvalidInputError: On a language or split that is not bundled (the message lists them).
    """
    code = normalize_code(lang)
    if code not in FLORES_LANGS:
        raise InvalidInputError(
            f"no bundled FLORES-200 split for {lang!r}; available: {', '.join(FLORES_LANGS)} "
            "(point the config at a FLORES folder for others)"
        )
    if split not in FLORES_SPLITS:
        raise InvalidInputError(
            f"no bundled FLORES-200 split {split!r}; available: {', '.join(FLORES_SPLITS)}"
        )
    return _FLORES_DIR / split / f"{code}.txt"


def reference_path(lang: str) -> Path:
    """Path of the bundled 100-sentence reference sample of a language (see its README).

    Raises:
        InvalidInputError: On a language that is not bundled (the message lists them).
    """
    code = normalize_code(lang)
    if code not in REFERENCE_LANGS:
        raise InvalidInputError(
            f"no bundled reference sample for {lang!r}; available: {', '.join(REFERENCE_LANGS)}"
        )
    return _REFERENCE_DIR / f"{code}.txt"
