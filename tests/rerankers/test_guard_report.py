"""``guard_report`` and ``xling rerank --evaluate``: does the reranker help on judged queries?

A stand-in judge (:class:`tests.rerankers.test_scripted_orders.Judge`) reverses the first stage
``c0..c4``: FIRST answers positions ``[4, 3, 2, 1, 0]``. Fused at k=60 (worked out in
``test_guard.py``): weights 0.1-0.4 keep ``c0 c1 c2 c3 c4``, 0.5 gives ``c4 c0 c3 c1 c2``,
0.6-1.0 the reverse ``c4 c3 c2 c1 c0``. Every nDCG below is computed by hand with linear gains
(trec_eval): DCG = sum(grade / log2(rank + 1)).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.llm.standin import CHAT, StandIn
from tests.rerankers.test_cli import run, write_jsonl
from tests.rerankers.test_scripted_orders import QUERY, TEXTS, judged
from xling.core.errors import InvalidInputError
from xling.core.records import Hit
from xling.llm import LLMClient
from xling.rerankers import RerankRequest, RerankResult, get_reranker
from xling.rerankers.guard_report import guard_report

REVERSE = ["c4", "c3", "c2", "c1", "c0"]
# Graded: c0 2, c4 1, and a relevant document the first stage missed.
# IDCG = 2 + 1/log2(3) + 1/log2(4) = 3.130930.
GRADED = {"q1": {"c0": 2, "c4": 1, "missed": 1}}
FIRST_STAGE = 0.762346  # c0 at 1, c4 at 5: (2 + 1/log2(6)) / 3.130930
HALF = 0.722424  # c4 at 1, c0 at 2: (1 + 2/log2(3)) / 3.130930
REVERSED = 0.566511  # c4 at 1, c0 at 5: (1 + 2/log2(6)) / 3.130930


def requests(*qids: str) -> list[RerankRequest]:
    hits = tuple(Hit(cid, text) for cid, text in TEXTS.items())
    return [RerankRequest(QUERY, hits, None, qid) for qid in qids]


async def reversed_run(stand_in: StandIn, client: LLMClient, *qids: str) -> list[RerankResult]:
    judged(stand_in, truth=REVERSE)
    return await get_reranker("first", client, window=5).arerank_many(requests(*qids))


async def test_a_reranker_that_hurts_gets_the_largest_harmless_weight(
    stand_in: StandIn, client: LLMClient
) -> None:
    results = await reversed_run(stand_in, client, "q1", "q9")
    report = guard_report(results, GRADED)
    assert report.measures == ["nDCG@10", "RR@10", "R@5"]
    assert report.queries == 1 and report.unjudged == ["q9"]
    rows = {row.label: row for row in report.rows}
    assert [row.label for row in report.rows][:3] == ["first stage", "reranker", "guard w=0.1"]
    assert len(report.rows) == 2 + 9
    ndcg = {label: row.metrics["nDCG@10"] for label, row in rows.items()}
    assert ndcg["first stage"] == pytest.approx(FIRST_STAGE, abs=1e-6)
    for w in ("0.1", "0.2", "0.3", "0.4"):
        assert ndcg[f"guard w={w}"] == pytest.approx(FIRST_STAGE, abs=1e-6)
    assert ndcg["guard w=0.5"] == pytest.approx(HALF, abs=1e-6)
    for w in ("0.6", "0.7", "0.8", "0.9"):
        assert ndcg[f"guard w={w}"] == pytest.approx(REVERSED, abs=1e-6)
    assert ndcg["reranker"] == pytest.approx(REVERSED, abs=1e-6)
    # A relevant document at rank 1 in every order; two of the three relevant ones retrieved.
    assert {row.metrics["RR@10"] for row in report.rows} == {1.0}
    assert [row.metrics["R@5"] for row in report.rows] == [pytest.approx(2 / 3)] * 11
    # No weight beats the first stage; 0.4 is the largest within 0.01 of it (0.5 loses 0.04).
    assert report.verdict == "harmless" and report.recommended == 0.4
    data = report.to_dict()
    assert data["recommended_guard"] == 0.4 and data["unjudged"] == ["q9"]
    assert data["rows"][0] == {
        "label": "first stage",
        "weight": None,
        "nDCG@10": pytest.approx(FIRST_STAGE, abs=1e-6),
        "RR@10": 1.0,
        "R@5": pytest.approx(2 / 3),
    }


async def test_a_reranker_that_helps_gets_its_best_weight(
    stand_in: StandIn, client: LLMClient
) -> None:
    results = await reversed_run(stand_in, client, "q1")
    # Only c4 is relevant: the first stage has it 5th (nDCG 1/log2(6) = 0.386853, RR 0.2);
    # from w=0.5 on it is first (1.0, RR 1): the best, largest weight wins.
    report = guard_report(results, {"q1": {"c4": 1}})
    ndcg = {row.label: row.metrics["nDCG@10"] for row in report.rows}
    rr = {row.label: row.metrics["RR@10"] for row in report.rows}
    assert ndcg["first stage"] == ndcg["guard w=0.4"] == pytest.approx(0.386853, abs=1e-6)
    assert rr["first stage"] == pytest.approx(0.2)
    assert ndcg["guard w=0.5"] == ndcg["reranker"] == 1.0 and rr["guard w=0.5"] == 1.0
    assert report.verdict == "helps" and report.recommended == 1.0


async def test_every_weight_too_costly_recommends_no_reranking(
    stand_in: StandIn, client: LLMClient
) -> None:
    results = await reversed_run(stand_in, client, "q1")
    # Only c0 relevant; weights 0.5 (c0 2nd: 1/log2(3) = 0.6309) and 1.0 (c0 5th: 0.3869)
    # both cost more than 0.01 against the first stage's 1.0.
    report = guard_report(results, {"q1": {"c0": 1}}, weights=(0.5,))
    assert [row.label for row in report.rows] == ["first stage", "reranker", "guard w=0.5"]
    assert report.rows[2].metrics["nDCG@10"] == pytest.approx(0.630930, abs=1e-6)
    assert report.verdict == "hurts" and report.recommended is None
    assert "keep the first-stage order" in report.reason()


async def test_bad_inputs_are_named(stand_in: StandIn, client: LLMClient) -> None:
    results = await reversed_run(stand_in, client, "q7", "q8")
    with pytest.raises(InvalidInputError, match="none of the 2 queries .* q7, q8"):
        guard_report(results, GRADED)
    with pytest.raises(InvalidInputError, match="guard=1.5 is not allowed"):
        guard_report(results, {"q7": {"c0": 1}}, weights=(1.5,))
    with pytest.raises(InvalidInputError, match="no rerank results"):
        guard_report([], GRADED)
    guarded = await get_reranker("first", client, window=5, guard=0.5).arerank(requests("q1")[0])
    with pytest.raises(InvalidInputError, match="reranked with guard=0.5; evaluate a run"):
        guard_report([guarded], GRADED)
    unnamed = await get_reranker("first", client, window=5).arerank(
        RerankRequest.from_texts(QUERY, list(TEXTS.values()))
    )
    with pytest.raises(InvalidInputError, match="has no qid"):
        guard_report([unnamed], GRADED)


# -- the CLI --------------------------------------------------------------------------------------
def request_lines(tmp_path: Path, *qids: str) -> Path:
    rows: list[dict[str, object]] = [
        {"qid": qid, "query": QUERY, "candidates": [{"id": c, "text": t} for c, t in TEXTS.items()]}
        for qid in qids
    ]
    return write_jsonl(tmp_path / "in.jsonl", rows)


def test_cli_evaluate_prints_the_table_and_writes_the_report(
    tmp_path: Path, stand_in: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    judged(stand_in, truth=REVERSE)
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 c0 2\nq1 0 c4 1\nq1 0 missed 1\n")
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    code = run(
        ["rerank", str(request_lines(tmp_path, "q1", "q9")), "-o", str(out), "--url",
         stand_in.url, "--method", "first", "--window", "5", "--evaluate", str(qrels),
         "--report", str(report)]
    )  # fmt: skip
    assert code == 0
    # The results themselves are the reranker's own order (the guard is off in xling rerank).
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["id"] for c in lines[0]["candidates"]] == REVERSE and lines[0]["guard"] is None
    data = json.loads(report.read_text())
    assert data["recommended_guard"] == 0.4 and data["verdict"] == "harmless"
    assert data["unjudged"] == ["q9"] and data["queries"] == 1
    assert data["rows"][0]["nDCG@10"] == pytest.approx(FIRST_STAGE, abs=1e-6)
    err = " ".join(capsys.readouterr().err.split())
    assert "first stage" in err and "guard w=0.4 *" in err and "0.7623" in err
    assert "1 queries have no judgements and were left out: q9" in err
    assert "guard 0.4 is the largest weight within 0.01" in err


def test_cli_guard_fuses_the_written_results(tmp_path: Path, stand_in: StandIn) -> None:
    judged(stand_in, truth=REVERSE)
    out = tmp_path / "out.jsonl"
    code = run(
        ["rerank", str(request_lines(tmp_path, "q1")), "-o", str(out), "--url", stand_in.url,
         "--method", "first", "--window", "5", "--guard", "0.5"]
    )  # fmt: skip
    assert code == 0
    line = json.loads(out.read_text())
    assert [c["id"] for c in line["candidates"]] == ["c4", "c0", "c3", "c1", "c2"]
    assert line["guard"] == 0.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--evaluate", "{tmp}/nowhere.txt"], "--evaluate {tmp}/nowhere.txt is not a file"),
        (["--evaluate", "{tmp}/bad.txt"], "bad.txt:1"),
        (["--evaluate", "{tmp}/qrels.txt", "--guard", "0.5"], "--guard 0.5 with --evaluate"),
        (["--report", "{tmp}/r.json"], "--report needs --evaluate"),
        (["--guard", "1.5"], "--guard '1.5' is not allowed"),
    ],
)
def test_cli_bad_evaluation_inputs_exit_2_before_any_llm_call(
    tmp_path: Path,
    stand_in: StandIn,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    (tmp_path / "bad.txt").write_text("q1 c0\n")
    (tmp_path / "qrels.txt").write_text("q1 0 c0 1\n")
    argv = ["rerank", str(request_lines(tmp_path, "q1")), "--url", stand_in.url, "--method",
            "first", *(a.format(tmp=tmp_path) for a in extra)]  # fmt: skip
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in " ".join(err.split())
    assert len(err.strip().splitlines()) == 1
    assert stand_in.seen[CHAT] == 0


def test_cli_guard_fitted_is_the_rerankers_own_weight(tmp_path: Path, stand_in: StandIn) -> None:
    judged(stand_in, truth=REVERSE)
    out = tmp_path / "out.jsonl"
    code = run(
        ["rerank", str(request_lines(tmp_path, "q1")), "-o", str(out), "--url", stand_in.url,
         "--method", "first", "--window", "5", "--guard", "fitted"]
    )  # fmt: skip
    assert code == 0
    assert json.loads(out.read_text())["guard"] == 0.6  # FIRST's weight in rerankers/guard.py
