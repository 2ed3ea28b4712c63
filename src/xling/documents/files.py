"""Documents from files and folders: what ``xling ingest PATH...`` walks."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.documents.records import Document

__all__ = ["find_documents"]


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    """Whether a relative POSIX path, or its file name, matches one of the globs."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatchcase(rel, p) or fnmatchcase(name, p) for p in patterns)


def _walk(folder: Path) -> Iterable[Path]:
    """Files under ``folder`` in a stable order, skipping hidden files and folders."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def find_documents(
    paths: Sequence[str | Path],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    lang: str | None = None,
) -> list[Document]:
    """The documents of files and folders, one per file.

    A folder is walked (hidden files and folders skipped); a file's ``doc_id`` is its path
    relative to the folder given (``guide/install.html``), or its name for a file given
    itself, in POSIX form; its ``source`` is the path as found.

    Args:
        paths: Files and folders.
        include: Globs a file must match (its relative path or its name), e.g. ``*.pdf``;
            none: every file.
        exclude: Globs of files to leave out (applied after ``include``).
        lang: The documents' language, or ``None`` (or ``"auto"``) to detect it per chunk.

    Returns:
        The documents, in the order found.

    Raises:
        InvalidInputError: If a path does not exist, no path is given, or two files get the
            same ``doc_id``.
    """
    if isinstance(paths, str | Path) or not paths:
        raise InvalidInputError(
            f"paths={paths!r} is not allowed; give a list of one or more files or folders"
        )
    chosen = None if lang in (None, "auto") else lang
    found: dict[str, Document] = {}
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = [(p, p.relative_to(root).as_posix()) for p in _walk(root)]
        elif root.is_file():
            files = [(root, root.name)]
        else:
            raise InvalidInputError(f"{str(given)!r} is neither a file nor a folder")
        for path, rel in files:
            if (include and not _matches(rel, include)) or (exclude and _matches(rel, exclude)):
                continue
            if rel in found:
                raise InvalidInputError(
                    f"two files get doc_id {rel!r} ({found[rel].source} and {path}); ingest "
                    "their folders separately or into different pools"
                )
            found[rel] = Document(doc_id=rel, path=path, lang=chosen)
    return list(found.values())
