"""Small data shipped with xling: a FLORES-200 sample for the demo (CC BY-SA 4.0)."""

from __future__ import annotations

from pathlib import Path

from xling.core.languages import normalize_code
from xling.errors import InvalidInputError

__all__ = ["SAMPLE_LANGS", "sample_path"]

SAMPLE_LANGS = ("eng", "fra", "deu", "swh", "wol")
_DIR = Path(__file__).with_name("flores_sample")


def sample_path(lang: str) -> Path:
    """Path of the bundled 100-sentence FLORES-200 dev sample for a language."""
    code = normalize_code(lang)
    if code not in SAMPLE_LANGS:
        raise InvalidInputError(
            f"no bundled FLORES sample for {lang!r}; available: {', '.join(SAMPLE_LANGS)}"
        )
    return _DIR / f"{code}.txt"
