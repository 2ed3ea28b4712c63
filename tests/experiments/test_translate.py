"""``translate``/``atranslate`` against the loopback LLM stand-in: what is sent, what comes back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.llm.standin import Reply, StandIn
from xling.experiments import atranslate, translate
from xling.llm import LLMClient
from xling.prompts.mt import build_mt_prompt
from xling.prompts.postprocess import MT_MAX_NEW_TOKENS

COMPLETIONS = "/v1/completions"
# What a small model writes after an ICL-MT prompt: the translation, then it starts the next
# demonstration; the stop words would cut it on a real server, the stand-in sends it all.
CONTINUATION = " Habari ya asubuhi.\n\nEnglish sentence: Good evening."


class RecordingStandIn(StandIn):
    """The stand-in, also keeping every request body sent to ``/v1/completions``."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []
        self.echo = False  # answer each prompt with itself upper-cased, then a stop word
        self._bodies_lock = threading.Lock()

    def reply_for(self, path: str, body: dict[str, Any]) -> Reply:
        if path == COMPLETIONS:
            with self._bodies_lock:
                self.bodies.append(body)
            if self.echo:
                text = f" {str(body.get('prompt')).upper()}\n###"
                return Reply.json({"choices": [{"text": text, "finish_reason": "stop"}]})
        return super().reply_for(path, body)


@pytest.fixture
def stand_in() -> Iterator[RecordingStandIn]:
    with RecordingStandIn() as server:
        server.always(
            COMPLETIONS, Reply.json({"choices": [{"text": CONTINUATION, "finish_reason": "stop"}]})
        )
        yield server


@pytest.fixture
def prompts(flores: Callable[[str, str], list[str]]) -> list[str]:
    eng, swh = flores("eng", "dev"), flores("swh", "dev")
    shots = [(eng[i], swh[i]) for i in range(2)]
    return [build_mt_prompt(q, shots, "eng", "swh") for q in flores("eng", "devtest")[:3]]


def client_of(stand_in: StandIn) -> LLMClient:
    return LLMClient(stand_in.url, "m", max_retries=0, timeout=5.0)


def test_translate_sends_the_iclmt_settings_and_cleans(
    stand_in: RecordingStandIn, prompts: list[str]
) -> None:
    seen: list[tuple[int, int]] = []
    client = client_of(stand_in)
    hyps = translate(client, prompts, "eng", "swh", on_progress=lambda d, t: seen.append((d, t)))
    # Cut at the first line: the echoed "English sentence" demonstration is gone.
    assert hyps == ["Habari ya asubuhi."] * 3
    assert len(stand_in.bodies) == 3
    assert sorted(b["prompt"] for b in stand_in.bodies) == sorted(prompts)
    for body in stand_in.bodies:
        assert body["stop"] == ["###", "English sentence"]
        assert body["max_tokens"] == MT_MAX_NEW_TOKENS == 75
        assert body["temperature"] == 0.0
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]


async def test_atranslate_keeps_prompt_order_and_budget(stand_in: RecordingStandIn) -> None:
    stand_in.echo = True
    async with client_of(stand_in) as client:
        hyps = await atranslate(client, ["a", "b", "c", "d"], "eng", "fra", max_tokens=20)
    assert hyps == ["A", "B", "C", "D"]  # each answer in its prompt's place
    assert {b["max_tokens"] for b in stand_in.bodies} == {20}
    assert {tuple(b["stop"]) for b in stand_in.bodies} == {("###", "English sentence")}
