"""The per-passage budget fits the prompt to the server's context (real server via the proxy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rerankers.conftest import Faults
from xling.core.errors import InvalidInputError
from xling.llm import LLMClient
from xling.llm.fitting import passage_budget, truncate_passages
from xling.prompts.rerank import get_listwise_template

pytestmark = pytest.mark.vllm


async def test_budget_fills_but_never_exceeds_the_context(
    fault_proxy: tuple[Faults, str], proxied_llm: LLMClient, shared_data: Path
) -> None:
    # The proxy reports a 1,024-token context. 20 long NTREX paragraphs (hundreds of tokens
    # each) in one RankZephyr prompt: the budget must cut each passage so that the prompt plus
    # the 16-token answer reserve fits, and use most of the room (the slack for chat markup
    # is 8 tokens a message + 48).
    faults, _ = fault_proxy
    faults.max_model_len = 1024
    lines = (shared_data / "ntrex" / "newstest2019-src.eng.txt").read_text(encoding="utf-8")
    paragraphs = [" ".join(lines.split("\n")[i : i + 8]) for i in range(0, 160, 8)]
    template = get_listwise_template("rank_zephyr")
    query = "Which passage is about the economy?"
    skeleton = template.messages(query, [""] * 20)
    budget = await passage_budget(proxied_llm, skeleton, 20, reserve=16, max_passage_tokens=300)
    assert 20 <= budget < 300  # the context, not the cap, decides
    passages = await truncate_passages(proxied_llm, paragraphs, budget)
    completion = await proxied_llm.achat(template.messages(query, passages), max_tokens=1)
    assert 0.8 * 1024 < completion.prompt_tokens <= 1024 - 16
    with pytest.raises(
        InvalidInputError, match="200 passages do not fit the server.s context of 1024"
    ):
        await passage_budget(proxied_llm, skeleton, 200, reserve=16, max_passage_tokens=300)
