"""Retrieval metrics checked against ir-measures on the same runs and qrels."""

from __future__ import annotations

import json
from pathlib import Path

import ir_measures
import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.eval import evaluate_run, parse_measure, read_qrels, read_run

# Graded judgements; q3 has no relevant document; q4 is judged but absent from the run.
QRELS = {
    "q1": {"d1": 2, "d2": 0, "d3": 1, "d7": 3},
    "q2": {"d4": 1, "d5": 1, "d9": 2},
    "q3": {"d1": 0, "d2": 0},
    "q4": {"d1": 1},
}
# Ties in q1 (d2/d3 and d5/d6) and q2 (all equal), unjudged documents, runs of different lengths.
RUN = {
    "q1": {"d1": 0.9, "d2": 0.5, "d3": 0.5, "d4": 0.4, "d5": 0.3, "d6": 0.3, "d7": 0.1},
    "q2": {"d5": 1.0, "d6": 1.0, "d4": 1.0, "d8": 0.2},
    "q3": {"d1": 2.0, "d9": 1.0},
}
MEASURES = ["nDCG@3", "nDCG@10", "R@2", "R@100", "RR@1", "RR@10", "AP", "P@2", "nDCG"]


# ir-measures computes RR@k with the MS MARCO script, which orders ties by ascending id; every
# other measure here goes through pytrec_eval (trec_eval's order: descending id).
TIES = {"RR@1": "msmarco", "RR@10": "msmarco"}


def reference(run: dict, qrels: dict, measure: str) -> dict[str, float]:
    m = ir_measures.parse_measure(measure)
    return {r.query_id: r.value for r in m.iter_calc(qrels, run)}


@pytest.mark.parametrize("measure", MEASURES)
def test_per_query_values_match_ir_measures(measure: str) -> None:
    # ir-measures scores the judged query q4, absent from the run, as 0: our default too.
    ours = evaluate_run(RUN, QRELS, [measure], ties=TIES.get(measure, "trec_eval"))
    expected = reference(RUN, QRELS, measure)
    assert set(ours.per_query) == set(expected) == {"q1", "q2", "q3", "q4"}
    for qid, value in expected.items():
        assert ours.per_query[qid][measure] == pytest.approx(value, abs=1e-12), qid
    aggregate = ir_measures.calc_aggregate([ir_measures.parse_measure(measure)], QRELS, RUN)
    assert ours.metrics[measure] == pytest.approx(next(iter(aggregate.values())), abs=1e-12)


def test_hand_computed_q1() -> None:
    # Ranking by score, ties by descending id: d1 .9, d3 .5, d2 .5, d4, d6 .3, d5 .3, d7.
    # nDCG@3 gains 2, 1, 0 -> DCG = 2/log2(2) + 1/log2(3) = 2.6309; ideal 3, 2, 1 ->
    # 3 + 2/log2(3) + 1/2 = 4.76186; nDCG@3 = 2.63093 / 4.76186 = 0.552500.
    result = evaluate_run({"q1": RUN["q1"]}, {"q1": QRELS["q1"]}, ["nDCG@3", "RR@10", "AP"])
    assert result.per_query["q1"]["nDCG@3"] == pytest.approx(0.552500, abs=1e-6)
    assert result.per_query["q1"]["RR@10"] == 1.0
    # Relevant: d1 (rank 1), d3 (rank 2), d7 (rank 7): AP = (1/1 + 2/2 + 3/7) / 3 = 0.809524.
    assert result.per_query["q1"]["AP"] == pytest.approx(0.809524, abs=1e-6)


def test_tie_order_matters_for_rr_at_1() -> None:
    # q2's three documents score 1.0; only d4 and d5 are relevant. trec_eval's order puts d6
    # first (RR@1 = 0), MS MARCO's puts d4 first (RR@1 = 1).
    q2 = ({"q2": RUN["q2"]}, {"q2": QRELS["q2"]})
    assert evaluate_run(*q2, ["RR@1"]).metrics["RR@1"] == 0.0
    assert evaluate_run(*q2, ["RR@1"], ties="msmarco").metrics["RR@1"] == 1.0
    with pytest.raises(InvalidInputError, match="ties='random'"):
        evaluate_run(*q2, ["RR@1"], ties="random")


def test_missing_queries_score_zero_by_default() -> None:
    zero = evaluate_run(RUN, QRELS, ["R@100"])
    assert zero.queries == 4 and zero.missing == ["q4"]
    assert zero.per_query["q4"]["R@100"] == 0.0
    skip = evaluate_run(RUN, QRELS, ["R@100"], missing_queries="skip")
    assert zero.metrics["R@100"] == pytest.approx(skip.metrics["R@100"] * 3 / 4)


def write_trec(tmp_path: Path) -> tuple[Path, Path]:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text(
        "".join(f"{q} 0 {d} {g}\n" for q, docs in QRELS.items() for d, g in docs.items())
    )
    run = tmp_path / "run.trec"
    lines = []
    for q, docs in RUN.items():
        for i, (d, s) in enumerate(docs.items()):
            lines.append(f"{q} Q0 {d} {i + 1} {s} sys\n")
    run.write_text("".join(lines))
    return run, qrels


def test_trec_and_jsonl_files(tmp_path: Path) -> None:
    run, qrels = write_trec(tmp_path)
    assert read_run(run) == RUN and read_qrels(qrels) == QRELS
    run_jsonl = tmp_path / "run.jsonl"
    run_jsonl.write_text(
        "".join(
            json.dumps({"query_id": q, "doc_id": d, "score": s}) + "\n"
            for q, docs in RUN.items()
            for d, s in docs.items()
        )
    )
    qrels_jsonl = tmp_path / "qrels.jsonl"
    qrels_jsonl.write_text(
        "".join(
            json.dumps({"query_id": q, "doc_id": d, "relevance": g}) + "\n"
            for q, docs in QRELS.items()
            for d, g in docs.items()
        )
    )
    from_trec = evaluate_run(run, qrels, MEASURES)
    from_jsonl = evaluate_run(run_jsonl, qrels_jsonl, MEASURES)
    assert from_trec.metrics == from_jsonl.metrics
    expected = ir_measures.calc_aggregate(
        [ir_measures.parse_measure("nDCG@10")], ir_measures.read_trec_qrels(str(qrels)),
        ir_measures.read_trec_run(str(run)),
    )  # fmt: skip
    assert from_trec.metrics["nDCG@10"] == pytest.approx(next(iter(expected.values())), abs=1e-12)
    skip = evaluate_run(run, qrels, ["nDCG@10"], missing_queries="skip")
    assert skip.metrics["nDCG@10"] > from_trec.metrics["nDCG@10"]


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    run, qrels = write_trec(tmp_path)
    with run.open("a") as f:
        f.write("q9 Q0 d1 1 0.5 sys\n")
    # RUN has 13 lines (7 + 4 + 2), so the appended q9 line is line 14.
    with pytest.raises(InvalidInputError, match=r"query id 'q9' at .*run\.trec:14 is not in the"):
        evaluate_run(run, qrels)
    assert evaluate_run(run, qrels, unknown_queries="skip").queries == 4
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 d1 1 0.5 sys\nq1 Q0 d2 2 high sys\n")
    with pytest.raises(InvalidInputError, match=r"bad\.trec:2: score 'high' is not a number"):
        read_run(bad)
    short = tmp_path / "short.qrels"
    short.write_text("q1 d1 1\n")
    with pytest.raises(InvalidInputError, match=r"short\.qrels:1 has 3 fields"):
        read_qrels(short)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"query_id": "q", "doc_id": "d", "score": 1}\n' * 2)
    with pytest.raises(InvalidInputError, match=r"dup\.jsonl:2 lists document 'd'"):
        read_run(dup)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="is empty"):
        read_qrels(empty)


def test_measure_specs() -> None:
    assert str(parse_measure("MRR@10")) == "RR@10"
    assert str(parse_measure("Recall@100")) == "R@100"
    assert str(parse_measure("map")) == "AP"
    for bad in ("nDCG@0", "BLEU", "nDCG@x"):
        with pytest.raises(UnknownSpecError, match="unknown retrieval measure"):
            parse_measure(bad)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1 0 d1 1.5\n", r"\.qrels:1: relevance '1\.5' is not a whole number; relevance grades"),
        ("q1 0 d1 x\n", r"\.qrels:1: relevance 'x' is not a number"),
        ("q1 0 d1 nan\n", r"\.qrels:1: relevance 'nan' is not finite"),
    ],
)
def test_qrels_grades_must_be_whole_numbers(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "g.qrels"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        read_qrels(path)


def test_jsonl_grades_are_not_silently_rounded(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text(
        '{"query_id": "q", "doc_id": "a", "relevance": 2.0}\n'
        '{"query_id": "q", "doc_id": "b", "relevance": 1.5}\n'
    )
    with pytest.raises(InvalidInputError, match=r"g\.jsonl:2: relevance 1\.5 is not a whole"):
        read_qrels(path)
    path.write_text('{"query_id": "q", "doc_id": "a", "relevance": 2.0}\n')
    assert read_qrels(path) == {"q": {"a": 2}}


def test_run_files_that_are_not_utf8_or_folders(tmp_path: Path) -> None:
    run = tmp_path / "run.trec"
    run.write_bytes(b"q1 Q0 d1 1 0.5 sys\nq1 Q0 caf\xe9 2 0.4 sys\n")
    with pytest.raises(InvalidInputError, match=r"run\.trec:2 is not UTF-8 \(byte 28 is 0xe9\)"):
        read_run(run)
    with pytest.raises(InvalidInputError, match="is a folder, not a file"):
        read_run(tmp_path)


def test_in_memory_runs_and_qrels_are_checked() -> None:
    with pytest.raises(InvalidInputError, match=r"run query 'q1': score of 'd1' nan is not finite"):
        evaluate_run({"q1": {"d1": float("nan")}}, QRELS)
    with pytest.raises(InvalidInputError, match=r"qrels query 'q1': relevance of 'd1' 0\.5 is not"):
        evaluate_run(RUN, {"q1": {"d1": 0.5}})
    with pytest.raises(InvalidInputError, match="measures must be a list of measure names"):
        evaluate_run(RUN, QRELS, "nDCG@10")


def test_result_to_dict(tmp_path: Path) -> None:
    run, qrels = write_trec(tmp_path)
    result = evaluate_run(run, qrels, ["nDCG@10", "AP"])
    payload = result.to_dict()
    assert list(payload) == ["nDCG@10", "AP", "queries", "missing"]
    assert payload["nDCG@10"] == result.metrics["nDCG@10"] and payload["AP"] == result.metrics["AP"]
    assert payload["queries"] == result.queries == 4 and payload["missing"] == ["q4"]
    full = result.to_dict(per_query=True)
    assert list(full) == ["nDCG@10", "AP", "queries", "missing", "per_query"]
    assert full["per_query"] == result.per_query and set(full["per_query"]) == set(QRELS)
    full["per_query"]["q1"]["AP"] = -1.0  # a copy: the result is unchanged
    assert result.per_query["q1"]["AP"] != -1.0
    assert json.loads(json.dumps(full)) == full
