"""``xling ingest`` and ``xling docs`` on the committed real documents, with real Chroma."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

DOCS = Path(__file__).resolve().parents[1] / "data" / "documents"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of four real documents in four formats (English, Japanese, Chinese, Thai)."""
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    shutil.copy(DOCS / "ch03.en.html", docs / "guide" / "init.html")
    shutil.copy(DOCS / "boot.en-ja.docx", docs / "boot.docx")
    shutil.copy(DOCS / "ch03-part.zh-cn.md", docs / "zh.md")
    shutil.copy(DOCS / "thai.md", docs / "thai.md")
    return docs


def _ingest(xling: Callable[..., Result], db: Path, *args: str) -> Result:
    return xling("ingest", *args, "--pool", "manuals", "--chroma-path", str(db))


def _listed(xling: Callable[..., Result], db: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    result = xling("docs", "list", "--pool", "manuals", "--chroma-path", str(db), "--json")
    assert result.exit_code == 0, result.output
    return {d["doc_id"]: d for d in json.loads(result.stdout)}


def test_ingest_a_folder_then_nothing_changes(
    xling: Callable[..., Result], tmp_path: Path, folder: Path
) -> None:
    db = tmp_path / "db"
    first = _ingest(xling, db, str(folder))
    assert first.exit_code == 0, first.output
    assert "documents: 4 added, 0 updated, 0 deleted, 0 unchanged" in first.stdout
    listed = _listed(xling, db)
    assert set(listed) == {"guide/init.html", "boot.docx", "zh.md", "thai.md"}
    assert listed["zh.md"]["langs"][0] == "cmn" or listed["zh.md"]["langs"][0] == "zho"
    assert listed["thai.md"]["langs"] == ["tha"]
    assert listed["guide/init.html"]["title"].startswith("Chapter 3")
    again = _ingest(xling, db, str(folder))
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 0 deleted, 4 unchanged; 0 chunks written" in again.stdout


def test_sync_deletes_the_documents_of_removed_files(
    xling: Callable[..., Result], tmp_path: Path, folder: Path
) -> None:
    db = tmp_path / "db"
    assert _ingest(xling, db, str(folder)).exit_code == 0
    (folder / "thai.md").unlink()
    synced = _ingest(xling, db, str(folder), "--sync")
    assert synced.exit_code == 0, synced.output
    assert "0 added, 0 updated, 1 deleted, 3 unchanged" in synced.stdout
    assert set(_listed(xling, db)) == {"guide/init.html", "boot.docx", "zh.md"}


def test_refused_files_are_named_and_the_rest_is_ingested(
    xling: Callable[..., Result], tmp_path: Path, folder: Path
) -> None:
    shutil.copy(DOCS / "encrypted.pdf", folder / "locked.pdf")
    (folder / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    db = tmp_path / "db"
    result = _ingest(xling, db, str(folder))
    assert result.exit_code == 4, result.output
    assert "refused" in result.stderr and "locked.pdf" in result.stderr
    assert "encrypted" in result.stderr
    assert "blob.txt" in result.stderr and "photo.png" in result.stderr
    assert "4 added" in result.stdout and "3 refused" in result.stdout
    assert set(_listed(xling, db)) == {"guide/init.html", "boot.docx", "zh.md", "thai.md"}


def test_all_files_refused_is_exit_2_and_writes_nothing(
    xling: Callable[..., Result], tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(DOCS / "encrypted.pdf", bad / "locked.pdf")
    (bad / "empty.md").write_text("   \n", encoding="utf-8")
    db = tmp_path / "db"
    result = _ingest(xling, db, str(bad))
    assert result.exit_code == 2, result.output
    assert "2 refused" in result.stdout
    listed = xling("docs", "list", "--pool", "manuals", "--chroma-path", str(db))
    assert listed.exit_code == 2 and "does not exist" in listed.stderr


def test_include_exclude_and_a_missing_path(
    xling: Callable[..., Result], tmp_path: Path, folder: Path
) -> None:
    db = tmp_path / "db"
    result = _ingest(xling, db, str(folder), "--include", "*.md", "--exclude", "thai.md")
    assert result.exit_code == 0, result.output
    assert set(_listed(xling, db)) == {"zh.md"}
    missing = _ingest(xling, db, str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert "nowhere' is neither a file nor a folder" in missing.stderr


def test_docs_delete_by_id_and_by_filter(
    xling: Callable[..., Result], tmp_path: Path, folder: Path
) -> None:
    db = tmp_path / "db"
    assert _ingest(xling, db, str(folder)).exit_code == 0
    where = ["--pool", "manuals", "--chroma-path", str(db)]
    by_id = xling("docs", "delete", *where, "--doc", "zh.md")
    assert by_id.exit_code == 0, by_id.output
    assert "deleted 1 documents" in by_id.stdout
    by_filter = xling("docs", "delete", *where, "--where", '{"lang": "tha"}')
    assert by_filter.exit_code == 0 and "deleted 1 documents" in by_filter.stdout
    assert set(_listed(xling, db)) == {"guide/init.html", "boot.docx"}
    both = xling("docs", "delete", *where, "--doc", "x", "--where", '{"lang": "tha"}')
    assert both.exit_code == 2 and "not both" in both.stderr
    bad_json = xling("docs", "delete", *where, "--where", "{lang")
    assert bad_json.exit_code == 2 and "--where" in bad_json.stderr


def test_retrieve_carries_chunk_metadata_and_neighbours(
    xling: Callable[..., Result], tmp_path: Path, folder: Path
) -> None:
    db = tmp_path / "db"
    assert _ingest(xling, db, str(folder / "guide")).exit_code == 0
    queries = tmp_path / "q.txt"
    queries.write_text("How do I see the messages of the boot process?\n", encoding="utf-8")
    args = ["--pool", "manuals", "--chroma-path", str(db), "--queries", str(queries), "-k", "2"]
    plain = json.loads(xling("retrieve", *args).stdout)
    hit = plain["hits"][0]
    meta = hit["metadata"]
    assert meta["doc_id"] == "init.html" and meta["section"]
    assert meta["title"].startswith("Chapter 3")
    assert {"start", "end", "chunk", "doc_hash", "source"} <= set(meta)
    wide = json.loads(xling("retrieve", *args, "--neighbours", "1").stdout)["hits"][0]
    assert wide["id"] == hit["id"]
    assert hit["text"] in wide["text"] and len(wide["text"]) > len(hit["text"])
    assert meta["chunk"] in wide["metadata"]["chunks"]


@pytest.mark.vllm
def test_ask_over_documents_cites_title_and_section(
    xling: Callable[..., Result], tmp_path: Path, folder: Path, llm_target: tuple[str, str]
) -> None:
    db = tmp_path / "db"
    assert _ingest(xling, db, str(folder / "guide")).exit_code == 0
    out = tmp_path / "answers.jsonl"
    args = ["--pool", "manuals", "--chroma-path", str(db), "--url", llm_target[0]]
    asked = xling("ask", "How does systemd start the system?", *args, "-k", "2", "--out", str(out))
    assert asked.exit_code == 0, asked.output
    answer = json.loads(out.read_text("utf-8"))
    for passage in answer["passages"]:
        assert passage["metadata"]["doc_id"] == "init.html"
        assert passage["metadata"]["title"].startswith("Chapter 3")
    cited = {p["id"]: p["metadata"] for p in answer["passages"] if p["id"] in answer["citations"]}
    assert [s["section"] for s in answer["sources"]] == list(
        dict.fromkeys(cited[c]["section"] for c in answer["citations"] if c in cited)
    )
    shown = xling("ask", "How does systemd start the system?", *args, "-k", "2")
    assert shown.exit_code == 0, shown.output
    assert "Chapter 3" in shown.stdout  # each passage is shown with its title and section
