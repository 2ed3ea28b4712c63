"""The shared LLM client and the embedded vLLM server."""

from xling.llm.client import ChatMessage, Completion, LLMClient, LLMUsage, TokenLogprob
from xling.llm.embedded import (
    EmbeddedLLMConfig,
    ServerHandle,
    aembedded_llm,
    embedded_llm,
    prepare,
    running,
    start,
    stop,
)

__all__ = [
    "ChatMessage",
    "Completion",
    "EmbeddedLLMConfig",
    "LLMClient",
    "LLMUsage",
    "ServerHandle",
    "TokenLogprob",
    "aembedded_llm",
    "embedded_llm",
    "prepare",
    "running",
    "start",
    "stop",
]
