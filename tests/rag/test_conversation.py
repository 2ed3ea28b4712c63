"""A chat answered from a pool: the messages read, the follow-up rewritten, the answer checked;
against the real vLLM server (SmolLM2), real Chroma and the bundled e5."""

from __future__ import annotations

import re

import pytest

from xling.core.errors import InvalidInputError
from xling.data import sample_path
from xling.embedders import Embedder
from xling.llm import LLMClient
from xling.prompts.chat import clean_standalone, condense_messages
from xling.rag.conversation import ChatConfig, ChatTurn, aanswer_chat, acondense, chat_turns
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.retrieval import get_retriever
from xling.store import Pool, load_lines

GUINNESS = "Qui a signé un bail pour la brasserie St James' Gate à Dublin ?"


@pytest.fixture(scope="module")
def english_pool(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Pool:
    pool = Pool.open("english", e5, path=tmp_path_factory.mktemp("chat") / "db")
    pool.index(load_lines(sample_path("eng"), "eng"))
    return pool


def test_openai_messages_are_read_into_turns() -> None:
    turns = chat_turns([
        {"role": "developer", "content": "Sois bref."},
        {"role": "user", "content": [{"type": "text", "text": "Bonjour"},
                                     {"type": "text", "text": "qui ?"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
        {"role": "tool", "content": "42", "tool_call_id": "x"},
        {"role": "assistant", "content": "Guinness."},
        {"role": "user", "content": "Et quand ?"},
    ])  # fmt: skip
    assert turns == [
        ChatTurn("system", "Sois bref."),
        ChatTurn("user", "Bonjour\nqui ?"),
        ChatTurn("assistant", "Guinness."),
        ChatTurn("user", "Et quand ?"),
    ]
    with pytest.raises(InvalidInputError, match=r"messages\[0\].content\[0\] has type 'image_url'"):
        chat_turns([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])
    with pytest.raises(InvalidInputError, match="must end with a user message.*last is assistant"):
        chat_turns([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
    with pytest.raises(InvalidInputError, match=r"messages\[0\].role='robot' is not allowed"):
        chat_turns([{"role": "robot", "content": "Hi"}])
    with pytest.raises(InvalidInputError, match="the last user message is empty"):
        chat_turns([{"role": "user", "content": "  "}])
    with pytest.raises(InvalidInputError, match="max_history_tokens"):
        ChatConfig(max_history_tokens=0)


def test_the_rewrite_prompt_and_its_reading() -> None:
    messages = condense_messages(
        [("user", "Qui a signé\nle bail ?"), ("assistant", "Arthur Guinness [1].")],
        "Et quand ?",
        "fra",
    )
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].endswith(
        "Write the question in French. Reply with the rewritten question only."
    )
    assert messages[1]["content"] == (
        "Conversation:\nUser: Qui a signé le bail ?\nAssistant: Arthur Guinness [1].\n\n"
        "Last question: Et quand ?\n\nRewrite the last question as a standalone question in "
        "French."
    )
    assert clean_standalone('\n Standalone question: "Quand Guinness a-t-il signé ?"\nMore') == (
        "Quand Guinness a-t-il signé ?"
    )
    assert clean_standalone("  \n") == ""


@pytest.mark.vllm
async def test_a_first_question_is_not_rewritten(llm: LLMClient) -> None:
    turns = chat_turns([
        {"role": "system", "content": "Réponds poliment."},
        {"role": "assistant", "content": "Bonjour ! Que voulez-vous savoir ?"},
        {"role": "user", "content": GUINNESS},
    ])  # fmt: skip
    condensed = await acondense(llm, turns, lid_backend="pycld2")
    # No earlier user turn: nothing to resolve, no LLM call.
    assert (condensed.rewritten, condensed.method, condensed.rewrite) == (False, "as_asked", None)
    assert (condensed.standalone, condensed.usage["calls"]) == (GUINNESS, 0)
    assert condensed.language == "fra"
    assert condensed.system == "Réponds poliment."


@pytest.mark.vllm
async def test_a_follow_up_is_rewritten_from_the_newest_turns_that_fit(llm: LLMClient) -> None:
    # 300 earlier exchanges: far over the history budget; the oldest are dropped.
    filler = [
        message
        for i in range(300)
        for message in (
            {"role": "user", "content": f"Question numéro {i} sur la ville de Dublin ?"},
            {"role": "assistant", "content": f"Réponse numéro {i} : je ne sais pas."},
        )
    ]
    turns = chat_turns([
        *filler,
        {"role": "user", "content": GUINNESS},
        {"role": "assistant", "content": "Arthur Guinness a signé ce bail en 1759 [1]."},
        {"role": "user", "content": "Et pour combien d'années ?"},
    ])  # fmt: skip
    config = ChatConfig(max_history_tokens=200)
    condensed = await acondense(llm, turns, config=config, lid_backend="pycld2")
    assert condensed.rewritten and condensed.usage["calls"] == 1
    assert condensed.rewrite is not None
    # The LLM's rewrite when it names something of the earlier turns, else the earlier user
    # turns joined before the question: either way the lease is in the search.
    if condensed.method == "joined":
        # The two newest earlier user turns (join_turns=2), then the question.
        assert condensed.standalone == (
            f"Question numéro 299 sur la ville de Dublin ? {GUINNESS} Et pour combien d'années ?"
        )
    else:
        assert condensed.method == "rewrite" and condensed.standalone == condensed.rewrite
    assert "Guinness" in condensed.standalone or "St James" in condensed.standalone
    # "Et pour combien d'années ?" alone is too short to tell; the earlier French turns decide.
    assert condensed.language == "fra"
    assert condensed.history_turns + condensed.dropped_turns == 602
    # 200 tokens hold a few turns of ~15 tokens each, never hundreds.
    assert 2 <= condensed.history_turns <= 20, condensed.to_dict()
    assert condensed.usage["prompt_tokens"] < 200 + 250


@pytest.mark.vllm
async def test_a_french_chat_over_english_passages_answers_in_french(
    english_pool: Pool, llm: LLMClient
) -> None:
    config = AnswerConfig(k=3, max_tokens=80, lid_backend="pycld2")
    pipeline = AnswerPipeline(get_retriever("dense", english_pool), llm, config=config)
    turns = chat_turns([
        {"role": "system", "content": "Tu es l'assistant d'une brasserie."},
        {"role": "user", "content": GUINNESS},
        {"role": "assistant", "content": "Arthur Guinness, en 1759 [1]."},
        {"role": "user", "content": "Et pour combien d'années ?"},
    ])  # fmt: skip
    events: list[dict[str, object]] = []

    async def on_event(event: dict[str, object]) -> None:
        events.append(event)

    result = await aanswer_chat(pipeline, turns, on_event=on_event)
    assert result.condensed.rewritten
    assert result.answer.question == result.condensed.standalone
    assert result.answer.query_language == "fra"
    assert events[0]["event"] == "condensed"
    assert [e["event"] for e in events[1:]].count("attempt") == len(result.answer.attempts)
    # The Guinness lease (line 45 of the English sample) is among the passages.
    assert 45 in [p.metadata["row"] for p in result.answer.passages]
    data = result.to_dict()
    assert data["standalone_question"] == result.condensed.standalone
    verdicts = [a["verdict"] for a in data["attempts"]]
    assert data["verdict"] in verdicts
    # One re-ask exactly when the first answer's language was not right.
    assert data["reasked"] == (verdicts[0] != "correct") == (len(verdicts) == 2)
    passages = data["passages"]
    assert [p["n"] for p in passages] == [1, 2, 3]
    shown = {int(n) for n in re.findall(r"\[(\d)\]", result.text)} & {1, 2, 3}
    assert {p["n"] for p in passages if p["cited"]} == shown
    assert all(p["score"] is not None and p["text"] for p in passages)
    assert data["usage"]["calls"] == 1 + len(data["attempts"])
