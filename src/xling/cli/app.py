"""The ``xling`` typer application and its error handling."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from xling.errors import XlingError

__all__ = ["app", "main", "console", "err_console", "fail"]

app = typer.Typer(
    name="xling",
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
    from xling.cli import demo, llm, pools  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app, turning xling errors into exit code 2."""
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except XlingError as exc:
        raise SystemExit(fail(str(exc)).exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show(file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        raise
