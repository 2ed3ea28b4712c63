"""How xling reads the replies of OpenAI-compatible servers: one policy for every caller.

The LLM client and the OpenAI-compatible embedder both go through these functions, which take
plain values (a URL, a status, the body text), so this module needs no HTTP library:

- HTTP 2xx: an answer; its body must be the JSON the endpoint documents, or it is *malformed*.
- HTTP 408, 429 and 5xx, a timeout, a refused or broken connection: the server is *unavailable*
  (:class:`~xling.core.errors.ServiceUnavailableError`, exit code 3); a caller with retries may
  retry first.
- Any other HTTP 4xx: the server *refused* the request
  (:class:`~xling.core.errors.ServerRefusedError`, exit code 5), with the server's own message;
  never retried. A 401 or 403 says that the server refused the key.
- A malformed body (not JSON, a key missing, a value of the wrong type) is a failed server:
  :class:`~xling.core.errors.ServiceUnavailableError` naming the URL and what was wrong, after
  any retries; never a ``KeyError``.
"""

from __future__ import annotations

import json
from typing import Any

from xling.core.errors import ServerRefusedError, ServiceUnavailableError, XlingError

__all__ = [
    "MalformedReply",
    "UNAVAILABLE_STATUS",
    "is_unavailable_status",
    "reply_error",
    "raise_for_reply",
    "malformed_error",
    "parse_json",
    "get_field",
    "server_message",
    "one_line",
]

# 408 (the server timed out waiting) and 429 (too many requests) say "not now", not "no".
UNAVAILABLE_STATUS = frozenset({408, 429})


class MalformedReply(Exception):
    """A 2xx answer whose body is not the JSON the endpoint documents.

    Internal: callers retry it or turn it into :func:`malformed_error`.
    """


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with its whitespace runs made single spaces, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def is_unavailable_status(status: int) -> bool:
    """Whether an HTTP status means the server is unavailable now (408, 429, 5xx)."""
    return status in UNAVAILABLE_STATUS or status >= 500


def server_message(body_text: str) -> str:
    """The server's own message in an error body, on one line.

    Reads OpenAI's ``{"error": {"message": ...}}``, FastAPI's ``{"detail": ...}``,
    ``{"message": ...}`` and ``{"error": "..."}``; any other body is shown as it is.
    """
    try:
        body = json.loads(body_text)
    except (ValueError, RecursionError):
        return one_line(body_text) or "(empty body)"
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict):
            error = error.get("message", error)
        body = error
    return one_line(str(body), 300)


def reply_error(url: str, status: int, body_text: str, *, what: str) -> XlingError | None:
    """The error an HTTP answer means under the policy above; ``None`` for a 1xx-3xx.

    Args:
        url: The endpoint.
        status: The HTTP status it answered.
        body_text: The body, as text.
        what: The kind of endpoint, for the message (``"LLM endpoint"``, ...).

    Returns:
        A :class:`ServiceUnavailableError` for 408, 429 and 5xx, a :class:`ServerRefusedError`
        for any other 4xx, else ``None``.
    """
    if status < 400:
        return None
    message = server_message(body_text)
    if is_unavailable_status(status):
        return ServiceUnavailableError(
            f"{what} {url} failed (HTTP {status}: {message}); check that the server is running "
            "and not overloaded"
        )
    if status in (401, 403):
        refusal = f"refused the API key with HTTP {status}: {message}; pass the key it accepts"
    else:
        refusal = f"refused the request with HTTP {status}: {message}"
    return ServerRefusedError(
        f"{what} {url} {refusal}", url=url, status=status, server_message=message
    )


def raise_for_reply(url: str, status: int, body_text: str, *, what: str) -> None:
    """Raises :func:`reply_error`'s error for an HTTP 4xx or 5xx answer.

    Raises:
        ServiceUnavailableError: For 408, 429 and 5xx.
        ServerRefusedError: For any other 4xx.
    """
    error = reply_error(url, status, body_text, what=what)
    if error is not None:
        raise error


def malformed_error(url: str, problem: str, *, what: str) -> ServiceUnavailableError:
    """The error for an answer whose body is not the endpoint's JSON.

    Args:
        url: The endpoint.
        problem: What was wrong (a :class:`MalformedReply`'s message).
        what: The kind of endpoint, for the message.
    """
    return ServiceUnavailableError(
        f"{what} {url} answered a malformed body ({problem}); check that the URL points at an "
        "OpenAI-compatible server"
    )


def parse_json(body_text: str) -> Any:
    """The JSON of a body.

    Raises:
        MalformedReply: If it is not JSON (or holds absurd numbers).
    """
    try:
        return json.loads(body_text)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(f"the answer is not JSON ({one_line(str(exc))})") from None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def get_field(
    obj: Any, key: str, kinds: type | tuple[type, ...], what: str, *, optional: bool = False
) -> Any:
    """``obj[key]`` checked against ``kinds``.

    Args:
        obj: The parsed JSON object.
        key: The key to read.
        kinds: The allowed types; booleans never pass for ``int`` or ``float``.
        what: What ``obj`` is, for the message (``"the answer"``, ``"choice"``).
        optional: Allow a missing key or ``null`` (returned as ``None``).

    Raises:
        MalformedReply: If ``obj`` is not an object, the key is missing or of another type.
    """
    if not isinstance(obj, dict):
        raise MalformedReply(f"{what} is {_kind(obj)}, not an object")
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise MalformedReply(f"{what} has no {key!r}")
    if not isinstance(value, kinds) or (isinstance(value, bool) and kinds in (int, float)):
        raise MalformedReply(f"{what}.{key} is {_kind(value)}")
    return value
