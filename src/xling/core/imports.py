"""Importing optional dependencies on first use, with an error that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from xling.core.errors import missing_extra_error

__all__ = ["import_optional"]


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
