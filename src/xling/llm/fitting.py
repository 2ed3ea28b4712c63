"""Fitting passages to the served model's context: a token budget per passage, and the cut.

Passages are cut by the served model's own tokenizer (:func:`truncate_passages`, through
``LLMClient.truncate``), never by splitting on spaces, which breaks Chinese, Japanese and Thai.
:func:`passage_budget` fits the per-passage token budget to the server's context length. Both
talk to the server, so they live here and not with the templates of :mod:`xling.prompts.rerank`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from xling.core.errors import InvalidInputError
from xling.llm import ChatMessage, LLMClient

__all__ = ["passage_budget", "truncate_passages"]

# Chat templates add role markers around each message (``<|im_start|>user\n`` ... ``<|im_end|>``)
# and some add a default system prompt; prompt sizes are measured on the message contents, so
# this much is reserved on top (SmolLM2's template: 5 tokens per message, 20 for its system text).
_TOKENS_PER_MESSAGE = 8
_TEMPLATE_SLACK = 48


async def passage_budget(
    client: LLMClient,
    skeleton: Sequence[ChatMessage],
    n_passages: int,
    *,
    reserve: int,
    max_passage_tokens: int,
    min_passage_tokens: int = 8,
) -> int:
    """Tokens each passage may take so that the whole prompt fits the server's context.

    Args:
        client: The client of the server whose tokenizer and ``max_model_len`` count.
        skeleton: The prompt rendered with empty passages (query, instructions, labels).
        n_passages: How many passages the prompt shows.
        reserve: Tokens kept free for the answer.
        max_passage_tokens: The cap per passage whatever the context.
        min_passage_tokens: Below this a passage says too little to rank; raise instead.

    Returns:
        ``min(max_passage_tokens, (context - prompt overhead - reserve) // n_passages)``, or
        ``max_passage_tokens`` when the server reports no context length.

    Raises:
        InvalidInputError: If the budget falls below ``min_passage_tokens`` (window too large for
            the context, or a very long query).
    """
    context = await client.amax_model_len()
    if context is None:
        return max_passage_tokens
    text = "\n".join(message["content"] for message in skeleton)
    overhead = len(await client.atokenize(text))
    overhead += _TOKENS_PER_MESSAGE * len(skeleton) + _TEMPLATE_SLACK
    free = context - overhead - reserve
    budget = min(max_passage_tokens, free // max(n_passages, 1))
    if budget < min_passage_tokens:
        raise InvalidInputError(
            f"{n_passages} passages do not fit the server's context of {context} tokens: the "
            f"prompt needs {overhead} tokens and the answer {reserve}, leaving "
            f"{max(free, 0) // max(n_passages, 1)} per passage (at least {min_passage_tokens} "
            "needed); use a smaller window or a shorter query"
        )
    return budget


async def truncate_passages(client: LLMClient, texts: Sequence[str], budget: int) -> list[str]:
    """Cuts every text to at most ``budget`` tokens of the served model's tokenizer."""
    cut = await asyncio.gather(*(client.atruncate(text, budget) for text in texts))
    # A cut inside a multi-byte character decodes to U+FFFD; drop that partial character.
    return [piece.rstrip("\ufffd") for piece in cut]
