"""Several real processes on one embedded pool; a Chroma server that dies mid-index.

Each child process is a real ``xling`` command (or ``python -c``) sharing the session's
embedding cache, so the FLORES texts are embedded once, in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.store.pool_checks import (
    PYTHON,
    XLING,
    assert_consistent,
    precreate_pool,
    run_xling,
    subprocess_env,
)
from xling.core.errors import PoolLockedError, ServiceUnavailableError
from xling.embedders import Embedder, EmbeddingCache
from xling.retrieval import get_retriever
from xling.store import Pool, Record, load_aligned, load_lines
from xling.store.lock import LockHolder

HOLD_LOCK = (
    "import sys\n"
    "from xling.store.lock import FolderGuard\n"
    "with FolderGuard.of(sys.argv[1]).write_lock(timeout=0):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)


@pytest.fixture
def cache_dir(embedding_cache: EmbeddingCache) -> Path:
    return embedding_cache.path.parent


@pytest.fixture
def eng_fra_files(tmp_path: Path, flores: Callable[[str, str], list[str]]) -> tuple[Path, Path]:
    """150 FLORES eng-fra pairs (300 records) as two line-aligned files."""
    src, tgt = tmp_path / "eng.txt", tmp_path / "fra.txt"
    src.write_text("\n".join(flores("eng", "dev")[:150]), encoding="utf-8")
    tgt.write_text("\n".join(flores("fra", "dev")[:150]), encoding="utf-8")
    return src, tgt


def _eng_thirds(tmp_path: Path, flores: Callable[[str, str], list[str]]) -> list[Path]:
    lines = flores("eng", "dev")[:150]
    files = []
    for i in range(3):
        path = tmp_path / f"eng{i}.txt"
        path.write_text("\n".join(lines[50 * i : 50 * (i + 1)]), encoding="utf-8")
        files.append(path)
    return files


def _wait_for(path: Path, pattern: str, process: subprocess.Popen[str], limit: float = 180) -> str:
    """Waits until the file ``path`` (a child's stderr) matches ``pattern``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if re.search(pattern, text):
            return text
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in {path}: {path.read_text()!r}")


def test_two_index_processes_on_a_new_pool_take_turns(
    tmp_path: Path, e5: Embedder, cache_dir: Path, eng_fra_files: tuple[Path, Path]
) -> None:
    src, tgt = eng_fra_files
    records = load_aligned(src, tgt, "eng", "fra")
    e5.embed_documents([r.text for r in records])  # into the cache the children read
    db = tmp_path / "db"
    args = [XLING, "index", "--pool", "shared", "--src", str(src), "--src-lang", "eng",
            "--tgt", str(tgt), "--tgt-lang", "fra", "--chroma-path", str(db),
            "--batch-size", "20"]  # fmt: skip
    gate = Pool.open("shared", e5, path=db)
    logs = [tmp_path / f"err{i}.txt" for i in range(2)]
    children = []
    # Both start while this process holds the lock, so they run at the same time for sure.
    with gate.writing():
        for log in logs:
            children.append(
                subprocess.Popen(
                    args,
                    stdout=subprocess.PIPE,
                    stderr=log.open("w"),
                    text=True,
                    env=subprocess_env(cache_dir),
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
            )
        for log, child in zip(logs, children, strict=True):
            _wait_for(log, rf"waiting for the write lock on {re.escape(str(db))} held by "
                      rf"pid {os.getpid()} \([^,]+, since \d\d:\d\d\)", child)  # fmt: skip
    outputs = [child.communicate(timeout=300)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    added = sorted(int(re.search(r"(\d+) added", out).group(1)) for out in outputs)  # type: ignore[union-attr]
    assert added == [0, 300], outputs  # the second found everything written by the first
    assert_consistent(Pool.open("shared", e5, path=db), records, e5)


def test_a_writer_that_had_the_pool_open_keeps_another_writers_records(
    tmp_path: Path, e5: Embedder, cache_dir: Path, flores: Callable[[str, str], list[str]]
) -> None:
    # The index is saved every 20 records: a writer with a stale view would overwrite the
    # saves of the other one (before the fix, 50 of these 150 vectors became unreadable).
    files = _eng_thirds(tmp_path, flores)
    parts = [load_lines(f, "eng") for f in files]
    e5.embed_documents([r.text for part in parts for r in part])
    db = tmp_path / "db"
    precreate_pool(db, "stale", e5, sync_threshold=20)
    mine = Pool.open("stale", e5, path=db)
    assert mine.index(parts[0], batch_size=10).added == 50
    other = run_xling(["index", "--pool", "stale", "--src", str(files[1]), "--src-lang", "eng",
                       "--chroma-path", str(db), "--batch-size", "10"], cache_dir)  # fmt: skip
    assert other.returncode == 0 and "50 added" in other.stdout, other.stderr
    assert mine.index(parts[2], batch_size=10).added == 50
    everything = [r for part in parts for r in part]
    assert_consistent(mine, everything, e5)
    assert_consistent(Pool.open("stale", e5, path=db), everything, e5)


def test_a_reader_sees_what_another_process_added_without_restarting(
    tmp_path: Path, e5: Embedder, cache_dir: Path, flores: Callable[[str, str], list[str]]
) -> None:
    files = _eng_thirds(tmp_path, flores)[:2]
    parts = [load_lines(f, "eng") for f in files]
    e5.embed_documents([r.text for part in parts for r in part])
    db = tmp_path / "db"
    reader = Pool.open("seen", e5, path=db)
    reader.index(parts[0])
    query = parts[1][7].text
    dense = get_retriever("dense", reader)
    assert dense.retrieve([query], k=1)[0].hits[0].text != query
    added = run_xling(["index", "--pool", "seen", "--src", str(files[1]), "--src-lang", "eng",
                       "--chroma-path", str(db)], cache_dir)  # fmt: skip
    assert added.returncode == 0, added.stderr
    # Before the fix: count 100 read from SQLite, but vectors of the new records were
    # "Error finding id" and search never returned them.
    assert reader.count() == 100
    hit = dense.retrieve([query], k=1)[0].hits[0]
    assert hit.text == query and hit.score > 0.85
    records, vectors = reader.records(with_vectors=True)
    assert len(records) == 100 and vectors is not None and vectors.shape == (100, e5.dim)
    assert_consistent(reader, parts[0] + parts[1], e5)


@pytest.fixture
def held(tmp_path: Path, cache_dir: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding the write lock of ``tmp_path/db`` until its stdin closes."""
    db = tmp_path / "db"
    db.mkdir()
    holder = subprocess.Popen(
        [PYTHON, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=subprocess_env(cache_dir),
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield db, holder
    if holder.poll() is None:
        holder.kill()
        holder.wait()


def test_a_second_writer_fails_at_once_or_waits_naming_the_holder(
    tmp_path: Path,
    e5: Embedder,
    cache_dir: Path,
    held: tuple[Path, subprocess.Popen[str]],
    flores: Callable[[str, str], list[str]],
) -> None:
    db, holder = held
    src = _eng_thirds(tmp_path, flores)[0]
    records = load_lines(src, "eng")
    e5.embed_documents([r.text for r in records])
    sidecar = json.loads((db / ".xling-write.holder.json").read_text())
    assert sidecar["pid"] == holder.pid and sidecar["command"] == "python -c"
    assert sidecar["host"] == socket.gethostname()
    who = rf"pid {holder.pid} \(python -c, since \d\d:\d\d\)"
    assert re.fullmatch(who, LockHolder(**sidecar).describe())

    refused = run_xling(["index", "--pool", "busy", "--src", str(src), "--src-lang", "eng",
                         "--chroma-path", str(db), "--no-wait"], cache_dir)  # fmt: skip
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 3 and len(lines) == 1, refused.stderr
    assert re.search(rf"the pool database {re.escape(str(db))} is being written by {who}", lines[0])

    waits: list[str] = []
    pool = Pool.open("busy", e5, path=db, lock_timeout=0, on_wait=waits.append)
    with pytest.raises(PoolLockedError, match=who):
        pool.index(records)
    assert waits == [] and pool.collection is None  # nothing was written
    started = time.monotonic()
    with pytest.raises(PoolLockedError, match=rf"gave up after 0.5s waiting .* held by {who}"):
        Pool.open("busy", e5, path=db, lock_timeout=0.5, on_wait=waits.append).index(records)
    assert time.monotonic() - started >= 0.5
    assert len(waits) == 1 and re.fullmatch(
        rf"waiting for the write lock on {re.escape(str(db))} held by {who}", waits[0]
    )

    log = tmp_path / "wait.txt"
    waiting = subprocess.Popen(
        [XLING, "index", "--pool", "busy", "--src", str(src), "--src-lang", "eng",
         "--chroma-path", str(db), "--wait"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=subprocess_env(cache_dir),
    )  # fmt: skip
    _wait_for(log, rf"waiting for the write lock on {re.escape(str(db))} held by {who}", waiting)
    assert holder.stdin is not None
    holder.stdin.close()  # the holder finishes; the waiting writer goes on
    holder.wait(timeout=30)
    out, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 0 and "50 added" in out, log.read_text()
    assert Pool.open("busy", e5, path=db).count() == 50
    assert not (db / ".xling-write.holder.json").exists()


def _start_chroma(folder: Path, port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert exe, "the chroma command is missing from the venv"
    server = subprocess.Popen(
        [exe, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise AssertionError("chroma run did not start")


def test_a_server_that_dies_mid_index_is_one_line_and_a_rerun_resumes(
    tmp_path: Path, e5: Embedder, flores: Callable[[str, str], list[str]]
) -> None:
    lines = flores("eng", "dev")[:100]
    records = [Record(t, "eng", row=i, source="dev") for i, t in enumerate(lines)]
    e5.embed_documents([r.text for r in records])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_chroma(tmp_path / "served", port)
    try:
        pool = Pool.open("served", e5, url=url)

        def kill_after_two_batches(done: int, total: int) -> None:
            if done >= 50:
                server.kill()
                server.wait()

        with pytest.raises(ServiceUnavailableError) as failure:
            pool.index(records, batch_size=25, on_progress=kill_after_two_batches)
        message = str(failure.value)
        assert "\n" not in message and message.startswith(
            f"Chroma at {url} stopped answering while indexing pool 'served' ("
        )
        assert message.endswith("run it again to resume: ids come from content, so nothing is "
                                "written twice")  # fmt: skip
        with pytest.raises(ServiceUnavailableError, match=f"Chroma at {url} stopped answering"):
            get_retriever("dense", pool).retrieve(["x"], k=1)
        server = _start_chroma(tmp_path / "served", port)
        report = Pool.open("served", e5, url=url).index(records, batch_size=25)
        assert (report.added, report.skipped) == (50, 50)
        assert pool.count() == 100
    finally:
        server.kill()
        server.wait()
