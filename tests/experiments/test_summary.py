"""Summaries of finished runs written with real FLORES sentences and real ICL-MT outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.experiments.run_folders import write_run
from xling.core.errors import InvalidInputError
from xling.eval import chrf
from xling.experiments import RunSpec, Summary, summarize, write_summary
from xling.experiments.summary import CSV_COLUMNS

N = 200
RANDOM = "Random/Eng_to_Fra/English_to_French_{k}_shot_seed_{seed}_template_11_Random_s2s.jsonl"


@pytest.fixture(scope="module")
def out(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, list[str]]]:
    """Runs eng-fra on the first 200 devtest sentences: random k=1 (2 seeds), a run identical
    to random seed 1, an oracle (the references), random k=10 and the 0-shot baseline."""
    flores = shared_data / "flores"
    src = (flores / "eng/devtest.txt").read_text(encoding="utf-8").split("\n")[:N]
    ref = (flores / "fra/devtest.txt").read_text(encoding="utf-8").split("\n")[:N]

    def published(k: int, seed: int) -> list[str]:
        path = shared_data / "iclmt-outputs/llama-2-7b" / RANDOM.format(k=k, seed=seed)
        return [json.loads(x)["translation"] for x in path.read_text().splitlines()[:N]]

    texts = {
        "random-1": published(1, 13),
        "random-2": published(1, 42),
        "random-k10": published(10, 13),
        "zero": published(0, 13),
        "ref": ref,
    }
    folder = tmp_path_factory.mktemp("experiment")
    for spec, hyp in (
        (RunSpec("eng", "fra", "random", 1, 1), texts["random-1"]),
        (RunSpec("eng", "fra", "random", 1, 2), texts["random-2"]),
        (RunSpec("eng", "fra", "random", 10, 1), texts["random-k10"]),
        (RunSpec("eng", "fra", "random", 0, 1), texts["zero"]),
        (
            RunSpec("eng", "fra", "s2s", 1, 1, embedder="e5-small-q4", label="same"),
            texts["random-1"],
        ),
        (RunSpec("eng", "fra", "s2s", 1, 3, embedder="e5-small-q4", label="oracle"), ref),
    ):
        write_run(folder, spec, src, ref, hyp)
    return folder, texts


@pytest.fixture(scope="module")
def summary(out: tuple[Path, dict[str, list[str]]]) -> Summary:
    return write_summary(summarize(out[0], n_samples=60, sample_size=100))


def test_table_holds_means_over_seeds(
    summary: Summary, out: tuple[Path, dict[str, list[str]]]
) -> None:
    _, texts = out
    ref = texts["ref"]
    cells = {(c.label, c.k, c.metric): c for c in summary.cells}
    one, two = chrf(texts["random-1"], ref).score, chrf(texts["random-2"], ref).score
    random_1 = cells[("random", 1, "chrf")]
    assert random_1.seeds == (1, 2)
    assert random_1.mean == pytest.approx((one + two) / 2, abs=1e-12)
    assert random_1.std == pytest.approx(abs(one - two) / 2, abs=1e-12)  # population std of 2
    assert cells[("oracle", 1, "chrf")].mean == pytest.approx(100.0)
    assert cells[("0-shot", 0, "chrf")].mean == pytest.approx(chrf(texts["zero"], ref).score)
    assert {m for _, _, m in cells} == {"chrf", "bleu"}
    assert summary.runs == 6


def test_files_csv_markdown_and_plot(summary: Summary) -> None:
    folder = summary.folder
    names = {p.name for p in summary.files}
    assert names == {"summary.md", "summary.csv", "summary.png", "significance.json"}
    assert (folder / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (folder / "summary.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    chrf_random = [r for r in rows if r["label"] == "random" and r["metric"] == "chrf"]
    assert [(r["k"], r["seeds"]) for r in chrf_random] == [("1", "1 2"), ("10", "1")]
    text = (folder / "summary.md").read_text(encoding="utf-8")
    assert "## eng-fra — chrf" in text and "| label | k=0 | k=1 | k=10 |" in text
    assert "| oracle |  | 100.00 |  |" in text
    assert "Against random" in text


def test_significance_against_random(summary: Summary) -> None:
    tests = {(c.label, c.metric): c for c in summary.comparisons}
    assert set(tests) == {(label, m) for label in ("same", "oracle") for m in ("chrf", "bleu")}
    same = tests[("same", "chrf")]
    assert (same.seed, same.baseline_seed) == (1, 1)  # paired with random's same seed
    assert same.delta == 0 and same.ci95 == (0.0, 0.0) and same.p_value == 1.0
    oracle = tests[("oracle", "chrf")]
    assert oracle.baseline_seed == 1  # random has no seed 3: its first seed
    assert oracle.p_value < 0.05 and oracle.ci95[0] > 0 and oracle.wins == 60
    assert oracle.n_samples == 60 and oracle.sample_size == 100
    saved = json.loads((summary.folder / "significance.json").read_text())
    assert len(saved["comparisons"]) == 4 and "does not score strictly higher" in saved["p_value"]


def test_summary_needs_finished_runs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no finished run"):
        summarize(tmp_path)
    with pytest.raises(InvalidInputError, match="is not a folder"):
        summarize(tmp_path / "missing")
