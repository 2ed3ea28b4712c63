"""Rich progress bars driven by the library's ``on_progress(done, total)`` callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

__all__ = ["progress_bar", "progress_bars"]


@contextmanager
def progress_bars() -> Iterator[Callable[[str], ProgressCallback]]:
    """Yields ``add(description)``, which starts one more bar on stderr and returns its
    callback; the bars show only on a terminal (in a pipe or a log they are noise around the
    one-line errors).
    """
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    disable = not err_console.is_terminal
    with Progress(*columns, console=err_console, transient=False, disable=disable) as progress:

        def add(description: str) -> ProgressCallback:
            task = progress.add_task(escape(description), total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return update

        yield add


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """Yields a callback that updates one progress bar on stderr (when it is a terminal).

    Args:
        description: Plain text shown before the bar (never read as Rich markup).
    """
    with progress_bars() as add:
        yield add(description)
