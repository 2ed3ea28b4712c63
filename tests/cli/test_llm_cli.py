"""``xling llm``: every command takes the embedded model, and a bad name is refused first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

KNOWN = "use one of: smollm2-135m-instruct, gemma3-270m"


@pytest.mark.parametrize(
    "args",
    [
        ("llm", "prepare", "--model", "llama-2-7b"),
        ("llm", "prepare", "--model", "gemma3-270m", "--model", "llama-2-7b"),
        ("llm", "serve", "--model", "llama-2-7b"),
        ("llm", "stop", "--port", "18097", "--model", "llama-2-7b"),
        ("demo", "--model", "llama-2-7b"),
    ],
)
def test_an_unknown_embedded_model_exits_2_naming_the_known_ones(
    xling: Callable[..., Result], args: tuple[str, ...]
) -> None:
    result = xling(*args)
    assert result.exit_code == 2
    assert f"embedded model 'llama-2-7b' is not known; {KNOWN}" in result.output


def test_models_lists_each_model_with_its_use(xling: Callable[..., Result]) -> None:
    result = xling("llm", "models")
    assert result.exit_code == 0
    lines = " ".join(result.output.split())  # rich wraps long lines
    assert "smollm2-135m-instruct: SmolLM2-135M-Instruct" in lines
    assert "gemma3-270m: Gemma 3 270M base (140 languages)" in lines
    assert "(base model, Gemma Terms of Use" in lines and "default for mt" in lines


def test_experiment_and_rag_study_refuse_an_unknown_model_before_running(
    xling: Callable[..., Result], tmp_path: Path
) -> None:
    config = tmp_path / "grid.toml"
    config.write_text('name = "g"\ndirections = ["eng-fra"]\nstrategies = ["random"]\n')
    result = xling("experiment", "run", str(config), "--model", "llama-2-7b",
                   "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.exit_code == 2 and KNOWN in result.output
    assert not (tmp_path / "out").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text() + '[llm]\nembedded = "llama-2-7b"\n')
    result = xling("experiment", "run", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "llm.embedded: 'llama-2-7b' is not an embedded model" in " ".join(result.output.split())
