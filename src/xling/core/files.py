"""Atomic file writes: a file is either the old one or the whole new one, never a part.

Every writer of xling's own files (derived indexes, run folders, summaries, cached weights,
command outputs) goes through :func:`write_atomic`: the data goes to a temporary file in the
same folder, which is renamed onto the path (``os.replace`` is atomic within one file system).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json_atomic"]


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str | Callable[[Path], None], *, fsync: bool = False
) -> None:
    """Writes a file through a temporary file beside it and a rename.

    The new file gets the mode of the file it replaces, or what ``open()`` would give a new
    file (``0o666`` less the umask: the temporary file is created that way, so the process's
    umask is never changed, even for a moment, under other threads), not ``mkstemp``'s
    private ``0o600``.

    Args:
        path: The file; its folder is created if missing.
        data: Bytes, text (written as UTF-8 with ``\\n`` newlines), or a function that writes
            the file at the path it is given (``np.savez``, ``savefig``, a streaming writer).
            The temporary name keeps ``path``'s suffix, so writers that pick a format from it
            (or append one) write the same file.
        fsync: Flush the data to disk before the rename (for files a crash must not lose).

    Raises:
        OSError: If the folder cannot be created or the file cannot be written; no temporary
            file is left behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(target)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
        mode = _existing_mode(target)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> None:
    """Writes ``value`` as UTF-8 JSON (non-ASCII kept, a final newline) with :func:`write_atomic`.

    Args:
        path: The file.
        value: JSON-ready data.
        indent: JSON indentation; ``None`` for one line.
    """
    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


def _create_temporary(target: Path) -> tuple[int, Path]:
    """An exclusively created, open temporary file beside ``target``, keeping its suffix."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{target.suffix or '.tmp'}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _existing_mode(path: Path) -> int | None:
    """The permission bits of the file being replaced, or ``None`` for a new file."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
