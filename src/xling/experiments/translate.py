"""Translating ICL-MT prompts with an LLM, as the ICL-MT code does.

Greedy decoding with the ICL-MT code's budget (:data:`~xling.prompts.postprocess.MT_MAX_NEW_TOKENS`,
75 new tokens) and stop words (``###`` and the source label, e.g. ``English sentence``); each
continuation is cut to its translation by :func:`~xling.prompts.postprocess.clean_translation`.
All prompts are sent at once; the client bounds how many are in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from xling.core.aio import blocking
from xling.core.progress import ProgressCallback
from xling.core.validation import check_positive_int
from xling.llm import LLMClient
from xling.prompts.postprocess import MT_MAX_NEW_TOKENS, clean_translation, mt_stop_sequences

__all__ = ["atranslate", "translate"]


async def atranslate(
    client: LLMClient,
    prompts: Sequence[str],
    src: str,
    tgt: str,
    *,
    max_tokens: int = MT_MAX_NEW_TOKENS,
    on_progress: ProgressCallback | None = None,
) -> list[str]:
    """Completes every prompt greedily and returns the cleaned translations, in prompt order.

    Args:
        client: The LLM client (its ``max_concurrency`` bounds the requests in flight).
        prompts: Complete MT prompts (:func:`xling.prompts.mt.build_mt_prompt`).
        src: Source language code (``eng``), for the stop words and the echoed-label cleanup.
        tgt: Target language code (``swh``).
        max_tokens: Most new tokens per translation (default: the ICL-MT code's 75).
        on_progress: Called as ``on_progress(done, total)`` as translations complete.

    Returns:
        One translation per prompt.

    Raises:
        ServiceUnavailableError: If the server fails (after the client's retries).
    """
    check_positive_int(max_tokens, "max_tokens")
    stop = mt_stop_sequences(src, tgt)
    total = len(prompts)
    done = 0

    async def one(prompt: str) -> str:
        nonlocal done
        completion = await client.acomplete(
            prompt, max_tokens=max_tokens, temperature=0.0, stop=stop
        )
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        return clean_translation(completion.text, src, tgt)

    if on_progress is not None:
        on_progress(0, total)
    return list(await asyncio.gather(*(one(p) for p in prompts)))


translate = blocking(atranslate, close_first=True)
"""Blocking :func:`atranslate`; closes the client's connections for this call when done."""
