"""Rich progress bars driven by the library's ``on_progress(done, total)`` callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from xling.cli.app import err_console
from xling.core.progress import ProgressCallback

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """Yields a callback that updates one progress bar on stderr (when it is a terminal).

    Args:
        description: Plain text shown before the bar (never read as Rich markup).
    """
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # Only on a terminal: in a pipe or a log the bar is noise around the one-line errors.
    disable = not err_console.is_terminal
    with Progress(*columns, console=err_console, transient=False, disable=disable) as progress:
        task = progress.add_task(escape(description), total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
