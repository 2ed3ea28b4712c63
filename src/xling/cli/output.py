"""Output files of commands: checked before any work, written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.files import write_atomic

__all__ = ["check_output", "write_atomically"]


def check_output(output: Path, flag: str = "--output") -> None:
    """Refuses an output path that cannot be written, before any work is done."""
    folder = output.parent
    if output.is_dir():
        raise InvalidInputError(f"{flag} {output} is a folder; give a file path")
    if not folder.is_dir():
        raise InvalidInputError(
            f"{flag} {output}: the folder {folder} does not exist; create it first"
        )
    if not os.access(folder, os.W_OK):
        raise InvalidInputError(f"{flag} {output}: the folder {folder} is not writable")


def write_atomically(output: Path, text: str, flag: str = "--output") -> None:
    """Writes ``text`` to a temporary file beside ``output``, then renames it onto ``output``."""
    try:
        write_atomic(output, text)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {flag} {output}: {exc.strerror}") from None
