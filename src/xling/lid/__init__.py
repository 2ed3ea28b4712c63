"""Language identification with pluggable backends: langdetect, lingua, py3langid, pycld2.

Below the stores, so that ingestion can give each chunk its language; the answer check
(:mod:`xling.eval.language_check`) builds on it.
"""

from xling.lid.base import UNDETERMINED, Detection, LanguageIdentifier, canonical_code
from xling.lid.defaults import DEFAULT_LID_BACKEND, LID_DEFAULTS, default_backend
from xling.lid.registry import available_lid_backends, get_identifier, register_lid_backend

__all__ = [
    "DEFAULT_LID_BACKEND",
    "LID_DEFAULTS",
    "UNDETERMINED",
    "Detection",
    "LanguageIdentifier",
    "available_lid_backends",
    "canonical_code",
    "default_backend",
    "get_identifier",
    "register_lid_backend",
]
