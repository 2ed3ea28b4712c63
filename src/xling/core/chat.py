"""The chat message type shared by the prompt templates and the LLM client."""

from __future__ import annotations

__all__ = ["ChatMessage"]

# One OpenAI-style chat message: ``{"role": "user", "content": "..."}``.
ChatMessage = dict[str, str]
