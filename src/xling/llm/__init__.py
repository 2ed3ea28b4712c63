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
from xling.llm.embedded_models import (
    DEFAULT_EMBEDDED_MODEL,
    EMBEDDED_DEFAULTS,
    EMBEDDED_MODELS,
    EmbeddedModel,
    answer_style_of,
    embedded_model,
)

__all__ = [
    "DEFAULT_EMBEDDED_MODEL",
    "EMBEDDED_DEFAULTS",
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "answer_style_of",
    "embedded_model",
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
