"""The language of each chunk: the document's when it is given, else detected from its prose.

Detection reads a chunk's prose only (code blocks are left out, so a German manual's English
code samples do not make its chunks English); a chunk without prose, or whose prose is too
short to tell, gets the document's majority language (by characters of prose).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache

from xling.core.errors import InvalidInputError, MissingDependencyError
from xling.core.languages import normalize_code
from xling.lid import UNDETERMINED, LanguageIdentifier, get_identifier

__all__ = ["AUTO", "DEFAULT_CHUNK_LID", "check_lang", "chunk_languages"]

AUTO = "auto"
"""The ``lang`` that asks for detection per chunk even where the document names a language."""

# Measured on chunk-sized text (100 paragraphs of 5 sentences each of NTREX eng, fra, deu, swh,
# cmn, jpn, arb, hin and Tatoeba tha, cmn, jpn): pycld2, py3langid and lingua 100 % correct,
# langdetect 97.9 %; pycld2 0.06 ms a chunk, py3langid 0.66, lingua 1.9, langdetect 2.3 (and
# lingua takes 10 s or more to load its models on first use). The others stand in, in that
# order, when pycld2 is not installed.
DEFAULT_CHUNK_LID = "pycld2"
_FALLBACKS = ("pycld2", "py3langid", "lingua", "langdetect")

# Prose shorter than this is not detected (a caption, a lone "OK."); it takes the majority.
MIN_DETECT_CHARS = 16


def chunk_languages(
    prose: Sequence[str | None], lang: str | None = None, *, backend: str | None = None
) -> list[str | None]:
    """One language per chunk.

    Args:
        prose: Each chunk's prose (its text without code blocks), ``None`` for a chunk that
            holds only code.
        lang: A language code for every chunk, or ``None`` / ``"auto"`` to detect each one.
        backend: The LID backend (:func:`xling.lid.get_identifier` names); default pycld2,
            else the first of py3langid, lingua and langdetect that is installed.

    Returns:
        Canonical ISO 639-3 codes; ``None`` where no chunk of the document could be told.

    Raises:
        InvalidInputError: If ``lang`` is not a known code or ``"auto"``.
        MissingDependencyError: If detection is needed and no LID backend is installed.
    """
    code = check_lang(lang)
    if code is not None and code != AUTO:
        return [code] * len(prose)
    if not prose:
        return []
    identifier = _identifier(backend)
    found: list[str | None] = []
    weight: Counter[str] = Counter()
    for text in prose:
        code = None
        if text is not None and len(text.strip()) >= MIN_DETECT_CHARS:
            detected = identifier.detect(text).lang
            if detected != UNDETERMINED:
                code = detected
                weight[code] += len(text)
        found.append(code)
    majority = weight.most_common(1)[0][0] if weight else None
    return [code if code is not None else majority for code in found]


def check_lang(lang: str | None) -> str | None:
    """``lang`` as a canonical code, or ``"auto"`` / ``None`` as given.

    Raises:
        InvalidInputError: If ``lang`` is neither a known language code, ``"auto"`` nor ``None``.
    """
    if lang is None or lang == AUTO:
        return lang
    try:
        return normalize_code(lang)
    except (InvalidInputError, AttributeError, TypeError):
        raise InvalidInputError(
            f"lang={lang!r:.40} is not allowed; use a language code (de, deu, swh_Latn), "
            f"{AUTO!r} or None to detect each chunk's language"
        ) from None


@cache
def _first_installed() -> LanguageIdentifier:
    for name in _FALLBACKS:
        identifier = get_identifier(name)
        try:
            identifier.detect("language")
        except MissingDependencyError:
            continue
        return identifier
    raise MissingDependencyError(
        "detecting each chunk's language needs a language-identification backend; install "
        "one with: pip install 'xling[lid]' (or give the document's language, e.g. lang='de')"
    )


def _identifier(backend: str | None) -> LanguageIdentifier:
    return _first_installed() if backend is None else get_identifier(backend)
