"""The shared LLM client and the embedded vLLM server."""

from xling.llm.client import ChatMessage, Completion, LLMClient, LLMUsage, TokenLogprob
from xling.llm.embedded import EmbeddedLLMConfig, ServerHandle, prepare, running, start, stop

__all__ = [
    "ChatMessage",
    "Completion",
    "EmbeddedLLMConfig",
    "LLMClient",
    "LLMUsage",
    "ServerHandle",
    "TokenLogprob",
    "prepare",
    "running",
    "start",
    "stop",
]
