"""Input checks shared by every module that takes texts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from xling.errors import InvalidInputError

__all__ = ["check_texts", "check_positive_int", "check_same_length"]


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_texts(texts: Iterable[Any], what: str = "texts") -> list[str]:
    """Validates a batch of texts.

    Args:
        texts: The candidate texts; a bare string is refused (it would be iterated by character).
        what: A name for the batch, used in the error message.

    Returns:
        The texts as a list of ``str``.

    Raises:
        InvalidInputError: If ``texts`` is a string or ``None``, or any item is not a non-empty,
            non-whitespace string.
    """
    if texts is None or isinstance(texts, str | bytes):
        raise InvalidInputError(f"{what} must be a list of strings, got {_preview(texts)}")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"{what}[{i}] is {_preview(text)} ({type(text).__name__}); "
                "only non-empty strings are allowed"
            )
        if not text.strip():
            raise InvalidInputError(
                f"{what}[{i}] is {_preview(text)}; empty or whitespace-only texts are not allowed"
            )
    return out


def check_positive_int(value: Any, name: str, *, maximum: int | None = None) -> int:
    """Validates a positive integer such as ``k`` or a batch size.

    Args:
        value: The value to check.
        name: Its name in the error message.
        maximum: An inclusive upper bound, if any.

    Returns:
        The value as ``int``.

    Raises:
        InvalidInputError: If the value is not an int in ``[1, maximum]``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = f"an integer from 1 to {maximum}" if maximum is not None else "a positive integer"
        raise InvalidInputError(f"{name}={_preview(value)} is not allowed; use {allowed}")
    if maximum is not None and value > maximum:
        raise InvalidInputError(f"{name}={value} is larger than allowed; use at most {maximum}")
    return value


def check_same_length(a: Sequence[Any], b: Sequence[Any], name_a: str, name_b: str) -> None:
    """Raises if two aligned sequences differ in length."""
    if len(a) != len(b):
        raise InvalidInputError(
            f"{name_a} has {len(a)} items but {name_b} has {len(b)}; aligned inputs must match"
        )
