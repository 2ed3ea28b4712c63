"""Atomic writes: the whole new file or the old one, never a part, and no temporary left."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from xling.core.files import write_atomic, write_json_atomic


def test_text_bytes_and_json_land_whole(tmp_path: Path) -> None:
    write_atomic(tmp_path / "sub" / "a.txt", "héllo\nwörld\n")
    assert (tmp_path / "sub" / "a.txt").read_bytes() == "héllo\nwörld\n".encode()
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    write_json_atomic(tmp_path / "c.json", {"ß": [1, 2]}, indent=None)
    assert (tmp_path / "c.json").read_text(encoding="utf-8") == '{"ß": [1, 2]}\n'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "c.json", "sub"]


def test_a_writer_function_gets_a_name_with_the_suffix(tmp_path: Path) -> None:
    # np.savez appends ".npz" to a name without it: the temporary name must keep the suffix.
    path = tmp_path / "v.npz"
    write_atomic(path, lambda tmp: np.savez(tmp, x=np.arange(3)))
    with np.load(path) as data:
        assert data["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["v.npz"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "keep.txt"
    path.write_text("old", encoding="utf-8")

    def fail(tmp: Path) -> None:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_mode_of_the_replaced_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("x", encoding="utf-8")
    os.chmod(path, 0o640)
    write_atomic(path, "y")
    assert path.stat().st_mode & 0o777 == 0o640
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.txt", "z")
    finally:
        os.umask(umask)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644
