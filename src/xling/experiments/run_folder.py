"""A resumable run folder, shared by the ICL-MT runner and the RAG study.

One cell of a grid runs in its own folder. While it runs, each finished row is appended to
``outputs.partial.jsonl`` (one write and a flush per line, so a kill leaves at most one torn
last line) and ``partial.json`` holds the hash of the effective config. A finished run writes
its own files, then ``run.json`` with the same hash, last, and drops the partial files:

- a folder whose ``run.json`` carries the hash of the config asked for is finished (skipped);
- an interrupted attempt with the same hash resumes with the rows it still lacks;
- a folder of another config is redone from nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from xling.core.files import write_atomic

__all__ = [
    "RUN_FILE",
    "PARTIAL_FILE",
    "PARTIAL_META",
    "config_digest",
    "finished_hash",
    "resume_rows",
    "appending",
    "write_jsonl_atomic",
    "mark_finished",
]

RUN_FILE = "run.json"
PARTIAL_FILE = "outputs.partial.jsonl"
PARTIAL_META = "partial.json"

Row = TypeVar("Row")
Key = TypeVar("Key", bound=Hashable)


def config_digest(effective: Mapping[str, Any]) -> str:
    """The SHA-256 of a JSON-ready config (keys sorted): equal configs, equal digests."""
    return hashlib.sha256(json.dumps(effective, sort_keys=True).encode()).hexdigest()


def finished_hash(folder: Path) -> str | None:
    """The config hash of the finished run in ``folder``, or ``None`` when there is none."""
    try:
        return str(json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))["config_hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_jsonl_atomic(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Writes one JSON object a line (non-ASCII kept), atomically."""
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def resume_rows(
    folder: Path,
    digest: str,
    parse: Callable[[dict[str, Any]], Row],
    key: Callable[[Row], Key],
) -> dict[Key, Row]:
    """The rows of an interrupted attempt with the same config, by key (first one kept).

    The folder is made ready to append to: ``partial.json`` records ``digest`` and the partial
    file is rewritten without a torn last line (or emptied, for another config).

    Args:
        folder: The run's folder (created if missing).
        digest: The config hash of this attempt (:func:`config_digest`).
        parse: Builds a row from one line's object; raising ``ValueError``, ``TypeError`` or
            ``KeyError`` skips the line.
        key: The row's key (its index, or its question id).
    """
    partial, meta = folder / PARTIAL_FILE, folder / PARTIAL_META
    try:
        same = json.loads(meta.read_text(encoding="utf-8")).get("config_hash") == digest
    except (OSError, ValueError, AttributeError):
        same = False
    rows: dict[Key, Row] = {}
    raw: list[str] = []
    if same and partial.is_file():
        for line in partial.read_text(encoding="utf-8").split("\n"):
            try:
                row = parse(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # the torn line of a kill
            if key(row) not in rows:
                rows[key(row)] = row
                raw.append(line + "\n")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(meta, json.dumps({"config_hash": digest}) + "\n")
    write_atomic(partial, "".join(raw))
    return rows


@contextmanager
def appending(folder: Path) -> Iterator[Callable[[Mapping[str, Any]], None]]:
    """Appends rows to the partial file: yields ``append(row)``, one line and a flush each."""
    with (folder / PARTIAL_FILE).open("a", encoding="utf-8") as partial:

        def append(row: Mapping[str, Any]) -> None:
            partial.write(json.dumps(row, ensure_ascii=False) + "\n")
            partial.flush()

        yield append


def mark_finished(folder: Path, meta: Mapping[str, Any]) -> None:
    """Writes ``run.json`` (``meta`` holds ``config_hash``), then drops the partial files."""
    write_atomic(folder / RUN_FILE, json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
    (folder / PARTIAL_FILE).unlink(missing_ok=True)
    (folder / PARTIAL_META).unlink(missing_ok=True)
