"""The registry of LID backends: name → factory, with one shared instance per name."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from xling.core.registry import Registry
from xling.lid.base import LanguageIdentifier

__all__ = ["register_lid_backend", "available_lid_backends", "get_identifier"]

LidFactory = Callable[[], LanguageIdentifier]


def _langdetect() -> LanguageIdentifier:
    from xling.lid.langdetect_backend import LangdetectIdentifier

    return LangdetectIdentifier()


def _lingua() -> LanguageIdentifier:
    from xling.lid.lingua_backend import LinguaIdentifier

    return LinguaIdentifier()


def _py3langid() -> LanguageIdentifier:
    from xling.lid.py3langid_backend import Py3langidIdentifier

    return Py3langidIdentifier()


def _pycld2() -> LanguageIdentifier:
    from xling.lid.pycld2_backend import Pycld2Identifier

    return Pycld2Identifier()


_BACKENDS: Registry[LidFactory] = Registry(
    "LID backend",
    {
        "langdetect": _langdetect,
        "lingua": _lingua,
        "py3langid": _py3langid,
        "pycld2": _pycld2,
    },
)


def register_lid_backend(name: str, factory: LidFactory, *, replace: bool = False) -> None:
    """Adds a backend under ``name`` (a name in use is refused unless ``replace``)."""
    _BACKENDS.register(name, factory, replace=replace)
    get_identifier.cache_clear()


def available_lid_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_BACKENDS)


@cache
def get_identifier(name: str) -> LanguageIdentifier:
    """The shared instance of a backend (models load once per process).

    Raises:
        UnknownSpecError: If no backend has that name.
    """
    return _BACKENDS.get(name)()
