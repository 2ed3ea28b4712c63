"""The ICL-MT layout: names both ways, method table, atomic writes and score-file merging."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from xling.core import files
from xling.core.errors import InvalidInputError
from xling.experiments import RunSpec, ScoreEntry, iclmt_method, iclmt_run, merge_scores
from xling.experiments.iclmt_layout import (
    IclmtRun,
    embedder_method,
    iclmt_direction,
    read_generations,
    write_generations,
    write_iclmt_outputs,
    write_iclmt_scores,
)

PUBLISHED = "English_to_French_10_shot_seed_42_template_11_Random_s2s.jsonl"


def test_a_random_run_gets_iclmt_s_published_name() -> None:
    run = iclmt_run(RunSpec("eng", "fra", "random", 10, seed=42))
    assert run.path == Path("Random/Eng_to_Fra") / PUBLISHED
    assert IclmtRun.parse(PUBLISHED, "Eng_to_Fra") == run


@pytest.mark.parametrize(
    ("spec", "method", "variant"),
    [
        (
            RunSpec("eng", "swh", "s2s", 1, 122, embedder="st:sentence-transformers/LaBSE"),
            "LaBSE",
            "s2s",
        ),
        (
            RunSpec("eng", "swh", "s2t", 5, 122, embedder="hf:intfloat/multilingual-e5-large"),
            "E5",
            "s2t",
        ),
        (RunSpec("eng", "wol", "mix", 5, 122, embedder="facebook/SONAR"), "SONAR", "mix"),
        # Unknown embedders keep their own model name: never posing as one of ICL-MT's.
        (RunSpec("eng", "fra", "s2s", 2, embedder="e5-small-q4"), "e5-small-q4", "s2s"),
        (
            RunSpec("eng", "fra", "s2s", 2, embedder="st:intfloat/multilingual-e5-small?x=1"),
            "multilingual-e5-small",
            "s2s",
        ),
        (RunSpec("eng", "fra", "mmr", 2, embedder="e5-small-q4"), "e5-small-q4+mmr", "s2s"),
        (RunSpec("eng", "fra", "bm25", 2), "bm25", "s2s"),
        (RunSpec("eng", "fra", "r-bm25", 2), "RBM25", "s2s"),
        # Every 0-shot run is ICL-MT's Random k=0.
        (RunSpec("eng", "fra", "s2s", 0, embedder="e5-small-q4"), "Random", "s2s"),
    ],
)
def test_method_table(spec: RunSpec, method: str, variant: str) -> None:
    assert iclmt_method(spec) == (method, variant)


def test_method_overrides_and_refusals() -> None:
    assert embedder_method("e5-small-q4", {"e5-small-q4": "E5small"}) == "E5small"
    with pytest.raises(InvalidInputError, match="needs an embedder"):
        iclmt_method(RunSpec("eng", "fra", "s2s", 1))
    with pytest.raises(InvalidInputError, match="no ICL-MT number"):
        iclmt_run(RunSpec("eng", "fra", "random", 1, template="chat"))


@pytest.mark.parametrize(
    "spec",
    [
        RunSpec("eng", "swh", "random", 0, 13, template="icl-mt-7"),
        RunSpec("fra", "eng", "s2t", 20, 122, embedder="st:sentence-transformers/LaBSE"),
        RunSpec("eng", "npi", "bm25", 5, 1),
        RunSpec("eng", "ita", "s2s", 3, 2, embedder="e5-small-q4"),  # a name not in the table
    ],
)
def test_file_name_round_trip(spec: RunSpec) -> None:
    run = iclmt_run(spec)
    assert IclmtRun.parse(run.filename, run.direction) == run


def test_parsing_method_names_with_underscores_and_bad_names() -> None:
    run = IclmtRun.parse(
        "German_to_English_5_shot_seed_122_template_11_BLEU_pos_s2s.jsonl", "Deu_to_Eng"
    )
    assert (run.src, run.tgt, run.method, run.variant, run.k) == (
        "deu",
        "eng",
        "BLEU_pos",
        "s2s",
        5,
    )
    with pytest.raises(InvalidInputError, match="not an ICL-MT generation file name"):
        IclmtRun.parse("5_shot_seed_122_bm25_s2s.jsonl", "Eng_to_Fra")
    with pytest.raises(InvalidInputError, match="names German but sits in Eng_to_Fra"):
        IclmtRun.parse(PUBLISHED.replace("English", "German"), "Eng_to_Fra")
    assert iclmt_direction("en", "swh_Latn") == "Eng_to_Swh"


def test_outputs_are_written_as_iclmt_lines(tmp_path: Path) -> None:
    spec = RunSpec("eng", "fra", "random", 1, seed=13)
    path = write_iclmt_outputs(tmp_path, spec, ["Déjà vu", ""])
    assert path == tmp_path / "Random/Eng_to_Fra" / PUBLISHED.replace("10", "1").replace("42", "13")
    # json.dumps defaults, as ICL-MT's main.py writes them (ASCII escapes).
    assert (
        path.read_text(encoding="utf-8")
        == '{"translation": "D\\u00e9j\\u00e0 vu"}\n{"translation": ""}\n'
    )
    assert read_generations(path) == ["Déjà vu", ""]


def test_writing_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_generations(path, ["old"])
    with pytest.raises(InvalidInputError, match=r"translations\[1\]"):
        write_generations(path, ["new", None, "never"])  # type: ignore[list-item]
    assert read_generations(path) == ["old"]  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["run.jsonl"]  # no temporary left behind
    fresh = tmp_path / "sub" / "fresh.jsonl"
    with pytest.raises(InvalidInputError):
        write_generations(fresh, [1])  # type: ignore[list-item]
    assert not fresh.exists()


def test_a_failed_rename_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.jsonl"
    write_generations(path, ["old"])

    def broken(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_generations(path, ["new"] * 1000)
    assert read_generations(path) == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.jsonl"]


def test_random_scores_become_mean_and_population_std() -> None:
    entries = [
        ScoreEntry("chrf", "Random", "s2s", 1, seed, v)
        for seed, v in ((13, 60.0), (42, 61.0), (122, 62.0))
    ]
    existing = {"Random": {"s2s": {"5": {"mean": 1.0, "std": 0.0}}}, "SONAR": {"s2s": {"1": 9.0}}}
    merged = merge_scores(existing, "chrf", entries)
    # mean 61; population std sqrt(((-1)² + 0² + 1²) / 3) = sqrt(2/3) ≈ 0.8165 (np.std, ddof 0:
    # what ICL-MT publishes; the sample std would be 1.0).
    assert merged["Random"]["s2s"]["1"] == {"mean": 61.0, "std": math.sqrt(2 / 3)}
    assert merged["Random"]["s2s"]["5"] == {"mean": 1.0, "std": 0.0}  # kept
    assert merged["SONAR"] == {"s2s": {"1": 9.0}}  # kept
    assert "1" not in existing["Random"]["s2s"]  # the input is not modified


def test_comet_random_scores_stay_per_seed_and_merge() -> None:
    existing = {"Random": {"s2s": {"1": {"13": 0.5, "42": 0.6}}}}
    merged = merge_scores(
        existing,
        "comet",
        [
            ScoreEntry("comet", "Random", "s2s", 1, 42, 0.7),
            ScoreEntry("comet", "LaBSE", "s2s", 1, 122, 0.8),
        ],
    )
    assert merged == {
        "Random": {"s2s": {"1": {"13": 0.5, "42": 0.7}}},
        "LaBSE": {"s2s": {"1": 0.8}},
    }
    with pytest.raises(InvalidInputError, match="a bleu score"):
        merge_scores({}, "chrf", [ScoreEntry("bleu", "Random", "s2s", 1, 1, 1.0)])


def test_score_files_go_to_iclmt_folders(tmp_path: Path) -> None:
    entries = [
        ScoreEntry("chrf", "SONAR", "s2s", 1, 122, 50.0),
        ScoreEntry("lacomet", "SONAR", "s2s", 1, 122, 0.5),
    ]
    written = write_iclmt_scores(tmp_path, "Eng_to_Swh", entries)
    assert written == [
        tmp_path / "chrf_scores/Eng_to_Swh_scores.json",
        tmp_path / "comet_la_scores/Eng_to_Swh_scores.json",
    ]
    assert json.loads(written[1].read_text()) == {"SONAR": {"s2s": {"1": 0.5}}}
    with pytest.raises(InvalidInputError, match="keeps no 'rouge' scores"):
        write_iclmt_scores(tmp_path, "Eng_to_Swh", [ScoreEntry("rouge", "X", "s2s", 1, 1, 1.0)])
