"""The ``xling`` typer application and its error handling."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from xling.errors import XlingError

__all__ = ["app", "main", "console", "err_console", "fail"]


class _XlingGroup(TyperGroup):
    """The root command group: an :class:`XlingError` anywhere below becomes exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except XlingError as exc:
            raise fail(str(exc)) from None


app = typer.Typer(
    name="xling",
    cls=_XlingGroup,
    help="Cross-lingual retrieval-augmented LLMs: pools, search, ICL selection, reranking, eval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Prints a one-line error and returns the exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _register() -> None:
    # Each command module adds its commands to `app` on import.
    from xling.cli import demo, eval, llm, pools, rerank, select  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    app(args=argv)
