"""Documents in a pool: add, update, skip, delete, and what a killed update leaves, on real
Chroma with the bundled embedder."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError
from xling.documents import Document
from xling.embedders import Embedder
from xling.retrieval import get_retriever
from xling.store import Pool

SRC = Path(__file__).resolve().parents[2] / "src"


def _flores(shared_data: Path, lang: str, start: int, n: int) -> list[str]:
    lines = (shared_data / "flores" / lang / "dev.txt").read_text(encoding="utf-8").splitlines()
    return lines[start : start + n]


def _manual(shared_data: Path, *, change: bool = False) -> str:
    """A Markdown document of three sections, each one short paragraph of FLORES text."""
    a, b, c = (" ".join(_flores(shared_data, "eng", s, 2)) for s in (0, 10, 20))
    if change:
        b = " ".join(_flores(shared_data, "eng", 30, 2))
    sections = (("First trip", a), ("Second trip", b), ("Third trip", c))
    return "# Field notes\n\n" + "".join(f"## {title}\n\n{text}\n\n" for title, text in sections)


@pytest.fixture
def folder(tmp_path: Path, shared_data: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text(_manual(shared_data), encoding="utf-8")
    (docs / "fr.md").write_text(
        "# Notes\n\n## Voyage\n\n" + " ".join(_flores(shared_data, "fra", 40, 3)) + "\n",
        encoding="utf-8",
    )
    return docs


def _docs(folder: Path) -> list[Document]:
    return [
        Document("notes.md", path=folder / "notes.md", lang="en"),
        Document("fr.md", path=folder / "fr.md", lang="fr"),
    ]


def test_ingest_stores_chunks_with_their_document_metadata(
    tmp_path: Path, folder: Path, shared_data: Path, e5: Embedder
) -> None:
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    report = pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    # One chunk per section: each section is two FLORES sentences, well under 200 tokens.
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    assert report.chunks_written == report.chunks_embedded == 4 == pool.count()
    infos = {d.doc_id: d for d in pool.documents()}
    assert set(infos) == {"notes.md", "fr.md"}
    assert (infos["notes.md"].chunks, infos["notes.md"].title) == (3, "Field notes")
    assert infos["fr.md"].langs == ("fra",)
    digest = hashlib.sha256((folder / "notes.md").read_bytes()).hexdigest()
    assert infos["notes.md"].doc_hash == digest
    hits = get_retriever("dense", pool).retrieve(["Second trip"], k=4)[0].hits
    meta = {h.metadata["section"]: h.metadata for h in hits if h.metadata["doc_id"] == "notes.md"}
    assert set(meta) == {
        "Field notes > First trip",
        "Field notes > Second trip",
        "Field notes > Third trip",
    }
    second = meta["Field notes > Second trip"]
    assert second["chunk"] == 1 and second["source"] == str(folder / "notes.md")
    second_text = next(h.text for h in hits if h.metadata.get("chunk") == 1)
    assert second_text == " ".join(_flores(shared_data, "eng", 10, 2))


def test_reingest_skips_unchanged_and_reembeds_only_changed_chunks(
    tmp_path: Path, folder: Path, shared_data: Path, e5: Embedder
) -> None:
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    again = pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    assert (again.unchanged, again.chunks_written, again.chunks_embedded) == (2, 0, 0)

    (folder / "notes.md").write_text(_manual(shared_data, change=True), encoding="utf-8")
    changed = pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 1)
    # Three chunks rewritten (a new version), one of them embedded: the changed section.
    assert (changed.chunks_written, changed.chunks_embedded, changed.chunks_deleted) == (3, 1, 3)
    assert pool.count() == 4
    new_text = " ".join(_flores(shared_data, "eng", 30, 2))
    texts = [h.text for h in get_retriever("dense", pool).retrieve([new_text], k=4)[0].hits]
    assert new_text in texts
    old_text = " ".join(_flores(shared_data, "eng", 10, 2))
    assert old_text not in texts


def test_rechunking_with_other_options_is_an_update(
    tmp_path: Path, folder: Path, e5: Embedder
) -> None:
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    report = pool.ingest(_docs(folder), chunk_tokens=32, overlap=0)
    assert (report.updated, report.unchanged) == (2, 0)
    assert pool.count() == report.chunks_written > 4


def test_delete_matches_a_pool_built_without_the_document(
    tmp_path: Path, folder: Path, e5: Embedder
) -> None:
    both = Pool.open("both", e5, path=tmp_path / "db")
    both.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    queries = ["a trip in the field", "voyage", "What did they find on the third trip?"]
    for method in ("bm25", "margin", "dense"):
        get_retriever(method, both).retrieve(queries, k=3)  # derived indexes built before
    deleted = both.delete(["fr.md"])
    assert (deleted.documents, deleted.chunks) == (1, 1)
    assert both.count() == 3 and [d.doc_id for d in both.documents()] == ["notes.md"]
    alone = Pool.open("alone", e5, path=tmp_path / "db")
    alone.ingest(_docs(folder)[:1], chunk_tokens=200, overlap=0)
    for method in ("bm25", "margin", "dense"):
        after = get_retriever(method, both).retrieve(queries, k=3)
        fresh = get_retriever(method, alone).retrieve(queries, k=3)
        for a, f in zip(after, fresh, strict=True):
            assert [h.id for h in a.hits] == [h.id for h in f.hits]
            assert [h.score for h in a.hits] == pytest.approx([h.score for h in f.hits], abs=1e-5)


def test_delete_by_filter_and_bad_deletes(tmp_path: Path, folder: Path, e5: Embedder) -> None:
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    assert pool.delete(where={"lang": "fra"}).chunks == 1
    assert pool.count() == 3
    with pytest.raises(InvalidInputError, match=r"where=\{\} is not allowed"):
        pool.delete(where={})
    with pytest.raises(InvalidInputError, match="give exactly one of doc_ids and where"):
        pool.delete()
    assert pool.delete(["no-such-doc"]).chunks == 0


def test_sync_deletes_documents_not_given(tmp_path: Path, folder: Path, e5: Embedder) -> None:
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    report = pool.ingest(_docs(folder)[:1], chunk_tokens=200, overlap=0, sync=True)
    assert (report.unchanged, report.deleted, report.chunks_deleted) == (1, 1, 1)
    assert [d.doc_id for d in pool.documents()] == ["notes.md"]


def test_a_refused_document_writes_nothing(tmp_path: Path, folder: Path, e5: Embedder) -> None:
    (folder / "empty.md").write_text("\n\n   \n", encoding="utf-8")
    docs = [*_docs(folder), Document("empty.md", path=folder / "empty.md")]
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    with pytest.raises(InvalidInputError, match="empty.md"):
        pool.ingest(docs)
    assert pool.count() == 0
    report = pool.ingest(docs, errors="skip", chunk_tokens=200, overlap=0)
    assert report.added == 2 and [r.doc_id for r in report.refused] == ["empty.md"]
    with pytest.raises(InvalidInputError, match="given twice"):
        pool.ingest([docs[0], docs[0]])


def test_neighbours_merge_adjacent_chunks(tmp_path: Path, folder: Path, e5: Embedder) -> None:
    pool = Pool.open("docs", e5, path=tmp_path / "db")
    pool.ingest(_docs(folder)[:1], chunk_tokens=200, overlap=0)
    query = "Second trip"
    plain = get_retriever("dense", pool).retrieve([query], k=1, langs="en")[0].hits[0]
    wide = get_retriever("dense", pool).retrieve([query], k=1, langs="en", neighbours=1)[0].hits[0]
    index = plain.metadata["chunk"]
    expected = [i for i in (index - 1, index, index + 1) if 0 <= i <= 2]
    assert wide.metadata["chunks"] == expected
    assert plain.text in wide.text and len(wide.text) > len(plain.text)


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from xling.documents import Document
    from xling.store import Pool

    db, folder, when = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    pool = Pool.open("docs", "e5-small-q4", path=db)
    pool.max_batch = 2  # several upserts per document, so a kill can fall between them
    calls = {"upsert": 0}
    real = pool.committing

    from contextlib import contextmanager

    @contextmanager
    def committing():
        with real() as collection:
            upsert, delete = collection.upsert, collection.delete
            def killing_upsert(**kw):
                upsert(**kw)
                calls["upsert"] += 1
                if when == "mid-write" and calls["upsert"] == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
            def killing_delete(**kw):
                if when == "before-delete":
                    os.kill(os.getpid(), signal.SIGKILL)
                delete(**kw)
            collection.upsert, collection.delete = killing_upsert, killing_delete
            try:
                yield collection
            finally:
                collection.upsert, collection.delete = upsert, delete

    pool.committing = committing
    pool.ingest([Document("notes.md", path=folder / "notes.md", lang="en")],
                chunk_tokens=24, overlap=0)
    """
)


@pytest.mark.parametrize(("when", "kept"), [("before-delete", "new"), ("mid-write", "old")])
def test_kill_during_update_leaves_one_version_after_repair(
    tmp_path: Path, folder: Path, shared_data: Path, e5: Embedder, when: str, kept: str
) -> None:
    db = tmp_path / "db"
    pool = Pool.open("docs", e5, path=db)
    pool.ingest(_docs(folder)[:1], chunk_tokens=24, overlap=0)
    old = {h.id for h in _all_hits(pool)}
    (folder / "notes.md").write_text(_manual(shared_data, change=True), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", _KILLER, str(db), str(folder), when],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    pool = Pool.open("docs", e5, path=db)
    assert pool.count() > len(old)  # both versions, one of them maybe partial
    assert not pool.documents()[0].complete
    report = pool.verify(repair=True, sample=None)
    assert report.stale_chunks > 0 and report.ok
    after = {h.id for h in _all_hits(pool)}
    info = pool.documents()[0]
    assert info.complete
    if kept == "old":
        assert after == old
    else:
        assert not after & old
        new_text = " ".join(_flores(shared_data, "eng", 30, 2))
        assert new_text.split()[0] in " ".join(h.text for h in _all_hits(pool))


def _all_hits(pool: Pool) -> list:  # type: ignore[type-arg]
    ids, _, _, _ = pool.listing()
    return [h for h in pool.get(ids) if h is not None]


def test_bad_documents_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="doc_id '' is not allowed"):
        Document("", text="x")
    with pytest.raises(InvalidInputError, match="at most 512"):
        Document("a" * 600, text="x")
    with pytest.raises(InvalidInputError, match="exactly one of text= and path="):
        Document("a")
    with pytest.raises(InvalidInputError, match="metadata field name 'doc_id' is reserved"):
        Document("a", text="x", metadata={"doc_id": "b"})


def test_server_pool_ingests_and_deletes(chroma_url: str, folder: Path, e5: Embedder) -> None:
    pool = Pool.open("served-docs", e5, url=chroma_url)
    report = pool.ingest(_docs(folder), chunk_tokens=200, overlap=0)
    assert report.added == 2 and pool.count() == 4
    assert pool.delete(["notes.md"]).chunks == 3
    assert pool.count() == 1


def test_each_document_outcome_is_reported(tmp_path: Path, e5: Embedder) -> None:
    from xling.store.ingest import DocumentOutcome, ingest_documents

    pool = Pool.open("outcomes", e5, path=tmp_path / "db")
    first = Document("a", text="The ferry leaves at noon.", lang="en")
    pool.ingest([first])
    outcomes: list[DocumentOutcome] = []
    docs = [
        first,  # unchanged
        Document("a2", text="The ferry returns at dusk.", lang="en"),  # added, one chunk
        Document("bad", path=tmp_path / "missing.md"),  # refused
    ]
    report = ingest_documents(pool, docs, errors="skip", on_document=outcomes.append)
    assert (report.added, report.unchanged, len(report.refused)) == (1, 1, 1)
    by_id = {o.doc_id: o for o in outcomes}
    assert sorted(by_id) == ["a", "a2", "bad"]
    assert by_id["a"] == DocumentOutcome("a", "unchanged")
    assert by_id["a2"] == DocumentOutcome("a2", "added", 1, 1, 0)
    assert by_id["bad"].outcome == "refused"
    assert "missing.md" in by_id["bad"].reason and "does not exist" in by_id["bad"].reason
    changed = Document("a", text="The ferry now leaves at one.", lang="en")
    ingest_documents(pool, [changed], on_document=outcomes.append)
    assert outcomes[-1] == DocumentOutcome("a", "updated", 1, 1, 1)
