"""Reading a server-sent event stream of ``xling serve`` as a client does (httpx, real socket)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Streamed", "stream_events"]


@dataclass
class Streamed:
    """What a streamed request got back.

    Attributes:
        status: The HTTP status.
        content_type: The ``Content-Type`` header.
        events: ``(event name, data)`` in arrival order; a refused request (status not 200)
            has one ``("refused", body)``.
    """

    status: int
    content_type: str
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def stream_events(url: str, body: dict[str, Any], *, timeout: float = 60) -> Streamed:
    """POSTs ``body`` to ``url`` and reads its ``event:``/``data:`` lines."""
    with httpx.stream("POST", url, json=body, timeout=timeout) as response:
        got = Streamed(response.status_code, response.headers.get("content-type", ""))
        if response.status_code != 200:
            response.read()
            got.events.append(("refused", response.json()))
            return got
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                got.events.append((name, json.loads(line.removeprefix("data: "))))
    return got
