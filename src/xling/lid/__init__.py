"""Language identification with pluggable backends: langdetect, lingua, py3langid, pycld2.

Below the stores, so that ingestion can give each chunk its language; the answer check
(:mod:`xling.eval.language_check`) builds on it, and :func:`identify_asker_language` finds the
language a question is asked in.
"""

from xling.lid.asker import (
    ASKER_BACKENDS,
    RELATED,
    AskerLanguage,
    identify_asker_language,
    mask_names,
    parse_accept_language,
)
from xling.lid.base import UNDETERMINED, Detection, LanguageIdentifier, canonical_code
from xling.lid.defaults import DEFAULT_LID_BACKEND, LID_DEFAULTS, default_backend
from xling.lid.registry import available_lid_backends, get_identifier, register_lid_backend

__all__ = [
    "ASKER_BACKENDS",
    "DEFAULT_LID_BACKEND",
    "LID_DEFAULTS",
    "RELATED",
    "UNDETERMINED",
    "AskerLanguage",
    "Detection",
    "LanguageIdentifier",
    "available_lid_backends",
    "canonical_code",
    "default_backend",
    "get_identifier",
    "identify_asker_language",
    "mask_names",
    "parse_accept_language",
    "register_lid_backend",
]
