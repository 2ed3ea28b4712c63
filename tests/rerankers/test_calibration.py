"""Relevance probabilities: the mapping by hand, its bounds and order, and its worth on FLORES."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import NewLLM
from tests.llm.standin import CHAT, StandIn
from tests.rerankers.test_scripted_orders import TEXTS, judged
from xling.core.errors import InvalidInputError
from xling.embedders import Embedder
from xling.llm import LLMClient
from xling.rag.pipeline import build_answer_pipeline
from xling.rerankers import RerankRequest, get_reranker
from xling.rerankers.calibration import (
    CALIBRATIONS,
    Calibration,
    relevance_probabilities,
    relevance_probability,
)
from xling.retrieval import get_retriever
from xling.store import Pool, load_aligned

# a = -1, b = 2 on the cosine, c = -2 on rank/n; rank-only a' = 1, c' = -4.
ORDER = Calibration("order", -1.0, 2.0, -2.0, 1.0, -4.0)
PLATT = Calibration("platt", 0.0, 2.0)


def test_order_form_by_hand() -> None:
    # cosine 0.5, rank 0 of 4: z = -1 + 2·0.5 - 2·0 = 0 → 0.5.
    assert relevance_probability(ORDER, rank=0, n=4, first_stage_score=0.5) == 0.5
    # cosine 0.5, rank 2 of 4: z = -1 + 1 - 2·0.5 = -1 → 1 / (1 + e) = 0.268941...
    p = relevance_probability(ORDER, rank=2, n=4, first_stage_score=0.5)
    assert p == pytest.approx(0.2689414, abs=1e-7)
    # No first-stage score: rank-only, rank 1 of 4: z = 1 - 4·0.25 = 0 → 0.5.
    assert relevance_probability(ORDER, rank=1, n=4) == 0.5
    # rank 0 of 4: z = 1 → e / (1 + e) = 0.731058...
    assert relevance_probability(ORDER, rank=0, n=4) == pytest.approx(0.7310586, abs=1e-7)


def test_platt_form_by_hand_and_its_bounds() -> None:
    # P(yes) 0.75: logit = ln 3, z = 2 ln 3, p = 9 / (9 + 1) = 0.9.
    assert relevance_probability(PLATT, rank=0, n=1, score=0.75) == pytest.approx(0.9)
    assert relevance_probability(PLATT, rank=0, n=1, score=0.5) == 0.5
    # A generated yes (1.0) or no (0.0), and the floor scores below a reranked span, stay
    # finite: clipped to 1e-6 from the ends before the logit; b = 2 squares the odds.
    top = relevance_probability(PLATT, rank=0, n=3, score=1.0)
    assert top == pytest.approx(1 / (1 + (1e-6 / (1 - 1e-6)) ** 2)) and top < 1
    assert 0 < relevance_probability(PLATT, rank=2, n=3, score=-7.0) < 1e-11
    with pytest.raises(InvalidInputError, match="needs its score"):
        relevance_probability(PLATT, rank=0, n=1)


def test_lists_are_non_increasing_and_rank_only_when_a_score_is_missing() -> None:
    # The reranker put a lower-cosine candidate first: the second one's raw p (cosine 0.9,
    # rank 1/3: z = -1 + 1.8 - 0.667 = 0.133) is above the first's (cosine 0.5: z = 0), so it
    # is lowered to the first's 0.5; the third (z = -1 + 2 - 1.333 = -0.333) keeps its own.
    got = relevance_probabilities(ORDER, [3.0, 2.0, 1.0], [0.5, 0.9, 1.0])
    assert got[0] == 0.5 and got[1] == 0.5
    assert got[2] == pytest.approx(1 / (1 + math.exp(1 / 3)), abs=1e-9)
    # One candidate without a first-stage score: the whole list is read rank-only,
    # z = 1, -1/3, -5/3 for ranks 0, 1, 2 of 3.
    rank_only = relevance_probabilities(ORDER, [3.0, 2.0, 1.0], [0.5, None, 1.0])
    expected = [1 / (1 + math.exp(-z)) for z in (1.0, -1 / 3, -5 / 3)]
    assert rank_only == pytest.approx(expected, abs=1e-12)


def test_bad_values_are_named() -> None:
    with pytest.raises(InvalidInputError, match="unknown calibration kind 'cohere'"):
        relevance_probability("cohere", rank=0, n=1)
    with pytest.raises(InvalidInputError, match="rank 4 is not allowed for a list of 4"):
        relevance_probability(ORDER, rank=4, n=4)
    with pytest.raises(InvalidInputError, match="has 1 items but scores has 2"):
        relevance_probabilities(ORDER, [1.0, 0.0], [0.5])


def test_shipped_constants_never_reward_a_worse_score_or_rank() -> None:
    assert set(CALIBRATIONS) == {"listwise", "first", "pairwise", "pointwise", "probability"}
    # probability has no fitted constants: a cross-encoder's score is its relevance.
    assert CALIBRATIONS["probability"].form == "identity"
    for kind, cal in CALIBRATIONS.items():
        if kind == "probability":
            continue
        assert cal.score_weight >= 0 and cal.rank_weight <= 0 and cal.rank_only_weight <= 0, kind
        assert "bench/calibrate_rerank.py" in cal.source
        assert cal.form == ("platt" if kind == "pointwise" else "order")


async def test_ranked_candidates_carry_the_shipped_first_probabilities(new_llm: NewLLM) -> None:
    # FIRST against the stand-in judge of test_scripted_orders (truth c3 > c0 > c4 > c2 > c1),
    # first-stage cosines given per candidate. "first" constants: a = -137.4883, b = 163.033,
    # c = -10.2865; z = a + b·cos + c·r/5 = 9.2414, 3.92344, -1.39452, -9.97314, -15.2911.
    cosines = {"c0": 0.88, "c1": 0.80, "c2": 0.82, "c3": 0.90, "c4": 0.86}
    request = RerankRequest.from_texts(
        "How do otters keep from drifting while sleeping?",
        list(TEXTS.values()),
        ids=list(TEXTS),
        scores=[cosines[cid] for cid in TEXTS],
    )
    with StandIn() as stand_in:
        judged(stand_in)
        client = new_llm(stand_in.url, "stand-in", max_retries=0, timeout=10.0)
        result = await get_reranker("first", client, window=5).arerank(request)
        assert stand_in.seen[CHAT] == 1
        # The rank-only form: a' = 1.0848, c' = -7.8092, z = 1.0848 - 7.8092·r/5.
        ranked = await get_reranker("first", client, window=5, first_stage="rank").arerank(request)
    assert result.ids == ranked.ids == ["c3", "c0", "c4", "c2", "c1"]
    got = [c.relevance for c in result.candidates]
    assert got == pytest.approx([0.999903, 0.98061, 0.198687, 4.66337e-05, 2.28644e-07], rel=1e-4)
    assert result.to_dict()["candidates"][2]["relevance"] == got[2]
    assert [h.score for h in result.query_hits().hits] == got
    rank_only = [c.relevance for c in ranked.candidates]
    expected = [0.747401, 0.382951, 0.115181, 0.0265784, 0.00569441]
    assert rank_only == pytest.approx(expected, rel=1e-4)


def test_the_answer_pipeline_reads_only_plain_dense_scores_as_cosines(
    tmp_path: Path, e5: Embedder
) -> None:
    pool = Pool.open("scores", e5, path=tmp_path / "db")
    url = "http://127.0.0.1:9/v1"  # never called: only the reranker's options are read
    for method, options, expected in [
        ("dense", {}, "cosine"),
        ("dense", {"first_stage": "rank"}, "rank"),
        ("hybrid", {}, "rank"),
        ("bm25", {}, "rank"),
        ("margin", {}, "rank"),
    ]:
        pipeline = build_answer_pipeline(
            pool, url, method=method, rerank="listwise", rerank_options=options
        )
        assert pipeline.reranker is not None
        assert pipeline.reranker.config.first_stage == expected, method
    centred = get_retriever("dense", pool, center=True)
    pipeline = build_answer_pipeline(centred, url, rerank="pointwise")
    assert pipeline.reranker is not None and pipeline.reranker.config.first_stage == "rank"


@pytest.mark.vllm
@pytest.mark.slow
async def test_half_means_more_likely_relevant_than_not_on_held_out_flores(
    tmp_path: Path,
    e5: Embedder,
    llm: LLMClient,
    shared_data: Path,
    flores: Callable[[str, str], list[str]],
) -> None:
    # Held out from the fit (dev rows 0-19) and from the bench's check (rows 20-39): English
    # FLORES dev rows 40-47 against the French, German, Swahili and Wolof translations of rows
    # 0-199; relevant = the query's own translations (up to 4 of each dense top 20).
    pool = Pool.open("calibration", e5, path=tmp_path / "db")
    for lang in ("fra", "deu", "swh", "wol"):
        records = load_aligned(
            shared_data / "flores/eng/dev.txt", shared_data / f"flores/{lang}/dev.txt", "eng", lang
        )
        pool.index([r for r in records if r.side == "tgt" and (r.row or 0) < 200])
    rows = list(range(40, 48))
    queries = [flores("eng", "dev")[row] for row in rows]
    hits = await get_retriever("dense", pool, task="symmetric").aretrieve(
        queries, 20, qids=[str(row) for row in rows]
    )
    results = await get_reranker("listwise", llm, window=20).arerank_many(
        [RerankRequest.of(h) for h in hits]
    )
    above, below = [], []
    for result in results:
        relevance = [c.relevance for c in result.candidates]
        assert relevance == sorted(relevance, reverse=True)
        for c in result.candidates:
            relevant = c.candidate.metadata["row"] == int(result.qid or -1)
            (above if c.relevance >= 0.5 else below).append(relevant)
    assert above and sum(above) / len(above) > 0.5, (sum(above), len(above))
    assert sum(below) / len(below) < 0.5, (sum(below), len(below))
