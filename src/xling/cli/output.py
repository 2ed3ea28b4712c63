"""Output files of commands: checked before any work, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from xling.core.errors import InvalidInputError

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
        handle, temporary = tempfile.mkstemp(
            dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise InvalidInputError(f"cannot write {flag} {output}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, _file_mode(output))
        os.replace(temporary, output)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InvalidInputError(f"cannot write {flag} {output}: {exc.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _file_mode(output: Path) -> int:
    """The mode the output gets: an existing file's, else what ``open()`` would give."""
    try:
        return output.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
