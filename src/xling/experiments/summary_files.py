"""The files a study's summary leaves in its output folder, for any study (ICL-MT, RAG).

A summary knows how to render itself (a Markdown report, a CSV of its cells, the JSON of its
significance tests, a PNG plot); :func:`write_summary` writes the four files atomically, under
the same names for every study: ``summary.md``, ``summary.csv``, ``significance.json`` and
``summary.png``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol, TypeVar

from xling.core.files import write_atomic, write_json_atomic

__all__ = [
    "SUMMARY_MD",
    "SUMMARY_CSV",
    "SUMMARY_PNG",
    "SIGNIFICANCE_JSON",
    "SummaryReport",
    "write_summary",
]

SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"
SUMMARY_PNG = "summary.png"
SIGNIFICANCE_JSON = "significance.json"


class SummaryReport(Protocol):
    """What :func:`write_summary` needs of a summary (a frozen dataclass with these fields)."""

    @property
    def folder(self) -> Path:
        """The output folder the files go into."""

    @property
    def files(self) -> tuple[Path, ...]:
        """The files written (empty until :func:`write_summary`)."""

    def markdown(self) -> str:
        """The report as Markdown."""

    def csv_text(self) -> str:
        """The cells as CSV."""

    def significance(self) -> dict[str, Any]:
        """The significance tests, JSON-ready."""

    def plot(self, path: Path) -> Path:
        """Writes the PNG plot to ``path``; returns it."""


Report = TypeVar("Report", bound=SummaryReport)


def write_summary(summary: Report, *, plot: bool = True) -> Report:
    """Writes ``summary.md``, ``summary.csv``, ``significance.json`` and ``summary.png``.

    Args:
        summary: A study's summary; the files go into its folder.
        plot: Also write the plot (needs matplotlib).

    Returns:
        The summary with its ``files`` set.
    """
    folder = summary.folder
    files = [folder / SUMMARY_MD, folder / SUMMARY_CSV, folder / SIGNIFICANCE_JSON]
    write_atomic(files[0], summary.markdown())
    write_atomic(files[1], summary.csv_text())
    write_json_atomic(files[2], summary.significance())
    if plot:
        files.append(summary.plot(folder / SUMMARY_PNG))
    return dataclasses.replace(summary, files=tuple(files))  # type: ignore[type-var]
