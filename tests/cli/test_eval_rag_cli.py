"""``xling eval rag`` on a real Chroma pool with the bundled e5 (retrieval only: no LLM)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from xling.data import sample_path
from xling.embedders import Embedder
from xling.eval.qa_datasets import QAExample, write_qa_examples
from xling.store import Pool, load_lines


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> tuple[Path, Path]:
    """A two-language pool (six FLORES sentences each) and three questions about it."""
    folder = tmp_path_factory.mktemp("eval-rag-cli")
    pool = Pool.open("flores2", e5, path=folder / "db")
    for lang in ("eng", "deu"):
        pool.index(load_lines(sample_path(lang), lang)[:6])
    deu = sample_path("deu").read_text(encoding="utf-8").split("\n")
    eng = sample_path("eng").read_text(encoding="utf-8").split("\n")
    questions = folder / "questions.jsonl"
    write_qa_examples(questions, [
        QAExample("1", "Wo ist der JAS 39C Gripen abgestürzt?", "deu", ("Startbahn",), (deu[2],)),
        QAExample("2", "Wer war der Pilot des Gripen?", "deu", ("Pattavee",), (deu[3],)),
        QAExample("3", "Where did the JAS 39C Gripen crash?", "eng", ("runway",), (eng[2],)),
    ])  # fmt: skip
    return folder / "db", questions


def _args(study: tuple[Path, Path], *more: str) -> list[str]:
    db, questions = study
    return ["eval", "rag", "--questions", str(questions), "--pool", "flores2",
            "--chroma-path", str(db), *more]  # fmt: skip


def test_retrieval_only_runs_then_resumes_as_json(
    xling: Callable[..., Result], study: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = _args(study, "--retrieval-only", "--recipes", "user,pivot", "--recall-k", "1,2",
                 "--baseline", "dense/user", "--samples", "40", "--out", str(out),
                 "--json")  # fmt: skip
    result = xling(*args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(c["label"], c["status"], c["asked"]) for c in report["cells"]] == [
        ("dense/user", "ran", 3), ("dense/pivot", "ran", 3)]  # fmt: skip
    pivot = report["cells"][1]["scores"]
    # English only: the German gold sentences are out of reach, the English one is found.
    assert (pivot["deu"]["R@2"], pivot["eng"]["R@2"]) == (0.0, 100.0)
    assert report["summary"]["baseline"] == "dense/user"
    assert {Path(p).name for p in report["summary"]["files"]} == {
        "summary.md", "summary.csv", "significance.json", "summary.png"}  # fmt: skip
    again = json.loads(xling(*args).stdout)
    assert [c["status"] for c in again["cells"]] == ["skipped", "skipped"]
    # Rendered as tables without --json.
    shown = xling(*args[:-1])
    assert shown.exit_code == 0 and "dense/pivot" in shown.stdout and "R@2" in shown.stdout


def test_a_toml_config_with_options_over_it(
    xling: Callable[..., Result], study: tuple[Path, Path], tmp_path: Path
) -> None:
    db, questions = study
    config = tmp_path / "study.toml"
    config.write_text(
        f'questions = "{questions}"\npool = "flores2"\nchroma_path = "{db}"\n'
        'recipes = ["user", "all", "balanced"]\nretrieval_only = true\nrecall_k = [1]\n',
        encoding="utf-8",
    )
    result = xling("eval", "rag", "--config", str(config), "--recipes", "all",
                   "--out", str(tmp_path / "out"), "--no-plot", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["label"] for c in report["cells"]] == ["dense/all"]
    assert report["name"] == "study"


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--recipes", "user,nearby"], "unknown recipes nearby; allowed: user, pivot, all"),
        (["--translate-query", "maybe"], "unknown --translate-query value maybe; allowed:"),
        (["--recall-k", "0"], "--recall-k 0 is not allowed; give positive integers"),
        (["--baseline", "dense/nowhere"], "baseline: no row 'dense/nowhere'; rows: dense/all"),
        (["--translate-query", "true"], "a retrieval-only study has no LLM to translate"),
        (["--relevance", "vibes"], "relevance: 'vibes'; allowed: passages, answers"),
    ],
)
def test_bad_values_exit_2_in_one_line(
    xling: Callable[..., Result], study: tuple[Path, Path], tmp_path: Path,
    more: list[str], message: str,
) -> None:  # fmt: skip
    result = xling(*_args(study, "--retrieval-only", "--out", str(tmp_path / "o"), *more))
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing ran


def test_missing_inputs_exit_2(xling: Callable[..., Result], tmp_path: Path) -> None:
    result = xling("eval", "rag", "--pool", "flores2")
    assert result.exit_code == 2
    assert "give --questions FILE and --pool NAME, or --config STUDY.toml" in result.output
    result = xling("eval", "rag", "--config", str(tmp_path / "none.toml"))
    assert result.exit_code == 2 and "file: does not exist" in result.output
