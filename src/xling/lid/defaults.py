"""The LID backend to use for each expected language, chosen from ``bench/lid.py``'s table."""

from __future__ import annotations

from xling.core.languages import normalize_code
from xling.lid.registry import get_identifier

__all__ = ["DEFAULT_LID_BACKEND", "LID_DEFAULTS", "default_backend"]

# Measured by bench/lid.py (200 NTREX lines, 200 Tatoeba lines and 200 3-word snippets per
# language, open-set): the backend with the best mean accuracy per language. Macro accuracy over
# all cells: langdetect 0.753, lingua 0.813, py3langid 0.726, pycld2 0.892, these defaults 0.926.
# Examples: Swahili lingua 0.90 (NTREX 0.98, Tatoeba 0.90, short 0.83) vs langdetect 0.83,
# py3langid 0.54 and pycld2 0.87; Wolof, Hausa and Yoruba: only pycld2 knows them (Wolof 0.99
# NTREX, 0.68 short); English: pycld2 (short 0.96 vs lingua 0.80). Rerun the benchmark after
# changing a backend.
DEFAULT_LID_BACKEND = "lingua"
LID_DEFAULTS: dict[str, str] = {
    "eng": "pycld2",
    "deu": "lingua",
    "fra": "lingua",
    "spa": "lingua",
    "swh": "lingua",
    "wol": "pycld2",
    "hau": "pycld2",
    "yor": "pycld2",
    "arb": "lingua",
    "hin": "pycld2",
    "jpn": "pycld2",
    "cmn": "lingua",
    "ind": "langdetect",
    "por": "lingua",
    "rus": "lingua",
    "tur": "lingua",
}


def default_backend(expected: str) -> str:
    """The backend measured best for ``expected``, or one that at least knows the language."""
    code = normalize_code(expected)
    choice = LID_DEFAULTS.get(code, DEFAULT_LID_BACKEND)
    if code in get_identifier(choice).supported_languages():
        return choice
    for name in ("pycld2", "lingua", "py3langid", "langdetect"):
        if code in get_identifier(name).supported_languages():
            return name
    return choice
