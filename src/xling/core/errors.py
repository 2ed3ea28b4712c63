"""Exceptions raised by xling.

Every error a user can cause is an :class:`XlingError` whose message is one line naming the bad
value and what is allowed. Each class carries the exit code the CLI ends with:

- 0 done (a partial fallback is done, with a summary line);
- 1 an unexpected internal error (a bug: anything that is not an :class:`XlingError`);
- 2 bad input (:class:`InvalidInputError`, :class:`MissingDependencyError`);
- 3 a server failed (:class:`ServiceUnavailableError`: an LLM or Chroma unreachable or answering
  errors after the retries, or a pool held by another writer);
- 4 finished, but every query fell back;
- 5 a server refused the request (:class:`ServerRefusedError`: an HTTP 4xx other than 408 and
  429 from an LLM or embeddings server, its own message included; retrying will not help).
"""

from __future__ import annotations

__all__ = [
    "XlingError",
    "InvalidInputError",
    "UnknownSpecError",
    "NotFoundError",
    "ForbiddenError",
    "ServiceUnavailableError",
    "ServerRefusedError",
    "PoolLockedError",
    "MissingDependencyError",
    "EXIT_OK",
    "EXIT_INTERNAL",
    "EXIT_BAD_INPUT",
    "EXIT_SERVER",
    "EXIT_ALL_FELL_BACK",
    "EXIT_REFUSED",
    "missing_extra_error",
]


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_SERVER = 3
EXIT_ALL_FELL_BACK = 4
EXIT_REFUSED = 5


class XlingError(Exception):
    """Base class of every user-facing xling error.

    Attributes:
        exit_code: The CLI's exit code for this kind of error.
    """

    exit_code: int = EXIT_BAD_INPUT


class InvalidInputError(XlingError, ValueError):
    """A value given to xling is not allowed (empty text, misaligned files, bad k, ...)."""


class UnknownSpecError(InvalidInputError):
    """A registry spec (embedder, strategy, template, ...) names nothing registered."""


class NotFoundError(InvalidInputError):
    """A named thing (a pool, a document, a job) does not exist, or the caller may not see it."""


class ForbiddenError(XlingError):
    """The caller may see a thing but not do this to it (a read-only key writing)."""


class ServiceUnavailableError(XlingError, ConnectionError):
    """A server xling talks to (Chroma, vLLM, an embeddings endpoint) cannot be reached."""

    exit_code = EXIT_SERVER


class ServerRefusedError(XlingError):
    """A server answered an HTTP 4xx (other than 408 and 429): it refused the request.

    Not :class:`InvalidInputError`: the server, not xling, judged the request, and the fix is
    whatever the server's message names: the key (401, 403), the model or the URL (404), or a
    setting such as ``max_tokens`` (400, 422). It has its own exit code, 5, so that a script can
    tell "the server said no" (retrying will not help) from bad command-line input (2) and from a
    server that failed (3, where retrying later may help). Built by
    :func:`xling.core.http_replies.reply_error`.

    Attributes:
        url: The endpoint that refused.
        status: The HTTP status it answered.
        server_message: The server's own message, on one line.
    """

    exit_code = EXIT_REFUSED

    def __init__(
        self, message: str, *, url: str = "", status: int = 0, server_message: str = ""
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.server_message = server_message


class PoolLockedError(ServiceUnavailableError):
    """Another process holds an embedded pool's write lock (and waiting was not asked for)."""


class MissingDependencyError(XlingError, ImportError):
    """An optional dependency is not installed."""


def missing_extra_error(package: str, extra: str, feature: str) -> MissingDependencyError:
    """Builds the error raised when an optional dependency is missing.

    Args:
        package: The import name that failed.
        extra: The xling extra that provides it.
        feature: What the user asked for that needs it.

    Returns:
        An error whose message says how to install the missing piece.
    """
    return MissingDependencyError(
        f"{feature} needs the optional package {package!r}; install it with "
        f"`pip install 'xling[{extra}]'`"
    )
