"""Language codes and names: ISO 639-1, ISO 639-3 and FLORES-200 (``swh_Latn``) codes.

Every code is normalised to one canonical ISO 639-3 code of an individual language, so that
``sw``, ``swa``, ``swh`` and ``swh_Latn`` all mean Swahili. Macrolanguage codes map to the
individual language that MT benchmarks use for them (FLORES-200's choice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from xling.core.errors import InvalidInputError

__all__ = [
    "Language",
    "get_language",
    "normalize_code",
    "language_name",
    "same_language",
    "to_iso639_1",
]

# Macrolanguage -> the individual language FLORES-200 uses for it.
MACRO_TO_INDIVIDUAL: dict[str, str] = {
    "swa": "swh",
    "zho": "cmn",
    "msa": "zsm",
    "fas": "pes",
    "ara": "arb",
    "lav": "lvs",
    "est": "ekk",
    "nor": "nob",
    "aze": "azj",
    "uzb": "uzn",
    "mon": "khk",
    "sqi": "als",
    "orm": "gaz",
    "kur": "kmr",
    "pus": "pbt",
    "grn": "gug",
    "yid": "ydd",
    "que": "quy",
    "kon": "ktu",
    "mlg": "plt",
    "ori": "ory",
    "hbs": "hrv",
    "kau": "knc",
    "nep": "npi",
    "tmh": "taq",
    "aka": "twi",
    "din": "dik",
    "kln": "kln",
    "fas_Arab": "pes",
}

# Short, conventional English names where ISO's reference names are long or parenthesised.
NAME_OVERRIDES: dict[str, str] = {
    "swh": "Swahili",
    "cmn": "Chinese",
    "yue": "Cantonese",
    "wuu": "Wu Chinese",
    "zsm": "Malay",
    "pes": "Persian",
    "arb": "Arabic",
    "lvs": "Latvian",
    "ekk": "Estonian",
    "nob": "Norwegian Bokmål",
    "nno": "Norwegian Nynorsk",
    "azj": "Azerbaijani",
    "uzn": "Uzbek",
    "khk": "Mongolian",
    "als": "Albanian",
    "gaz": "Oromo",
    "kmr": "Kurdish",
    "ell": "Greek",
    "npi": "Nepali",
    "ory": "Odia",
    "plt": "Malagasy",
    "ydd": "Yiddish",
    "gug": "Guarani",
    "pbt": "Pashto",
    "quy": "Quechua",
    "orv": "Old Russian",
    "ang": "Old English",
    "kzj": "Coastal Kadazan",
    "dtp": "Central Dusun",
    "ber": "Berber",
    "tzl": "Talossan",
    "nov": "Novial",
    "lfn": "Lingua Franca Nova",
    "ina": "Interlingua",
    "oci": "Occitan",
    "war": "Waray",
}

# Codes that ISO 639-3 does not list but that data sets (Tatoeba) use.
EXTRA_CODES: dict[str, str] = {"ber": "Berber", "tzl": "Talossan", "kzj": "Coastal Kadazan"}

_FLORES_RE = re.compile(r"^([a-z]{2,3})[_-]([A-Z][a-z]{3})$")


@dataclass(frozen=True)
class Language:
    """A language with its codes.

    Attributes:
        code: Canonical ISO 639-3 code of the individual language (``swh``).
        name: English name used in prompts (``Swahili``).
        iso639_1: Two-letter code, if the language or its macrolanguage has one (``sw``).
        script: ISO 15924 script from a FLORES code, if one was given (``Latn``).
    """

    code: str
    name: str
    iso639_1: str | None = None
    script: str | None = None

    @property
    def flores_code(self) -> str | None:
        """The FLORES-200 code, if the script is known."""
        return f"{self.code}_{self.script}" if self.script else None


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    import pycountry

    by2: dict[str, str] = {}
    names: dict[str, str] = {}
    to2: dict[str, str] = {}
    bibliographic: dict[str, str] = {}  # ISO 639-2/B → 639-2/T ("fre" → "fra", "chi" → "zho")
    for lang in pycountry.languages:
        code3 = lang.alpha_3
        names[code3] = lang.name
        if getattr(lang, "bibliographic", None):
            bibliographic[lang.bibliographic] = code3
        alpha2 = getattr(lang, "alpha_2", None)
        if alpha2:
            target = MACRO_TO_INDIVIDUAL.get(code3, code3)
            by2[alpha2] = target
            to2.setdefault(target, alpha2)
            to2.setdefault(code3, alpha2)
    names.update(EXTRA_CODES)
    return by2, names, to2, bibliographic


def _clean_name(name: str) -> str:
    return re.sub(r"\s*\((individual language|macrolanguage)\)$", "", name)


@lru_cache(maxsize=4096)
def get_language(code: str) -> Language:
    """Resolves a language code.

    Args:
        code: ISO 639-1 (``sw``), ISO 639-3 (``swa``, ``swh``), ISO 639-2/B (``fre``,
            ``ger``: the bibliographic codes resolve like their 639-2/T twins) or FLORES-200
            (``swh_Latn``).

    Returns:
        The :class:`Language`.

    Raises:
        InvalidInputError: If the code is not a known language code.
    """
    if not isinstance(code, str) or not code.strip():
        raise InvalidInputError(
            f"language code {code!r} is not allowed; use ISO 639-1 (sw), ISO 639-3 (swh) "
            "or FLORES-200 (swh_Latn)"
        )
    raw = code.strip()
    script = None
    match = _FLORES_RE.match(raw)
    if match:
        raw, script = match.group(1), match.group(2)
    raw = raw.lower()
    by2, names, to2, bibliographic = _tables()
    raw = bibliographic.get(raw, raw)
    if len(raw) == 2 and raw in by2:
        code3 = by2[raw]
    elif len(raw) == 3 and raw in names:
        code3 = MACRO_TO_INDIVIDUAL.get(raw, raw)
    else:
        raise InvalidInputError(
            f"unknown language code {code!r}; use ISO 639-1 (sw), ISO 639-3 (swh) "
            "or FLORES-200 (swh_Latn)"
        )
    name = NAME_OVERRIDES.get(code3) or _clean_name(names.get(code3, code3))
    return Language(code=code3, name=name, iso639_1=to2.get(code3), script=script)


def normalize_code(code: str) -> str:
    """Returns the canonical ISO 639-3 code (``sw``/``swa``/``swh_Latn`` → ``swh``)."""
    return get_language(code).code


def language_name(code: str) -> str:
    """Returns the English name used in prompts (``swh_Latn`` → ``Swahili``)."""
    return get_language(code).name


def to_iso639_1(code: str) -> str | None:
    """Returns the two-letter code, or ``None`` if the language has none."""
    return get_language(code).iso639_1


def same_language(a: str, b: str) -> bool:
    """Tells whether two codes name the same language (``sw`` and ``swh_Latn`` do)."""
    return normalize_code(a) == normalize_code(b)
