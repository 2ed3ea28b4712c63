"""Exceptions raised by xling.

Every error a user can cause is an :class:`XlingError` whose message is one line naming the bad
value and what is allowed. The CLI turns these into exit code 2.
"""

from __future__ import annotations

__all__ = [
    "XlingError",
    "InvalidInputError",
    "UnknownSpecError",
    "ServiceUnavailableError",
    "MissingDependencyError",
    "missing_extra_error",
]


class XlingError(Exception):
    """Base class of every user-facing xling error."""


class InvalidInputError(XlingError, ValueError):
    """A value given to xling is not allowed (empty text, misaligned files, bad k, ...)."""


class UnknownSpecError(InvalidInputError):
    """A registry spec (embedder, strategy, template, ...) names nothing registered."""


class ServiceUnavailableError(XlingError, ConnectionError):
    """A server xling talks to (Chroma, vLLM, an embeddings endpoint) cannot be reached."""


class MissingDependencyError(XlingError, ImportError):
    """An optional dependency is not installed."""


def missing_extra_error(package: str, extra: str, feature: str) -> MissingDependencyError:
    """Builds the error raised when an optional dependency is missing.

    Args:
        package: The import name that failed.
        extra: The xling extra that provides it.
        feature: What the user asked for that needs it.

    Returns:
        An error whose message says how to install the missing piece.
    """
    return MissingDependencyError(
        f"{feature} needs the optional package {package!r}; install it with "
        f"`pip install 'xling[{extra}]'`"
    )
