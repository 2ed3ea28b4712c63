"""The LLM a job talks to: a given URL, or the embedded vLLM server started for the job.

Both the ICL-MT runner and the RAG study start the embedded server only when some run needs
generation, on a free port (an embedded server already running on the default port is used and
left running), and close their client before the server stops.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import AsyncExitStack

from xling.experiments.config import LLMConfig
from xling.llm import EMBEDDED_DEFAULTS, EmbeddedLLMConfig, LLMClient, aembedded_llm

__all__ = ["url_client", "aembedded_client", "embedded_name"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url_client(stack: AsyncExitStack, llm: LLMConfig, url: str) -> LLMClient:
    """A client of the server at ``url``, closed when ``stack`` closes."""
    client = LLMClient(url, llm.model, max_concurrency=llm.concurrency, timeout=llm.timeout)
    stack.push_async_callback(client.aclose)
    return client


def embedded_name(llm: LLMConfig, job: str) -> str:
    """The embedded model a job starts: ``llm.embedded``, else the job's default (``mt``,
    ``answer``: :data:`~xling.llm.embedded_models.EMBEDDED_DEFAULTS`)."""
    return llm.embedded or EMBEDDED_DEFAULTS[job]


async def aembedded_client(
    stack: AsyncExitStack, llm: LLMConfig, say: Callable[[str], None], job: str
) -> tuple[LLMClient, str, str]:
    """Starts the embedded server for the job (stopped when ``stack`` closes).

    Args:
        stack: Closes the client, then stops the server.
        llm: The job's LLM settings (``embedded`` picks the model).
        say: Receives status lines.
        job: ``mt`` or ``answer``: whose default model is started without ``llm.embedded``.

    Returns:
        The client, the server's URL and its model.
    """
    model = embedded_name(llm, job)
    own = EmbeddedLLMConfig(port=_free_port(), cpu_cores="all", model=model)
    reuse = EmbeddedLLMConfig(model=model)
    handle = await stack.enter_async_context(aembedded_llm(own, say, reuse=reuse))
    # Pushed after the server: the client is closed before the server stops.
    return url_client(stack, llm, handle.url), handle.url, handle.model
