"""The RAG study over a real Chroma pool of FLORES sentences in three languages, the bundled e5:
retrieval alone (no LLM), resumption, the summary files, and the answer path against a
stand-in LLM and the real vLLM server."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from xling.data import sample_path
from xling.embedders import Embedder
from xling.eval.qa_datasets import QAExample, write_qa_examples
from xling.experiments import (
    RagCell,
    RagStudyConfig,
    load_rag_config,
    parse_rag_config,
    run_rag_study,
    summarize_rag,
)
from xling.experiments.config import ConfigError
from xling.experiments.rag_rows import RagRow, judge
from xling.experiments.summary_files import write_summary
from xling.store import Pool, load_lines

LINES = 10  # the first ten FLORES sample sentences of each language


def _line(lang: str, row: int) -> str:
    return sample_path(lang).read_text(encoding="utf-8").split("\n")[row]


# Each question's gold passage is the FLORES sentence in the asker's own language.
QUESTIONS = [
    QAExample("gripen-deu", "Wo ist der JAS 39C Gripen abgestürzt?", "deu", ("Startbahn",),
              (_line("deu", 2),)),
    QAExample("gripen-eng", "Where did the JAS 39C Gripen crash?", "eng", ("runway",),
              (_line("eng", 2),)),
    QAExample("pilot-fra", "Comment s'appelle le pilote du JAS 39C Gripen ?", "fra",
              ("Dilokrit Pattavee",), (_line("fra", 3),)),
    QAExample("vidal-deu", "Von welchem Verein kam Vidal zu Barça?", "deu", ("Sevilla",),
              (_line("deu", 5),)),
]  # fmt: skip


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Pool:
    pool = Pool.open("flores3", e5, path=tmp_path_factory.mktemp("rag-study") / "db")
    for lang in ("eng", "deu", "fra"):
        pool.index(load_lines(sample_path(lang), lang)[:LINES])
    return pool


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    write_qa_examples(path, QUESTIONS)
    return path


def _config(questions: Path, **changes: Any) -> RagStudyConfig:
    base = RagStudyConfig(name="study", questions=str(questions), pool="flores3",
                          recipes=("user", "pivot", "all", "balanced"), recall_k=(1, 3),
                          retrieval_only=True)  # fmt: skip
    return base.with_changes(**changes)


def _rows(folder: Path) -> list[RagRow]:
    lines = (folder / "outputs.jsonl").read_text(encoding="utf-8").splitlines()
    return [RagRow.from_dict(json.loads(line)) for line in lines]


def test_retrieval_only_compares_the_recipes_per_language(
    pool: Pool, questions: Path, tmp_path: Path
) -> None:
    report = run_rag_study(_config(questions), tmp_path / "out", pool=pool, n_samples=50)
    assert [c.cell.label for c in report.cells] == [
        "dense/user", "dense/pivot", "dense/all", "dense/balanced"]  # fmt: skip
    assert [c.status for c in report.cells] == ["ran"] * 4 and report.llm == ""
    by_label = {c.cell.label: c for c in report.cells}
    langs = {h: pool.get([h])[0].lang for c in report.cells for r in _rows(c.folder)
             for h in r.retrieved}  # type: ignore[union-attr]  # fmt: skip
    for label, outcome in by_label.items():
        rows = _rows(outcome.folder)
        assert [r.qid for r in rows] == [q.qid for q in QUESTIONS]  # question order
        for row in rows:
            found = [langs[h] for h in row.retrieved]
            assert len(found) == 3
            if label == "dense/user":
                assert set(found) == {row.lang}
            elif label == "dense/pivot":
                assert set(found) == {"eng"}
            elif label == "dense/balanced":  # one passage per pool language in the top 3
                assert sorted(found) == ["deu", "eng", "fra"]
    # Pivot (English only) cannot find a German or French gold sentence: recall 0 there.
    pivot = by_label["dense/pivot"].scores
    assert pivot["deu"]["R@3"] == 0.0 and pivot["fra"]["R@3"] == 0.0
    assert pivot["eng"]["R@3"] == 100.0 and pivot["all"]["R@3"] == 25.0
    # In the asker's own language, e5 finds each gold sentence among the first three.
    assert by_label["dense/user"].scores["all"]["R@3"] == 100.0
    assert set(by_label["dense/user"].scores) == {"all", "deu", "eng", "fra"}
    assert by_label["dense/user"].scores["deu"]["n"] == 2.0
    # No LLM: no answer metric, no language share, no tokens.
    assert set(by_label["dense/all"].scores["all"]) == {"n", "R@1", "R@3", "seconds"}
    assert all(r.verdicts == () for r in _rows(by_label["dense/all"].folder))


def test_a_killed_cell_resumes_and_a_changed_config_reruns(
    pool: Pool, questions: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _config(questions, recipes=("user", "pivot"))
    first = run_rag_study(config, out, pool=pool, summary=False)
    pivot = first.cells[1].folder
    before = (pivot / "outputs.jsonl").read_text(encoding="utf-8")
    # Make it look like a cell killed after two questions, with a torn third line.
    digest = json.loads((pivot / "run.json").read_text(encoding="utf-8"))["config_hash"]
    lines = before.splitlines()
    for name in ("run.json", "outputs.jsonl", "scores.json"):
        (pivot / name).unlink()
    (pivot / "partial.json").write_text(json.dumps({"config_hash": digest}), encoding="utf-8")
    torn = lines[0] + "\n" + lines[1] + "\n" + lines[2][:25]
    (pivot / "outputs.partial.jsonl").write_text(torn, encoding="utf-8")
    again = run_rag_study(config, out, pool=pool, summary=False)
    assert [(c.status, c.asked, c.kept) for c in again.cells] == [
        ("skipped", 0, 0), ("resumed", 2, 2)]  # fmt: skip
    after = (pivot / "outputs.jsonl").read_text(encoding="utf-8")
    strip = [{k: v for k, v in json.loads(x).items() if k != "seconds"}
             for x in (before, after) for x in x.splitlines()]  # fmt: skip
    assert strip[:4] == strip[4:]  # nothing lost or written twice
    assert not (pivot / "outputs.partial.jsonl").exists()
    timeless = [
        {lang: {m: v for m, v in values.items() if m != "seconds"} for lang, values in scores}
        for scores in (first.cells[1].scores.items(), again.cells[1].scores.items())
    ]
    assert timeless[0] == timeless[1]
    # Another k of Recall@k is another config: every cell runs again, nothing is kept.
    changed = run_rag_study(config.with_changes(recall_k=(1, 2)), out, pool=pool, summary=False)
    assert [(c.status, c.kept) for c in changed.cells] == [("ran", 0), ("ran", 0)]


def test_summary_files_and_the_paired_bootstrap_against_the_baseline(
    pool: Pool, questions: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _config(questions, recipes=("user", "pivot"), baseline="dense/user")
    report = run_rag_study(config, out, pool=pool, n_samples=200, sample_size=4, seed=3)
    summary = report.summary
    assert summary is not None and summary.baseline == "dense/user"
    assert [p.name for p in summary.files] == [
        "summary.md", "summary.csv", "significance.json", "summary.png"]  # fmt: skip
    assert (out / "summary.png").stat().st_size > 1000
    with (out / "summary.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert set(table[0]) == {"row", "lang", "metric", "value", "n"}
    wanted = {("dense/pivot", "deu", "R@3"): 0.0, ("dense/pivot", "eng", "R@3"): 100.0,
              ("dense/pivot", "all", "R@3"): 25.0, ("dense/user", "all", "R@3"): 100.0}  # fmt: skip
    got = {(r["row"], r["lang"], r["metric"]): float(r["value"]) for r in table}
    assert {key: got[key] for key in wanted} == wanted
    # Pivot finds 1 of 4 gold sentences in the top 3, the baseline all 4: on every resample
    # pivot scores at most the baseline, so it never wins (p = 1) and the difference is -75.
    tests = json.loads((out / "significance.json").read_text(encoding="utf-8"))
    assert tests["baseline"] == "dense/user"
    r3 = [c for c in tests["comparisons"] if c["metric"] == "R@3"]
    assert len(r3) == 1 and r3[0]["row"] == "dense/pivot"
    assert (r3[0]["system"], r3[0]["baseline"], r3[0]["delta"]) == (25.0, 100.0, -75.0)
    assert r3[0]["baseline_row"] == "dense/user"
    assert r3[0]["wins"] == 0 and r3[0]["p_value"] == 1.0 and r3[0]["questions"] == 4
    assert r3[0]["n_samples"] == 200 and r3[0]["sample_size"] == 4
    assert r3[0]["ci95"][1] <= 0.0
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    assert "| dense/pivot | 4 |" in markdown and "## Against dense/user" in markdown
    # Another baseline, from the same folder, without running anything.
    again = write_summary(summarize_rag(out, baseline="dense/pivot", n_samples=50), plot=False)
    assert {c.row for c in again.comparisons} == {"dense/user"}
    with pytest.raises(Exception, match="baseline 'dense/all' is not a finished row; rows: "
                       "dense/user, dense/pivot"):  # fmt: skip
        summarize_rag(out, baseline="dense/all")


def test_relevance_by_gold_answers_judges_the_hits_texts() -> None:
    from xling.core.records import Hit

    hits = [Hit("a", "Sevilla is a city.", 0.9, "eng"), Hit("b", "Vidal came from Sevilla.", 0.8,
            "eng", {"doc_id": "news-1"})]  # fmt: skip
    # A hit holding a gold answer: first at rank 1.
    assert judge(hits, (1, 2), answers=("Sevilla",), relevance="answers") == {
        "R@1": 1.0, "R@2": 1.0}  # fmt: skip
    # Gold passages by id, doc_id or text; R@k is the share of them found.
    assert judge(hits, (1, 2), gold_passages=("news-1", "zzz")) == {"R@1": 0.0, "R@2": 0.5}
    assert judge(hits, (1,), gold_passages=("Sevilla is a city.",)) == {"R@1": 1.0}
    assert judge(hits, (1,), gold_passages=()) == {}  # unjudged: left out of the mean


def test_a_bad_config_names_every_problem_at_once(questions: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rag_config(
            {"questions": "q.jsonl", "pool": "p", "recipes": ["user", "nearby"],
             "methods": ["dense", "sparse"], "instruction_lang": ["fra"],
             "translate_query": [True], "retrieval_only": True, "recall_k": [0],
             "answer": {"k": 2, "colour": "red"}, "extra": 1},
            source="study.toml", base=tmp_path,
        )  # fmt: skip
    keys = [key for key, _ in caught.value.problems]
    assert keys == ["extra", "answer.colour", "recipes[1]", "methods[1]",
                    "instruction_lang[0]", "translate_query", "recall_k[0]"]  # fmt: skip
    assert "unknown value 'nearby'; allowed: user, pivot, all, balanced" in str(caught.value)
    toml = tmp_path / "study.toml"
    toml.write_text(
        'questions = "questions.jsonl"\npool = "flores3"\nrecipes = ["user", "all"]\n'
        'instruction_lang = ["user", "eng"]\nbaseline = "dense/all/eng"\n[answer]\nk = 3\n',
        encoding="utf-8",
    )
    config = load_rag_config(toml)
    assert config.name == "study" and config.answer == {"k": 3}
    assert Path(config.questions) == tmp_path / "questions.jsonl"
    assert [c.label for c in config.cells()] == [
        "dense/user/user", "dense/user/eng", "dense/all/user", "dense/all/eng"]  # fmt: skip
    assert RagCell("hybrid", "balanced", True, "eng").key == "hybrid.balanced+tq.eng"


# -- the answer path ---------------------------------------------------------------------------
def test_answers_are_scored_and_the_reask_is_counted(
    pool: Pool, tmp_path: Path
) -> None:  # fmt: skip
    path = tmp_path / "questions.jsonl"
    write_qa_examples(path, [QUESTIONS[0]])
    config = RagStudyConfig(name="answers", questions=str(path), pool="flores3",
                            recipes=("user",), recall_k=(1,), answer={"k": 2})  # fmt: skip
    with StandIn() as llm:
        # A stand-in model: English at the first attempt, German when asked again.
        llm.then(
            CHAT,
            Reply.chat("The Gripen crashed onto a runway and exploded there [1]."),
            Reply.chat("Der Gripen stürzte auf eine Startbahn und explodierte dabei [1]."),
        )
        report = run_rag_study(config, tmp_path / "out", pool=pool, llm_url=llm.url,
                               n_samples=20)  # fmt: skip
    assert report.llm == f"{llm.url} (stand-in)"
    (outcome,) = report.cells
    (row,) = _rows(outcome.folder)
    assert row.first_answer and row.first_answer.startswith("The Gripen")
    assert row.answer and row.answer.startswith("Der Gripen")
    assert (row.lang_ok_first, row.lang_ok_final, row.calls) == (False, True, 2)
    assert len(row.verdicts) == 2 and row.verdicts[0] != "correct" and row.verdicts[1] == "correct"
    # The gold answer "Startbahn" is in the final answer: every character 3-gram recalled.
    assert row.scores["char3_recall"] == 1.0 and row.scores["em"] == 0.0
    scores = outcome.scores["all"]
    assert (scores["lang_ok_first"], scores["lang_ok_final"], scores["unsure_final"]) == (
        0.0, 100.0, 0.0)  # fmt: skip
    assert scores["R@1"] == 100.0 and scores["calls"] == 2.0
    assert scores["prompt_tokens"] > 0 and scores["seconds"] > 0


@pytest.mark.vllm
def test_the_embedded_llm_answers_every_cell(
    pool: Pool, questions: Path, tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    url, model = llm_target
    config = _config(questions, retrieval_only=False, recipes=("user", "pivot"),
                     instruction_langs=("user", "eng"), recall_k=(1, 3),
                     answer={"k": 3, "max_tokens": 48})  # fmt: skip
    report = run_rag_study(config, tmp_path / "out", pool=pool, llm_url=url, n_samples=50)
    assert model in report.llm
    assert [c.cell.label for c in report.cells] == [
        "dense/user/user", "dense/user/eng", "dense/pivot/user", "dense/pivot/eng"]  # fmt: skip
    for outcome in report.cells:
        rows = _rows(outcome.folder)
        assert all(r.answer and r.calls in (1, 2) and r.prompt_tokens > 50 for r in rows)
        assert all(isinstance(r.lang_ok_first, bool) for r in rows)
        # A re-ask happens only after a first answer in the wrong language.
        assert all(r.calls == 1 or not r.lang_ok_first for r in rows)
        assert all(len(r.verdicts) == r.calls for r in rows)  # one verdict per attempt
        assert set(rows[0].scores) == {"char3_recall", "em", "f1"}
        assert {"lang_ok_first", "lang_ok_final", "char3_recall", "completion_tokens"} <= set(
            outcome.scores["all"])  # fmt: skip
    summary = report.summary
    assert summary is not None and summary.headline == "char3_recall"
    assert {c.metric for c in summary.comparisons} >= {"char3_recall", "lang_ok_final", "R@3"}


def test_query_translation_is_used_and_recorded(pool: Pool, tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    write_qa_examples(path, [QUESTIONS[0]])  # German, about the Gripen crash
    config = RagStudyConfig(name="translated", questions=str(path), pool="flores3",
                            recipes=("pivot",), translate_query=(False, True), recall_k=(1,),
                            answer={"k": 1})  # fmt: skip

    def reply(body: dict[str, Any]) -> Reply:
        # A stand-in model that translates when asked to, and answers in German otherwise.
        if body["messages"][0]["content"].startswith("You translate"):
            return Reply.chat("Where did the JAS 39C Gripen crash?")
        return Reply.chat("Der Gripen stürzte auf eine Startbahn und explodierte [1].")

    with StandIn() as llm:
        llm.answer(CHAT, reply)
        report = run_rag_study(config, tmp_path / "out", pool=pool, llm_url=llm.url,
                               summary=False)  # fmt: skip
    assert [c.cell.label for c in report.cells] == ["dense/pivot/user", "dense/pivot+tq/user"]
    (plain,), (translated,) = (_rows(c.folder) for c in report.cells)
    assert plain.translations == {}
    assert translated.translations == {"eng": "Where did the JAS 39C Gripen crash?"}
    # Searched in English with the translation: the English sentence of the crash comes first.
    (first,) = pool.get(translated.retrieved[:1])
    assert first is not None and first.text == _line("eng", 2)
