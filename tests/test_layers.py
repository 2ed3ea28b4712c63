"""The folders are the layers: every module of xling sits in a package named in the contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "xling"


def _layers() -> list[list[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layered,) = [c for c in contracts if c["type"] == "layers"]
    return [re.split(r"\s*[|:]\s*", line.strip()) for line in layered["layers"]]


def _top_level_names() -> set[str]:
    names = set()
    for path in PACKAGE.iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            names.add(path.name)
        elif path.suffix == ".py" and path.name != "__init__.py":
            names.add(path.stem)
    return names


def test_layer_lines_name_packages_not_modules() -> None:
    for entries in _layers():
        for entry in entries:
            assert re.fullmatch(r"[a-z_]+", entry), f"layer entry {entry!r} is not one package"
            assert (PACKAGE / entry / "__init__.py").exists(), f"{entry!r} is not a package"


def test_every_module_belongs_to_a_layer() -> None:
    layered = {entry for entries in _layers() for entry in entries}
    stray = sorted(_top_level_names() - layered)
    assert not stray, f"modules of xling in no layer of the contract: {stray}"


def test_a_stray_module_would_be_found(tmp_path: Path) -> None:
    # The walk sees both forms a new module can take (a file and a package).
    assert {"core", "store", "retrieval", "rag"} <= _top_level_names()
    assert "__init__" not in _top_level_names()
