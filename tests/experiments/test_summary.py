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
from xling.experiments.runs import RunScores, read_outputs
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
    assert {m for _, _, m in cells} == {"chrf", "copy_rate", "bleu"}
    # The references never copy the English source.
    assert cells[("oracle", 1, "copy_rate")].mean == 0.0
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
    # The copy rate is the table right after chrF++.
    assert text.index("## eng-fra — chrf") < text.index("## eng-fra — copy_rate")
    assert text.index("## eng-fra — copy_rate") < text.index("## eng-fra — bleu")
    assert "| oracle |  | 0.0 % |  |" in text
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


def test_copy_rates_of_runs_scored_before_copies_were_counted(tmp_path: Path) -> None:
    sources = ["The cat sat on the mat.", "I like tea.", "The dog runs home.", "It rains."]
    references = ["Le chat est assis.", "J'aime le thé.", "Le chien rentre.", "Il pleut."]
    copying = ["The cat sat on the mat.", "J'aime le thé.", "The dog runs home!", "Il pleut."]
    folder = write_run(tmp_path, RunSpec("eng", "fra", "random", 1, 0), sources, references,
                       copying)  # fmt: skip
    # Files as runs wrote them before copies were counted: no copies, no copied.
    old = {"n": 4, "metrics": {"chrf": 50.0, "bleu": 20.0}, "signatures": {}}
    (folder / "scores.json").write_text(json.dumps(old), encoding="utf-8")
    assert RunScores.from_dict(old).copies is None and RunScores.from_dict(old).copy_rate is None
    lines = [json.loads(x) for x in (folder / "outputs.jsonl").read_text().splitlines()]
    for line in lines:
        del line["copied"], line["redecoded"], line["raw_copy"]
    (folder / "outputs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows = read_outputs(folder / "outputs.jsonl")
    assert [r.copied for r in rows] == [True, False, True, False]  # computed on reading
    write_run(tmp_path, RunSpec("eng", "fra", "random", 1, 1), sources, references, references)
    cells = {(c.metric, c.seeds): c for c in summarize(tmp_path, n_samples=10).cells}
    rate = cells[("copy_rate", (0, 1))]
    assert (rate.mean, rate.std) == (0.25, 0.25)  # seed 0: 2 of 4 copied; seed 1: none
    assert "| random | 25.0 % ± 25.0 |" in summarize(tmp_path, n_samples=10).markdown()
