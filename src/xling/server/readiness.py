"""``/readyz``: whether the service can answer now, probed afresh each time within a short
timeout, naming what is down (never an address: those go to the server's log)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from xling.core.errors import XlingError
from xling.llm import LLMClient
from xling.server.service import Service
from xling.store.collection import collection_names

__all__ = ["PROBE_SECONDS", "Readiness", "aprobe"]

PROBE_SECONDS = 2.0
log = logging.getLogger("xling.server")


@dataclass
class Readiness:
    """What ``/readyz`` answers.

    Attributes:
        chroma: Whether the Chroma database listed its collections within the timeout.
        llm: Whether at least one LLM server listed its models within the timeout (``None``:
            the service has no LLM).
        llm_up: How many of the LLM servers answered.
        llm_servers: How many LLM servers are configured.
        down: The services down, by name (``chroma``, ``llm``).
    """

    chroma: bool
    llm: bool | None
    llm_up: int = 0
    llm_servers: int = 0
    down: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Ready when nothing is down."""
        return not self.down

    def to_dict(self) -> dict[str, Any]:
        """The JSON body."""
        return {
            "ready": self.ready, "chroma": self.chroma, "llm": self.llm,
            "llm_servers": {"up": self.llm_up, "of": self.llm_servers}, "down": self.down,
        }  # fmt: skip


async def _llm_answers(url: str, timeout: float) -> bool:
    """Whether the server at ``url`` lists its models (``GET /v1/models``) within ``timeout``:
    one attempt, a fresh request, no name remembered from earlier."""
    async with LLMClient(url, timeout=timeout, max_retries=0, deadline=timeout) as client:
        try:
            async with asyncio.timeout(timeout + 0.5):
                return bool(await client.alist_models())
        except (XlingError, TimeoutError) as exc:
            log.warning("readyz: LLM server %s is down: %s", url, exc)
            return False


async def _chroma_answers(service: Service, timeout: float) -> bool:
    def listing() -> None:  # the database itself, even when --pool names the pools
        with service.db.calls("probing readiness"), service.db.reading() as client:
            collection_names(client)

    try:
        async with asyncio.timeout(timeout):
            await asyncio.to_thread(listing)
        return True
    except (XlingError, TimeoutError) as exc:
        log.warning("readyz: Chroma is down: %s", exc or "no answer in time")
        return False


async def aprobe(service: Service, timeout: float = PROBE_SECONDS) -> Readiness:
    """Probes Chroma and every LLM server at once; answers within about ``timeout`` seconds."""
    urls = list(service.config.llm_urls)
    chroma, *llms = await asyncio.gather(
        _chroma_answers(service, timeout), *(_llm_answers(u, timeout) for u in urls)
    )
    up = sum(llms)
    llm = (up > 0) if urls else None
    down = [name for name, ok in (("chroma", chroma), ("llm", llm)) if ok is False]
    return Readiness(chroma, llm, up, len(urls), down)
