"""Importing optional dependencies on first use, with an error that says how to install them."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from xling.core.errors import missing_extra_error

__all__ = ["import_optional", "lazy_attributes"]


def import_optional(module: str, extra: str, feature: str) -> ModuleType:
    """Imports an optional dependency.

    Args:
        module: The import name (``"lingua"``, ``"comet"``).
        extra: The xling extra that provides it.
        feature: What the user asked for that needs it, for the error message.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: If the module cannot be imported; the message names the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra_error(module, extra, feature) from exc


def lazy_attributes(
    module_globals: dict[str, Any],
    homes: Mapping[str, str] | str,
    *,
    deprecated: bool = False,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name from its home on first use.

    The value found is stored in the module, so later look-ups (and the warning) happen once.

    Args:
        module_globals: The module's ``globals()``.
        homes: The module each name lives in, or one module whose ``__all__`` names all resolve.
        deprecated: Whether each first use warns that the name moved (a
            :class:`DeprecationWarning` naming the new path).

    Returns:
        The function to assign to the module's ``__getattr__``.
    """
    module = module_globals["__name__"]

    def __getattr__(name: str) -> Any:
        if isinstance(homes, str):
            home = homes if name in importlib.import_module(homes).__all__ else None
        else:
            home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if deprecated:
            warnings.warn(
                f"{module}.{name} moved to {home}.{name}; the old path goes in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
        value = getattr(importlib.import_module(home), name)
        module_globals[name] = value
        return value

    return __getattr__
