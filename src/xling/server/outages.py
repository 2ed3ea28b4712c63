"""What a client is told when a server behind xling fails or refuses: which service, never its
address or its own words about xling's setup (those go to the server's log)."""

from __future__ import annotations

import logging

from xling.core.errors import ServerRefusedError, ServiceUnavailableError, XlingError

__all__ = ["LLM_DOWN", "client_detail", "public_detail"]

log = logging.getLogger("xling.server")

LLM_DOWN = "the LLM service is unavailable; try again shortly"

# The library's messages start by naming the kind of server (http_replies, transport, store).
_SERVICES = (
    ("this service has no LLM server", None),  # a setting, no address: said as it is
    ("LLM endpoint", "the LLM service"),
    ("every LLM server", "the LLM service"),
    ("embeddings endpoint", "the embeddings service"),
    ("Chroma", "the vector database"),
    ("pool ", "the vector database"),
)


def _service(message: str) -> str | None:
    for prefix, name in _SERVICES:
        if message.startswith(prefix):
            return name
    return "a service behind this server"


def public_detail(exc: ServiceUnavailableError | ServerRefusedError | str) -> str:
    """The one line a client gets for ``exc``; the full message is logged.

    A failure (503) names the service that is down; a refusal (502) names the service and
    what it answered xling (the client's request was fine; the operator's setup was not).
    """
    message = str(exc)
    name = _service(message)
    if name is None:
        return message
    log.warning("backend failure answered to a client: %s", message)
    if isinstance(exc, ServerRefusedError) and exc.url and exc.url in message:
        return f"{name} {message.split(exc.url, 1)[1].strip()}"
    if isinstance(exc, ServerRefusedError):
        return f"{name} refused this server's request with HTTP {exc.status}"
    return f"{name} is unavailable; try again shortly"


def client_detail(exc: XlingError) -> str:
    """The one line a client gets for any xling error: :func:`public_detail` for a server
    behind this one that failed or refused, the message itself for the rest (bad input)."""
    if isinstance(exc, ServiceUnavailableError | ServerRefusedError):
        return public_detail(exc)
    return str(exc)
