"""``xling ingest --ray``: the ingest as a Ray Data job on a local Ray cluster this module starts
(``ray start --head``, 2 CPUs) into a real ``chroma run`` server, compared with the local ingest
of the same documents."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from tests.conftest import free_port
from xling.cli.app import _register, app
from xling.core.errors import InvalidInputError, MissingDependencyError
from xling.documents import Document
from xling.documents.files import find_documents
from xling.embedders import Embedder
from xling.store import Pool
from xling.store.documents import WRITTEN_KEY
from xling.store.ingest import DocumentOutcome
from xling.store.ray_ingest import ingest_with_ray

DOCS = Path(__file__).resolve().parents[1] / "data" / "documents"


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Ray cluster (head node only, 2 CPUs, a small object store) on loopback, stopped
    at the end by its own process id."""
    import ray

    exe = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    assert exe, "the ray command is missing from the venv: pip install 'xling[ray]'"
    port = free_port()
    log_path = tmp_path_factory.mktemp("ray") / "ray.log"
    ports = ("--port", str(port), "--ray-client-server-port", str(free_port()),
             "--dashboard-port", str(free_port()), "--dashboard-agent-listen-port",
             str(free_port()))  # fmt: skip
    with pytest.MonkeyPatch.context() as env, open(log_path, "wb") as log:
        # A loopback test cluster: neither it nor its driver (this process) uses a token.
        env.setenv("RAY_AUTH_MODE", "disabled")
        env.setenv("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")  # stop at once at the end
        process = subprocess.Popen(
            [exe, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", *ports,
             "--num-cpus", "2", "--object-store-memory", str(400 * 1024**2),
             "--include-dashboard=false", "--disable-usage-stats"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"ray start failed; see {log_path}")
            time.sleep(0.3)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            if ray.is_initialized():
                ray.shutdown()
            process.terminate()  # --block: the head's own processes stop with it
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def _xling(*args: str) -> Result:
    """Runs ``xling ARGS...`` in-process."""
    _register()
    return CliRunner().invoke(app, list(args))


def _flores(shared_data: Path, lang: str, start: int, n: int) -> str:
    lines = (shared_data / "flores" / lang / "dev.txt").read_text(encoding="utf-8").splitlines()
    return " ".join(lines[start : start + n])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Real multilingual documents: two committed ones (Chinese Markdown, Thai) and Markdown
    notes of FLORES sentences in four languages, some of several chunks."""
    docs = tmp_path_factory.mktemp("docs")
    for name in ("ch03-part.zh-cn.md", "thai.md"):
        shutil.copy(DOCS / name, docs / name)
    for i, lang in enumerate(("eng", "fra", "deu", "swh", "eng", "fra")):
        sections = "".join(
            f"## Part {s}\n\n{_flores(shared_data, lang, 40 * i + 8 * s, 4)}\n\n" for s in range(3)
        )
        (docs / f"notes-{i}.{lang}.md").write_text(f"# Notes {i}\n\n{sections}", encoding="utf-8")
    return docs


def _documents(folder: Path) -> list[Document]:
    return find_documents([folder])


def _stored(pool: Pool) -> dict[str, tuple[str, dict[str, Any], np.ndarray]]:
    collection = pool.collection
    got = collection.get(include=["documents", "metadatas", "embeddings"])
    stored = {}
    for rid, text, meta, vector in zip(got["ids"], got["documents"], got["metadatas"],
                                       got["embeddings"], strict=True):  # fmt: skip
        meta = {k: v for k, v in meta.items() if k != WRITTEN_KEY}
        stored[rid] = (text, meta, np.asarray(vector, dtype=np.float32))
    return stored


def _assert_same_pool(pool: Pool, reference: Pool) -> None:
    got, want = _stored(pool), _stored(reference)
    assert sorted(got) == sorted(want)
    for rid, (text, meta, vector) in want.items():
        assert got[rid][0] == text
        assert got[rid][1] == meta
        np.testing.assert_allclose(got[rid][2], vector, atol=1e-5)


CHUNKING = {"chunk_tokens": 96, "overlap": 0}


@pytest.fixture(scope="module")
def local_pool(folder: Path, chroma_url: str, e5: Embedder) -> Pool:
    """The reference: the same documents ingested by the local (one-process) ingest."""
    pool = Pool.open("ray-reference", e5, url=chroma_url)
    report = pool.ingest(_documents(folder), **CHUNKING)
    assert report.added == 8 and report.chunks_written == pool.count() > 8
    return pool


def test_cli_ingest_with_ray_equals_the_local_ingest_and_reports_refused_files(
    folder: Path,
    tmp_path: Path,
    chroma_url: str,
    e5: Embedder,
    ray_address: str,
    local_pool: Pool,
) -> None:
    from xling.documents.chunking import Chunker

    bad = tmp_path / "table.xyz"
    bad.write_text("not a supported format", encoding="utf-8")
    args = ["ingest", str(folder), str(bad), "--pool", "ray-cli", "--chroma-url", chroma_url,
            "--embedder", "e5-small-q4", "--chunk-tokens", "96", "--overlap", "0", "--ray",
            "--ray-address", ray_address, "--ray-actors", "2"]  # fmt: skip
    result = _xling(*args)
    assert result.exit_code == 4, result.output  # one file refused, the rest ingested
    assert re.search(r"warning: refused \S*table\.xyz: .*xyz", result.output)
    assert f"documents: 8 added, 0 updated, 0 deleted, 0 unchanged; {local_pool.count()} chunks " \
        f"written ({local_pool.count()} embedded), 0 deleted" in result.output  # fmt: skip
    pool = Pool.open("ray-cli", e5, url=chroma_url)
    _assert_same_pool(pool, local_pool)

    # The library's entry point, run again: every document is unchanged, nothing is embedded.
    again = ingest_with_ray(pool, _documents(folder), chunker=Chunker(e5, **CHUNKING),
                            address=ray_address)  # fmt: skip
    assert (again.unchanged, again.chunks_written, again.chunks_embedded) == (8, 0, 0)


def test_an_interrupted_job_resumes_and_embeds_only_what_is_missing(
    folder: Path, chroma_url: str, e5: Embedder, ray_address: str, local_pool: Pool
) -> None:
    from xling.documents.chunking import Chunker

    pool = Pool.open("ray-resumed", e5, url=chroma_url)
    chunker = Chunker(e5, **CHUNKING)
    seen: list[str] = []

    class Interrupted(Exception):
        pass

    def stop(outcome: DocumentOutcome) -> None:
        seen.append(outcome.doc_id)
        raise Interrupted  # the driver stops at the first document written

    with pytest.raises(Interrupted):
        ingest_with_ray(pool, _documents(folder), chunker=chunker, address=ray_address,
                        documents_per_batch=1, on_document=stop)  # fmt: skip
    stored = _settled_count(pool)
    assert 0 < stored < local_pool.count()
    infos = pool.documents()
    assert seen[0] in {info.doc_id for info in infos}
    assert all(info.complete for info in infos)  # each document was written whole

    resumed = ingest_with_ray(pool, _documents(folder), chunker=chunker, address=ray_address)
    assert resumed.unchanged == len(infos) and resumed.added == 8 - len(infos)
    assert resumed.chunks_embedded == resumed.chunks_written == local_pool.count() - stored
    _assert_same_pool(pool, local_pool)


def _settled_count(pool: Pool) -> int:
    """The pool's count once no write of the stopped job lands any more."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 3:
        count = pool.count()
        if count != last:
            last, since = count, time.monotonic()
        time.sleep(0.3)
    return last


def test_ray_refuses_an_embedded_folder_and_stray_options(tmp_path: Path, e5: Embedder) -> None:
    db = tmp_path / "db"
    args = ["ingest", str(DOCS / "thai.md"), "--pool", "p-ray", "--chroma-path", str(db), "--ray"]
    result = _xling(*args)
    assert result.exit_code == 2
    assert re.search(r"error: --ray writes from Ray workers .* give --chroma-url", result.output)
    assert not db.exists()  # refused before anything was made
    stray = ["ingest", str(DOCS / "thai.md"), "--pool", "p-ray", "--ray-actors", "2"]
    result = _xling(*stray)
    assert result.exit_code == 2 and "need --ray" in result.output

    pool = Pool.open("p-ray", e5, path=db)
    with pytest.raises(InvalidInputError, match="embedded Chroma folder .* cannot be written"):
        ingest_with_ray(pool, [Document("t", text="Habari ya asubuhi.", lang="sw")])
    with pytest.raises(InvalidInputError, match="actors=0 is not allowed"):
        ingest_with_ray(pool, [], actors=0)


def test_without_ray_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, chroma_url: str, e5: Embedder
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    pool = Pool.open("ray-missing", e5, url=chroma_url)
    with pytest.raises(MissingDependencyError, match=r"pip install 'xling\[ray\]'"):
        ingest_with_ray(pool, [Document("t", text="Habari ya asubuhi.", lang="sw")])
