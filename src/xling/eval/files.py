"""Reading hypothesis and reference files: plain lines or JSONL with a text field."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.validation import check_path, check_sequence, is_blank, json_object, read_utf8

__all__ = ["read_hypotheses", "read_references", "read_text_file", "check_aligned"]


def read_text_file(path: str | Path) -> str:
    """Reads a whole non-empty UTF-8 file.

    Raises:
        InvalidInputError: If the path is not a file (missing, a folder), cannot be read, is
            not UTF-8 (file, line and byte named) or is empty.
    """
    p = check_path(path)
    text = read_utf8(p)
    if not text:
        raise InvalidInputError(f"file {str(p)!r} is empty")
    return text


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":  # one final newline is optional
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _is_jsonl(path: Path, field: str | None) -> bool:
    return field is not None or path.suffix.lower() in (".jsonl", ".ndjson")


def read_hypotheses(path: str | Path, field: str | None = None) -> list[str]:
    """Reads system outputs, one per line; empty outputs are kept (they are real outputs).

    Args:
        path: A text file (one hypothesis per line) or a JSONL file (one object per line).
        field: The JSON key holding the text (ICL-MT files use ``translation``). Files ending in
            ``.jsonl`` default to ``translation``.

    Returns:
        The hypotheses in file order.

    Raises:
        InvalidInputError: If the file is missing, empty or not UTF-8, or a JSONL line is not an
            object with a string ``field`` (the message names the file and line).
    """
    p = check_path(path)
    lines = _split(read_text_file(p))
    if not _is_jsonl(p, field):
        return lines
    key = field or "translation"
    out = []
    for number, line in enumerate(lines, start=1):
        record = json_object(line, f"{p}:{number}")
        if not isinstance(record.get(key), str):
            keys = sorted(record)
            raise InvalidInputError(
                f"{p}:{number} has no string field {key!r}; keys there: {keys}; "
                "choose one with --field"
            )
        out.append(record[key])
    return out


def read_references(path: str | Path) -> list[str]:
    """Reads references (or sources), one per line; an empty line is an error.

    Raises:
        InvalidInputError: If the file is missing, empty, not UTF-8 or has an empty line (the
            message names the file and line).
    """
    p = check_path(path)
    lines = _split(read_text_file(p))
    for number, line in enumerate(lines, start=1):
        if is_blank(line):
            raise InvalidInputError(
                f"{p}:{number} is an empty line (only whitespace or control characters); every "
                "reference must hold text"
            )
    return lines


def check_aligned(
    a: Sequence[str], b: Sequence[str], path_a: str | Path, path_b: str | Path
) -> None:
    """Raises if two line-aligned files differ in length, naming both files and counts."""
    a = check_sequence(a, str(path_a), "lines")
    b = check_sequence(b, str(path_b), "lines")
    if len(a) != len(b):
        raise InvalidInputError(
            f"{path_a} has {len(a)} lines but {path_b} has {len(b)}; they must be line-aligned"
        )
