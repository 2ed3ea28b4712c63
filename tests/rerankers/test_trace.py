"""Each model call kept (``trace=True``, ``xling rerank --trace``), against the stand-in model.

The stand-in (:class:`~tests.llm.standin.StandIn` answering with the :class:`Judge` of
``test_scripted_orders``) knows the true order ``c3 > c0 > c4 > c2 > c1``; every call count,
step name and answer below is worked out by hand from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from tests.rerankers.test_cli import run, write_jsonl
from tests.rerankers.test_scripted_orders import QUERY, TEXTS, judged, request
from xling.llm import LLMClient
from xling.rerankers import Repair, get_reranker


def shown(prompt: list[dict[str, str]]) -> list[str]:
    """The candidate ids a prompt shows, in the order shown."""
    text = "\n".join(message["content"] for message in prompt)
    return sorted((cid for cid, t in TEXTS.items() if t in text), key=lambda c: text.find(TEXTS[c]))


async def test_listwise_keeps_each_window_call(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in)
    # Window 3, stride 2 over 5: [c2 c3 c4] (positions 2-5) ranked c3 > c4 > c2, written with
    # their window labels 2, 3, 1; then [c0 c1 c3] (0-3) ranked c3 > c0 > c1: 3, 1, 2.
    reranker = get_reranker("listwise", client, window=3, stride=2, trace=True)
    result = await reranker.arerank(request())
    assert result.trace is not None
    assert [call.where for call in result.trace] == ["window 2-5", "window 0-3"]
    assert [call.answer for call in result.trace] == ["[2] > [3] > [1]", "[3] > [1] > [2]"]
    assert [call.prompt for call in result.trace] == [body["messages"] for body in judge.bodies]
    assert [shown(call.prompt) for call in result.trace] == [["c2", "c3", "c4"], ["c0", "c1", "c3"]]
    for call in result.trace:  # the stand-in's usage: 10 prompt tokens, 3 generated, "stop"
        assert (call.prompt_tokens, call.completion_tokens) == (10, 3)
        assert call.finish_reason == "stop"
        assert call.top_logprobs is None and call.reasoning is None
    line = result.to_dict()
    assert [call["where"] for call in line["trace"]] == ["window 2-5", "window 0-3"]
    assert line["trace"][0]["answer"] == "[2] > [3] > [1]"
    assert json.loads(json.dumps(line)) == line  # JSON-ready


async def test_first_keeps_the_first_step_logprobs(stand_in: StandIn, client: LLMClient) -> None:
    judged(stand_in)
    result = await get_reranker("first", client, window=3, stride=2, trace=True).arerank(request())
    assert result.trace is not None and len(result.trace) == 2
    # [c2 c3 c4] as A B C: the stand-in gives B (c3) 0, C (c4) -1, A (c2) -2.
    first = result.trace[0]
    assert first.where == "window 2-5" and first.answer == "B"
    assert first.top_logprobs == {"B": 0.0, "C": -1.0, "A": -2.0}
    assert first.completion_tokens == 1 and first.prompt[-1] == {
        "role": "assistant",
        "content": "[",
    }


async def test_repairs_name_the_step_of_their_call(stand_in: StandIn, client: LLMClient) -> None:
    stand_in.always(CHAT, Reply.chat("[3] > [1] > [3]"))
    result = await get_reranker("listwise", client, window=5, trace=True).arerank(request())
    assert result.trace is not None and [call.where for call in result.trace] == ["window 0-5"]
    assert result.repairs == [
        Repair("duplicates_dropped", 1, "window 0-5"),
        Repair("missing_appended", 3, "window 0-5"),
    ]
    assert result.trace[0].answer == "[3] > [1] > [3]"  # the raw answer, before the repair


async def test_prp_heapsort_keeps_both_orders_of_every_pair(
    stand_in: StandIn, client: LLMClient
) -> None:
    judged(stand_in)
    # The comparisons of test_prp_heapsort_extracts_the_top_k, in the order made (i vs j: is
    # i better than j?): build c3-c1, c4-c3, c3-c0, c2-c3, c1-c0, c4-c0; extract c3, sift
    # c0-c4, c2-c0, c1-c4. Each is asked in both orders, the first-named as Passage A.
    pairs = [("c3", "c1"), ("c4", "c3"), ("c3", "c0"), ("c2", "c3"), ("c1", "c0")]
    pairs += [("c4", "c0"), ("c0", "c4"), ("c2", "c0"), ("c1", "c4")]
    expected = []
    for number, (a, b) in enumerate(pairs, 1):
        expected += [f"pair {number} ({a} vs {b})", f"pair {number} ({b} vs {a})"]
    result = await get_reranker("prp-heapsort", client, top_k=2, trace=True).arerank(request())
    assert result.trace is not None and len(result.trace) == 18 == result.usage.llm_calls
    assert sorted(call.where for call in result.trace) == sorted(expected)
    for call in result.trace:
        a, b = call.where.split("(")[1].rstrip(")").split(" vs ")
        assert shown(call.prompt) == [a, b]  # the step name says which passage was A
        # One logprob step after "Passage": the better of the two is "A" when shown first.
        better_first = ["c3", "c0", "c4", "c2", "c1"].index(a) < [
            "c3",
            "c0",
            "c4",
            "c2",
            "c1",
        ].index(b)
        assert call.top_logprobs == (
            {"A": 0.0, "B": -1.0} if better_first else {"B": 0.0, "A": -1.0}
        )


async def test_pointwise_names_each_candidate(stand_in: StandIn, client: LLMClient) -> None:
    stand_in.always(CHAT, Reply.chat("Yes"))
    reranker = get_reranker("pointwise", client, scoring="generate", trace=True)
    result = await reranker.arerank(request())
    assert result.trace is not None
    assert sorted(call.where for call in result.trace) == [f"candidate c{i}" for i in range(5)]
    assert {call.answer for call in result.trace} == {"Yes"}


async def test_nothing_is_kept_when_trace_is_off(stand_in: StandIn, client: LLMClient) -> None:
    judged(stand_in)
    result = await get_reranker("listwise", client, window=3, stride=2).arerank(request())
    assert result.trace is None and "trace" not in result.to_dict()
    assert result.usage.llm_calls == 2


def test_cli_trace_flag_end_to_end(
    tmp_path: Path, stand_in: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    judged(stand_in)
    rows: list[dict[str, object]] = [
        {
            "qid": "q1",
            "query": QUERY,
            "candidates": [{"id": c, "text": t} for c, t in TEXTS.items()],
        }
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    base = ["rerank", str(source), "--url", stand_in.url, "--model", "stand-in", "--retries", "0"]
    assert run([*base, "--window", "5", "--trace", "-o", str(tmp_path / "traced.jsonl")]) == 0
    (line,) = [json.loads(text) for text in (tmp_path / "traced.jsonl").read_text().splitlines()]
    assert [c["id"] for c in line["candidates"]] == ["c3", "c0", "c4", "c2", "c1"]
    assert len(line["trace"]) == line["llm_calls"] == 1
    call = line["trace"][0]
    assert call["where"] == "window 0-5" and call["answer"] == "[4] > [1] > [5] > [3] > [2]"
    assert call["prompt"][-1]["role"] == "user" and TEXTS["c4"] in json.dumps(call["prompt"])
    assert call["finish_reason"] == "stop" and call["completion_tokens"] == 3
    assert run([*base, "--window", "5", "-o", str(tmp_path / "plain.jsonl")]) == 0
    plain = json.loads((tmp_path / "plain.jsonl").read_text())
    assert "trace" not in plain and plain["candidates"] == line["candidates"]
