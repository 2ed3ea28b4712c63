"""Script tables: the Unicode scripts a language is written in; scripts written without spaces.

The names are Unicode script property values as the ``regex`` module spells them (``\\p{Han}``).
"""

from __future__ import annotations

from xling.core.languages import normalize_code

__all__ = ["SPACELESS_SCRIPTS", "expected_scripts"]

# Scripts whose words are not separated by spaces; their text is split per character.
SPACELESS_SCRIPTS: tuple[str, ...] = (
    "Han",
    "Hiragana",
    "Katakana",
    "Thai",
    "Lao",
    "Khmer",
    "Myanmar",
    "Tibetan",
)
# Languages written in scripts other than Latin (and the scripts), and those written in Latin.
_NON_LATIN: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("rus", "ukr", "bel", "bul", "mkd", "srp", "kaz", "kir", "tgk", "khk", "bak", "tat"),
        ("Cyrillic",),
    ),
    **dict.fromkeys(
        (
            "arb",
            "ary",
            "arz",
            "apc",
            "ajp",
            "acm",
            "acq",
            "aeb",
            "ars",
            "pes",
            "prs",
            "urd",
            "pbt",
            "uig",
            "ckb",
            "snd",
        ),
        ("Arabic",),
    ),  # fmt: skip
    **dict.fromkeys(("heb", "ydd"), ("Hebrew",)),
    "ell": ("Greek",),
    **dict.fromkeys(
        ("hin", "mar", "npi", "san", "mai", "bho", "mag", "awa", "hne"), ("Devanagari",)
    ),
    **dict.fromkeys(("ben", "asm"), ("Bengali",)),
    "pan": ("Gurmukhi",),
    "guj": ("Gujarati",),
    "ory": ("Oriya",),
    "tam": ("Tamil",),
    "tel": ("Telugu",),
    "kan": ("Kannada",),
    "mal": ("Malayalam",),
    "sin": ("Sinhala",),
    "tha": ("Thai",),
    "lao": ("Lao",),
    "khm": ("Khmer",),
    "mya": ("Myanmar",),
    **dict.fromkeys(("bod", "dzo"), ("Tibetan",)),
    "kat": ("Georgian",),
    "hye": ("Armenian",),
    **dict.fromkeys(("amh", "tir"), ("Ethiopic",)),
    "kor": ("Hangul", "Han"),
    "jpn": ("Hiragana", "Katakana", "Han"),
    **dict.fromkeys(("cmn", "yue", "wuu"), ("Han",)),
}
_LATIN: tuple[str, ...] = (
    "afr", "als", "ast", "ayr", "azj", "bam", "ban", "bem", "bjn", "bos", "bug", "cat", "ceb",
    "ces", "cjk", "crh", "cym", "dan", "deu", "dik", "dyu", "ekk", "eng", "epo", "eus", "ewe",
    "fao", "fij", "fin", "fon", "fra", "fur", "fuv", "gaz", "gla", "gle", "glg", "gug", "hat",
    "hau", "hrv", "hun", "ibo", "ilo", "ind", "isl", "ita", "jav", "kab", "kac", "kam", "kbp",
    "kea", "kik", "kin", "kmb", "kmr", "ktu", "lat", "lij", "lim", "lin", "lit", "lmo", "ltg",
    "ltz", "lua", "lug", "luo", "lus", "lvs", "min", "mlt", "mos", "mri", "nld", "nno", "nob",
    "nso", "nus", "nya", "oci", "pag", "pap", "plt", "pol", "por", "quy", "ron", "run", "sag",
    "scn", "slk", "slv", "smo", "sna", "som", "spa", "srd", "ssw", "sun", "swe", "swh", "szl",
    "taq", "tgl", "tpi", "tsn", "tso", "tuk", "tum", "tur", "twi", "umb", "uzn", "vec", "vie",
    "war", "wol", "xho", "yor", "zsm", "zul",
)  # fmt: skip


def expected_scripts(lang: str) -> tuple[str, ...] | None:
    """Unicode scripts a language is written in, or ``None`` if xling does not know."""
    code = normalize_code(lang)
    if code in _NON_LATIN:
        return _NON_LATIN[code]
    return ("Latin",) if code in _LATIN else None
