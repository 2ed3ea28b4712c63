"""The ``xling`` typer application and its error handling.

Every command ends with one of the exit codes of :mod:`xling.core.errors`, the same for all of them:
0 done; 1 an internal error (a bug); 2 bad input (usage errors included); 3 a server failed; 4
finished, but every query fell back; 5 a server refused the request (an HTTP 4xx, its message
shown). Each :class:`~xling.core.errors.XlingError` carries its code. A failure prints one line
on stderr (``error: ...``); the traceback of an internal error is printed only with
``xling --debug`` or ``XLING_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from xling.core.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, XlingError

__all__ = ["app", "main", "console", "err_console", "fail", "warn", "command_group", "DEBUG_ENV"]

DEBUG_ENV = "XLING_DEBUG"
# Operating-system errors about a path the user named are bad input, not bugs.
_PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
# pydantic's error types (typer converts values with it) and the words click uses for them.
_TYPE_NAMES = {
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_parsing": "number",
    "bool_parsing": "boolean",
}


class _XlingGroup(TyperGroup):
    """The root command group: every failure below it becomes one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exits and usage errors: handled by main()
        except XlingError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except _PATH_ERRORS as exc:
            raise fail(_path_error(exc)) from None
        except Exception as exc:
            raise _internal_error(exc, bool((ctx.params or {}).get("debug"))) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Runs the command line; exits with the command's code (returns it when not standalone).

        Usage errors (an unknown option, ``-k abc``) print one line and exit 2, instead of
        typer's box with the usage.
        """
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK
        except typer.TyperException as exc:
            code = _usage_error(exc)
        except typer.Abort:
            _print_error("aborted")
            code = EXIT_INTERNAL
        except typer.Exit as exc:
            code = exc.exit_code
        except Exception as exc:  # a bug while parsing, outside any command
            code = _internal_error(exc, False).exit_code
        if standalone_mode:
            sys.exit(code)
        return code


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


def command_group(name: str, help: str) -> typer.Typer:
    """A ``xling NAME ...`` group of subcommands, added to :data:`app`.

    Args:
        name: The group's command name.
        help: Its one-line help.
    """
    group = typer.Typer(name=name, help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help=f"Print the traceback of an internal error (or set {DEBUG_ENV}=1)."
        ),
    ] = False,
) -> None:
    # Only declares --debug; _XlingGroup.invoke reads it from the context.
    return None


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Prints a one-line error and returns the exit to raise.

    Args:
        message: Plain text (never Rich markup: ``[/x]`` in a path prints as it is).
        code: The exit code (default 2, bad input).
    """
    _print_error(message)
    return typer.Exit(code=code)


def warn(message: str) -> None:
    """Prints a one-line warning (plain text, as in :func:`fail`) on stderr."""
    err_console.print(
        f"[bold yellow]warning:[/] {escape(_flat(message))}", highlight=False, soft_wrap=True
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    app(args=argv)


def _register() -> None:
    # Each command module adds its commands to `app` on import.
    from xling.cli import (  # noqa: F401
        ask,
        demo,
        documents,
        eval,
        experiment,
        llm,
        pools,
        rerank,
        retrieve,
        select,
        serve,
    )


def _flat(message: str) -> str:
    return " ".join(message.splitlines())


def _print_error(message: str) -> None:
    err_console.print(
        f"[bold red]error:[/] {escape(_flat(message))}", highlight=False, soft_wrap=True
    )


def _debug_wanted(flag: bool) -> bool:
    value = os.environ.get(DEBUG_ENV, "").strip().lower()
    return flag or value not in ("", "0", "false", "no")


def _internal_error(exc: BaseException, debug: bool) -> typer.Exit:
    if _debug_wanted(debug):
        traceback.print_exception(exc, file=sys.stderr)
        hint = ""
    else:
        hint = f"; rerun with --debug or {DEBUG_ENV}=1 for the traceback"
    text = str(exc).strip()
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(detail) > 300:
        detail = detail[:297] + "..."
    _print_error(f"internal error: {detail} (a bug; please report{hint})")
    return typer.Exit(code=EXIT_INTERNAL)


def _path_error(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _usage_error(exc: typer.TyperException) -> int:
    """Prints a click/typer error as one line; returns its exit code."""
    code = int(getattr(exc, "exit_code", EXIT_BAD_INPUT))
    if type(exc).__name__ == "NoArgsIsHelpError":
        return code  # the help was already printed, as typer does
    if isinstance(exc, typer.BadParameter):
        exc.message = _value_message(exc)
    _print_error(exc.format_message())
    return code


def _value_message(exc: typer.BadParameter) -> str:
    """Click's words for a value typer's pydantic conversion refused (``'abc' is not a valid
    integer.``); other messages are kept."""
    errors = getattr(exc.__cause__, "errors", None)
    if not callable(errors):
        return exc.message
    try:
        first = errors()[0]
        value, kind, msg = first["input"], first["type"], str(first["msg"])
    except (IndexError, KeyError, TypeError):
        return exc.message
    if kind in _TYPE_NAMES:
        return f"{value!r} is not a valid {_TYPE_NAMES[kind]}."
    return f"{value!r}: {msg[:1].lower()}{msg[1:]}."
