"""Retrieval fixtures: the bundled FLORES sample as one pool, embedded once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from xling.data import SAMPLE_LANGS, sample_path
from xling.embedders import Embedder
from xling.store import Pool, load_aligned


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    """An embedded folder holding the bundled FLORES sample as pool ``sample`` (e5)."""
    db = tmp_path_factory.mktemp("retrieval") / "db"
    pool = Pool.open("sample", e5, path=db)
    for lang in SAMPLE_LANGS[1:]:
        pool.index(load_aligned(sample_path("eng"), sample_path(lang), "eng", lang))
    return db


@pytest.fixture
def pool(sample_db: Path, tmp_path: Path) -> Pool:
    """A private copy of the sample pool (derived indexes written beside it are the test's)."""
    db = tmp_path / "db"
    shutil.copytree(sample_db, db)
    return Pool.open("sample", path=db, create=False)
