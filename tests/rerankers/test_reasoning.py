"""The ``reasoning`` preset: thinking kept apart from the ranking, budget forcing, context fitting.

Stand-in answers are written by hand (a reasoning model's ``<think>…</think>`` and ranking), and
so is every expected order, call, token count and ``max_tokens`` below. The stand-in's tokenizer
counts whitespace-separated words, so token counts are word counts. One small run on the real
vLLM checks that a model that does not think still gets a valid ranking.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import NewLLM
from tests.llm.standin import CHAT, MODELS, Reply, StandIn
from tests.rerankers.test_scripted_orders import TEXTS
from xling.core.errors import InvalidInputError
from xling.llm import Completion, LLMClient
from xling.llm.answers import split_reasoning
from xling.rerankers import (
    ReasoningReranker,
    Repair,
    RerankRequest,
    get_reranker,
)

# c0 c1 c2 in first-stage order; window labels [1] [2] [3].
IDS = ["c0", "c1", "c2"]


def three() -> RerankRequest:
    return RerankRequest.from_texts(
        "How do otters keep from drifting while sleeping?", [TEXTS[c] for c in IDS], ids=IDS
    )


def scripted(stand_in: StandIn, *replies: Reply) -> list[dict[str, Any]]:
    """The chat requests' bodies, as they come; answered with ``replies`` in order, then
    with ``[1] > [2] > [3]``."""
    seen: list[dict[str, Any]] = []
    queue = list(replies)

    def reply(body: dict[str, Any]) -> Reply:
        seen.append(body)
        return queue.pop(0) if queue else Reply.chat("[1] > [2] > [3]")

    stand_in.answer(CHAT, reply)
    return seen


async def test_the_ranking_is_read_after_the_thinking(stand_in: StandIn, client: LLMClient) -> None:
    # The thinking names [3] first; read as a ranking it would put c2 on top. Only the text
    # after </think> counts: [2] > [1] > [3] = c1, c0, c2.
    thought = "[3] is off topic; [1] and [2] both mention otters."
    sent = scripted(stand_in, Reply.chat(f"<think>{thought}</think>\n[2] > [1] > [3]"))
    result = await get_reranker("reasoning", client, trace=True).arerank(three())
    assert result.ids == ["c1", "c0", "c2"]
    assert result.repairs == [] and result.usage.llm_calls == 1 == result.windows
    assert result.trace is not None and len(result.trace) == 1
    call = result.trace[0]
    assert call.where == "window 0-3" and call.reasoning == thought
    assert call.answer == "[2] > [1] > [3]"
    assert result.usage.reasoning_tokens == 10  # the thought's ten words
    # The answer budget is sized for the configured window of 20: "[20] > [19] > ... > [1]" is
    # 39 words, + 8 margin + 16 for <answer> tags = 63; the call may think 1,024 tokens (the
    # default budget) before it: 1,087.
    (body,) = sent
    assert body["max_tokens"] == 1024 + 63
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["messages"][0]["content"].startswith("You are RankLLM")  # ReasonRank's prompt
    assert result.to_dict()["reasoning_tokens"] == 10


async def test_a_cut_thinking_gets_its_answer_forced(stand_in: StandIn, client: LLMClient) -> None:
    partial = "Passage [1] talks about otters and [3]"
    sent = scripted(
        stand_in,
        Reply.chat(f"<think>{partial}", finish_reason="length", completion_tokens=112),
        Reply.chat("[3] > [1] > [2]"),
    )
    reranker = get_reranker("reasoning", client, reasoning_budget=100, max_tokens=12, trace=True)
    result = await reranker.arerank(three())
    assert result.ids == ["c2", "c0", "c1"]
    # Two calls for the one window: the first thinks until the budget (100 + 12) runs out;
    # the second continues the assistant turn from the thinking, closed, and may write only
    # the answer's 12 tokens.
    assert len(sent) == 2 == result.usage.llm_calls and result.windows == 1
    first, second = sent
    assert first["max_tokens"] == 112 and "continue_final_message" not in first
    assert second["max_tokens"] == 12
    assert second["messages"][:-1] == first["messages"]
    assert second["messages"][-1] == {
        "role": "assistant",
        "content": f"<think>\n{partial}\n</think>\n\n",
    }
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    assert second["chat_template_kwargs"] == {"enable_thinking": True}
    assert result.repairs == [Repair("reasoning_cut", 1, "window 0-3")]
    assert result.trace is not None
    assert [call.where for call in result.trace] == ["window 0-3", "window 0-3, answer forced"]
    assert [call.finish_reason for call in result.trace] == ["length", "stop"]
    assert result.trace[0].reasoning == partial and result.trace[0].answer == ""
    assert result.trace[1].answer == "[3] > [1] > [2]" and result.trace[1].reasoning is None
    assert result.usage.reasoning_tokens == 112  # every token of the cut call was thinking


async def test_a_reasoning_parser_field_is_read_apart(stand_in: StandIn, client: LLMClient) -> None:
    # vLLM with --reasoning-parser sends the thinking as message.reasoning (older versions:
    # reasoning_content) and the answer alone as content.
    sent = scripted(
        stand_in,
        Reply.chat("[2] > [3] > [1]", reasoning="Passage 2 is about sea otters."),
        Reply.json(
            {
                "choices": [
                    {
                        "message": {"content": None, "reasoning_content": "Passage [3] no"},
                        "finish_reason": "length",
                    }
                ],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 30,
                    "completion_tokens_details": {"reasoning_tokens": 30},
                },
            }
        ),
        Reply.chat("[1] > [3] > [2]"),
    )
    reranker = get_reranker("reasoning", client, trace=True, enable_thinking=None)
    result = await reranker.arerank(three())
    assert result.ids == ["c1", "c2", "c0"] and result.repairs == []
    assert (
        result.trace is not None and result.trace[0].reasoning == "Passage 2 is about sea otters."
    )
    assert result.usage.reasoning_tokens == 6  # six words, counted by the tokenizer
    assert "chat_template_kwargs" not in sent[0]
    # Cut inside the thinking, sent apart: forced from it; the server counted 30 tokens.
    result = await reranker.arerank(three())
    assert result.ids == ["c0", "c2", "c1"]
    assert result.repair_counts() == {"reasoning_cut": 1}
    assert sent[2]["messages"][-1]["content"] == "<think>\nPassage [3] no\n</think>\n\n"
    assert result.usage.reasoning_tokens == 30 and result.usage.llm_calls == 2


async def test_a_model_that_does_not_think_is_read_as_it_is(
    stand_in: StandIn, client: LLMClient
) -> None:
    scripted(stand_in, Reply.chat("[3] > [2] > [1]"))
    result = await get_reranker("reasoning", client, trace=True).arerank(three())
    assert result.ids == ["c2", "c1", "c0"] and result.repairs == []
    assert result.trace is not None and result.trace[0].reasoning is None
    assert result.usage.reasoning_tokens == 0 and result.usage.llm_calls == 1


@pytest.mark.parametrize(
    ("text", "reasoning", "answer", "ended"),
    [
        ("<think>a [1]</think>\n[2] > [1]", "a [1]", "[2] > [1]", True),
        # A template that opens <think> in the prompt: the model writes only the closing tag.
        ("a [1]\n</think>\n\n[2] > [1]", "a [1]", "[2] > [1]", True),
        ("<THINK>a</THINK>[2]", "a", "[2]", True),
        ("<think>a [1] and", "a [1] and", "", False),
        ("[2] > [1]", None, "[2] > [1]", False),
        # Only the first block is thinking; a later one stays in the answer (the parser strips it).
        ("<think>a</think>[2] <think>b</think> > [1]", "a", "[2] <think>b</think> > [1]", True),
    ],
)
def test_split_reasoning(text: str, reasoning: str | None, answer: str, ended: bool) -> None:
    completion, done = split_reasoning(Completion(text, "stop", 1, 1))
    assert (completion.reasoning, completion.text, done) == (reasoning, answer, ended)


def test_split_reasoning_joins_a_separate_field_and_text_thinking() -> None:
    completion, done = split_reasoning(
        Completion("<think>more</think>[1]", "stop", 1, 1, reasoning="first")
    )
    assert (completion.reasoning, completion.text, done) == ("first\nmore", "[1]", True)
    completion, done = split_reasoning(Completion("", "length", 1, 1, reasoning="cut"))
    assert (completion.reasoning, completion.text, done) == ("cut", "", False)


async def test_passages_shrink_as_the_reasoning_budget_grows(
    stand_in: StandIn, client: LLMClient
) -> None:
    # A 1,000-token context. Three passages of 300 words; the stand-in's detokenizer writes a
    # cut passage as that many "w". The reserve is the budget + 2 x 12 answer tokens + 8.
    stand_in.always(
        MODELS, Reply.json({"data": [{"id": "stand-in", "object": "model", "max_model_len": 1000}]})
    )
    long = RerankRequest.from_texts("otters?", [f"{c} " + "otter " * 299 for c in IDS], ids=IDS)
    seen = []
    for budget in (100, 400):
        sent = scripted(stand_in)
        reranker = get_reranker("reasoning", client, reasoning_budget=budget, max_tokens=12)
        result = await reranker.arerank(long)
        assert result.ids == IDS and len(sent) == 1
        assert sent[0]["max_tokens"] == budget + 12
        user = sent[0]["messages"][1]["content"]
        cut = [line for line in user.splitlines() if line.startswith("[")]
        words = [len(line.split()) - 1 for line in cut]  # minus the label
        assert len(set(words)) == 1  # every passage cut to the same budget
        prompt_words = sum(len(m["content"].split()) for m in sent[0]["messages"])
        # Prompt + 8 tokens a message + 48 of chat markup + reserve fit the context.
        assert prompt_words + 2 * 8 + 48 + budget + 2 * 12 + 8 <= 1000
        seen.append(words[0])
    # The prompt without passages is 143 words (ReasonRank's system prompt 69, the user's
    # instructions 74), + 8 a message + 48 of markup = 207. Budget 100: (1000 - 207 - 132) // 3
    # = 220 words a passage; budget 400: (1000 - 207 - 432) // 3 = 120. 300 more tokens of
    # thinking cost each of the three passages 100.
    assert seen == [220, 120]
    with pytest.raises(InvalidInputError, match="3 passages do not fit the server.s context"):
        await get_reranker("reasoning", client, reasoning_budget=900).arerank(long)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"reasoning_budget": 0}, "reasoning_budget=0 is not allowed; use a positive integer"),
        ({"reasoning_budget": "big"}, "reasoning_budget='big' is not allowed"),
        ({"scoring": "first"}, "scoring='first' is not allowed for a reasoning reranker"),
        ({"enable_thinking": "yes"}, "enable_thinking='yes' is not allowed; use true, false"),
        ({"reasoning_budgt": 10}, r"unknown option\(s\) \['reasoning_budgt'\]"),
    ],
)
def test_bad_options_get_one_line(options: dict[str, Any], message: str) -> None:
    client = LLMClient("http://127.0.0.1:9/v1")  # never contacted
    with pytest.raises(InvalidInputError, match=message):
        get_reranker("reasoning", client, **options)


@pytest.mark.vllm
async def test_real_vllm_model_that_does_not_think(
    llm_target: tuple[str, str], new_llm: NewLLM, short_request: RerankRequest
) -> None:
    # SmolLM2 does not think: it answers (or rambles into the budget and gets its answer
    # forced); either way the preset returns a permutation of the candidates without failing.
    # Kept small (3 passages, 8 + 12 tokens) for a shared CPU server.
    client = new_llm(*llm_target, timeout=300)
    reranker = ReasoningReranker(
        client, reasoning_budget=8, max_tokens=12, window=3, rank_end=3, trace=True
    )
    result = await reranker.arerank(short_request)
    assert sorted(result.ids) == sorted(c.id for c in short_request.candidates)
    assert result.ids[3:] == ["deu", "swh"]  # below rank_end: first-stage order
    assert not result.fallbacks and result.windows == 1
    assert result.trace is not None and 1 <= result.usage.llm_calls == len(result.trace) <= 2
    first = result.trace[0]
    assert first.prompt_tokens > 0 and first.completion_tokens <= 8 + 12
    if len(result.trace) == 2:  # rambled into the budget: the answer was forced
        assert result.repair_counts()["reasoning_cut"] == 1 and first.finish_reason == "length"
        assert result.trace[1].completion_tokens <= 12
