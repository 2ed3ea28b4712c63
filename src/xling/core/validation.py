"""Input checks shared by every module that takes texts, numbers, choices or files."""

from __future__ import annotations

import json
import math
import os
import unicodedata
from collections.abc import Iterable, Mapping, Set
from pathlib import Path
from typing import Any, TypeVar

from xling.core.errors import InvalidInputError

__all__ = [
    "read_bytes",
    "check_scalars",
    "preview",
    "is_blank",
    "check_texts",
    "check_unicode",
    "check_positive_int",
    "check_non_negative_int",
    "check_finite",
    "check_choice",
    "check_sequence",
    "check_path",
    "check_output_file",
    "read_utf8",
    "json_object",
    "check_fields",
]

# Unicode categories that show nothing: controls (NUL, ...), format characters (zero-width
# space, BOM, ...), surrogates, unassigned code points and separators (spaces).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp"})


def preview(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for one-line error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_blank(text: str) -> bool:
    """Tells whether a text shows nothing: only whitespace, control or format characters.

    Cheap for real text: the scan stops at the first visible character.
    """
    stripped = text.strip()
    if not stripped:
        return True
    if stripped[0].isprintable():
        return False
    return all(unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in stripped)


def check_unicode(text: str, what: str) -> None:
    """Raises :class:`InvalidInputError` when ``text`` holds a lone surrogate.

    JSON can carry one (``"\\ud800"``) and Python reads it into a ``str``, but no encoder,
    tokenizer or database can store it.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} has a lone surrogate (U+{ord(text[exc.start]):04X}) at character "
            f"{exc.start}; send valid Unicode"
        ) from None


def check_texts(texts: Iterable[Any], what: str = "texts") -> list[str]:
    """Validates a batch of texts.

    Args:
        texts: The candidate texts; a bare string is refused (it would be iterated by character),
            and so are mappings and sets (no defined order).
        what: A name for the batch, used in the error message.

    Returns:
        The texts as a list of ``str``.

    Raises:
        InvalidInputError: If ``texts`` is not a list-like of strings, or any item is not a
            string that shows something (NUL-, control- or whitespace-only texts are empty).
    """
    out = check_sequence(texts, what, "strings")
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"{what}[{i}] is {preview(text)} ({type(text).__name__}); "
                "only non-empty strings are allowed"
            )
        if is_blank(text):
            raise InvalidInputError(
                f"{what}[{i}] is {preview(text)}; empty, whitespace-only and control-character-"
                "only (NUL, ...) texts are not allowed"
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
        raise InvalidInputError(f"{name}={preview(value)} is not allowed; use {allowed}")
    if maximum is not None and value > maximum:
        raise InvalidInputError(f"{name}={value} is larger than allowed; use at most {maximum}")
    return value


def check_non_negative_int(value: Any, name: str) -> int:
    """Validates an integer ``>= 0`` (a seed, an n-gram order).

    Raises:
        InvalidInputError: If the value is not an int or is negative.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{name}={preview(value)} is not allowed; use an integer >= 0")
    return value


def check_finite(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Validates a finite real number, optionally within ``[minimum, maximum]``.

    Args:
        value: The value to check (int or float; ``bool`` is refused).
        name: Its name in the error message.
        minimum: Inclusive lower bound, if any.
        maximum: Inclusive upper bound, if any.

    Returns:
        The value as ``float``.

    Raises:
        InvalidInputError: If the value is not a number, is NaN or infinite, or is out of range.
    """
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
    )
    if not ok:
        if minimum is not None and maximum is not None:
            allowed = f"a number from {minimum:g} to {maximum:g}"
        elif minimum is not None:
            allowed = f"a number >= {minimum:g}"
        elif maximum is not None:
            allowed = f"a number <= {maximum:g}"
        else:
            allowed = "a finite number"
        raise InvalidInputError(f"{name}={preview(value)} is not allowed; use {allowed}")
    return float(value)


_Choice = TypeVar("_Choice", bound=str)


def check_choice(value: Any, name: str, allowed: Iterable[_Choice]) -> _Choice:
    """Validates a value from a fixed set of names.

    Raises:
        InvalidInputError: If ``value`` is not one of ``allowed`` (the message lists them).
    """
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        raise InvalidInputError(
            f"{name}={preview(value)} is not allowed; use one of: {', '.join(options)}"
        )
    return value


def check_sequence(value: Any, name: str, what: str = "items") -> list[Any]:
    """Validates a list-like argument (not ``None``, a bare string, a mapping or a set).

    Returns:
        The items as a list.

    Raises:
        InvalidInputError: Naming the argument and what it got.
    """
    if (
        value is None
        or isinstance(value, str | bytes | Mapping | Set)
        or not isinstance(value, Iterable)
    ):
        raise InvalidInputError(
            f"{name} must be a list of {what}, got {preview(value)} ({type(value).__name__})"
        )
    return list(value)


def check_path(path: Any, what: str = "file") -> Path:
    """Validates a path argument (``str`` or ``os.PathLike``) and returns it as a :class:`Path`.

    Raises:
        InvalidInputError: If ``path`` is not a path (``None``, a number, ...) or is empty.
    """
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidInputError(
            f"{what} path must be a str or Path, got {preview(path)} ({type(path).__name__})"
        )
    return Path(path)


def check_output_file(path: Any, what: str = "output") -> Path:
    """Validates a file about to be written: not a folder, its parent not a file.

    Raises:
        InvalidInputError: If ``path`` names a folder, or a file stands where its folder should.
    """
    p = check_path(path, what)
    if p.is_dir():
        raise InvalidInputError(f"{what} {str(p)!r} is a folder, not a file; give a file name")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(
                    f"{what} {str(p)!r} cannot be written: {str(parent)!r} is a file, not a folder"
                )
            break
    return p


def read_bytes(path: Any, what: str = "file") -> bytes:
    """Reads a file's bytes.

    Raises:
        InvalidInputError: If the path is not a file (missing, a folder) or cannot be read.
    """
    p = check_path(path, what)
    if p.is_dir():
        raise InvalidInputError(f"{what} {str(p)!r} is a folder, not a file")
    if not p.is_file():
        raise InvalidInputError(f"{what} {str(p)!r} does not exist")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{what} {str(p)!r} cannot be read ({exc.strerror})") from None


def read_utf8(path: Any, what: str = "file") -> str:
    """Reads a whole UTF-8 file, with one-line errors for every way that can fail.

    Args:
        path: The file (``str`` or ``os.PathLike``).
        what: What the file is, for messages.

    Returns:
        The decoded text.

    Raises:
        InvalidInputError: If the path is not a path, is missing, is a folder, cannot be read or
            is not UTF-8 (the message names the file, the line and the byte offset).
    """
    p = check_path(path, what)
    data = read_bytes(p, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(
            f"{p}:{line} is not UTF-8 (byte {exc.start} is {data[exc.start]:#04x}); "
            "save the file as UTF-8"
        ) from None


def json_object(line: str, where: str) -> dict[str, Any]:
    """Parses one JSONL line that must hold a JSON object.

    Args:
        line: The line.
        where: ``file:line``, for the message.

    Raises:
        InvalidInputError: On invalid JSON, numbers Python refuses (over 4,300 digits), absurd
            nesting, or a value that is not an object.
    """
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where} is not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInputError(f"{where} is not usable JSON ({reason})") from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where} must hold a JSON object, got {preview(value)}")
    return value


Scalar = str | int | float | bool
_INT64 = (-(2**63), 2**63 - 1)


def check_scalars(
    metadata: Any,
    where: str = "record",
    reserved_keys: frozenset[str] = frozenset(),
    reserved_prefixes: tuple[str, ...] = (),
) -> dict[str, Scalar]:
    """Validates metadata: names to scalars that Chroma stores faithfully, none of them reserved.

    Args:
        metadata: A mapping of names to scalars.
        where: Where it comes from (``file.jsonl:3``), for messages.
        reserved_keys: Names that may not be used.
        reserved_prefixes: Name prefixes that may not be used.

    Returns:
        The metadata as a plain ``dict``.

    Raises:
        InvalidInputError: If it is not a mapping, a key is empty, not a string or reserved
            (``reserved_keys``, ``reserved_prefixes``), or a value is
            not a string, bool, 64-bit integer or finite float. (Chroma drops the whole metadata
            of a record holding NaN, and turns larger integers into floats.)
    """
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"{where}: metadata must be a mapping of names to scalars, got {preview(metadata)}"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInputError(
                f"{where}: metadata field name {preview(key)} is not allowed; names must be "
                "non-empty strings"
            )
        if key in reserved_keys or key.startswith(reserved_prefixes):
            raise InvalidInputError(
                f"{where}: metadata field name {key!r} is reserved (fields "
                f"{', '.join(sorted(reserved_keys))} and keys starting with "
                f"{', '.join(reserved_prefixes)}); rename it"
            )
        if isinstance(value, bool) or isinstance(value, str):
            continue
        if isinstance(value, int):
            if not _INT64[0] <= value <= _INT64[1]:
                raise InvalidInputError(
                    f"{where}: metadata field {key!r}={value} is outside the 64-bit integer range; "
                    "store it as a string"
                )
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInputError(
                    f"{where}: metadata field {key!r}={value!r} is not allowed; use a finite "
                    "number (or leave the field out)"
                )
            continue
        raise InvalidInputError(
            f"{where}: metadata field {key!r}={preview(value)} is not allowed; use a string, "
            "number or bool"
        )
    return dict(metadata)


def check_fields(data: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuses fields of an object other than ``allowed``.

    Raises:
        InvalidInputError: ``"{where} has unknown field(s) a, b; allowed: x, y"``.
    """
    names = list(allowed)
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise InvalidInputError(
            f"{where} has unknown field(s) {', '.join(map(str, unknown))}; allowed: "
            f"{', '.join(names)}"
        )
