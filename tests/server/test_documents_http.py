"""Documents over HTTP against a real uvicorn server, real Chroma and the bundled embedder:
upload (multipart and JSON), list, replace, delete, background jobs, caps and abuse."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import running
from xling.core.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from xling.documents import Document
from xling.embedders import Embedder
from xling.server.access import Caller
from xling.server.config import ServiceConfig
from xling.server.jobs import JobRunner
from xling.server.service import Service
from xling.server.uploads import writable_pool
from xling.store import Pool

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"
MAX_UPLOAD = 400_000
SYNC_UPLOAD = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Iterator[str]:
    """A service over an empty Chroma folder that embeds new pools with e5."""
    db = tmp_path_factory.mktemp("docs-http") / "db"
    config = ServiceConfig(chroma_path=str(db), embedders=[e5.id], max_upload_bytes=MAX_UPLOAD,
                           sync_upload_bytes=SYNC_UPLOAD, max_body_bytes=100_000)  # fmt: skip
    with running(config) as url:
        yield url


@pytest.fixture(scope="module")
def background_server(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Iterator[str]:
    """A service that ingests every upload over 1,000 bytes in the background."""
    db = tmp_path_factory.mktemp("docs-jobs") / "db"
    config = ServiceConfig(chroma_path=str(db), embedders=[e5.id], sync_upload_bytes=1000)
    with running(config) as url:
        yield url


def _upload(
    url: str, pool: str, name: str, data: bytes, kind: str | None = None, **fields: str
) -> httpx.Response:
    part = (name, data) if kind is None else (name, data, kind)
    return httpx.post(f"{url}/v1/pools/{pool}/documents", files={"file": part}, data=fields,
                      timeout=300)  # fmt: skip


def _listing(url: str, pool: str) -> dict[str, dict[str, Any]]:
    got = httpx.get(f"{url}/v1/pools/{pool}/documents", timeout=60)
    assert got.status_code == 200, got.text
    return {d["doc_id"]: d for d in got.json()["data"]}


def _healthy(url: str) -> None:
    assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


def _texts(url: str, pool: str, query: str, k: int = 50) -> list[str]:
    got = httpx.post(f"{url}/v1/retrieve", json={"queries": [query], "pool": pool, "k": k},
                     timeout=120)  # fmt: skip
    assert got.status_code == 200, got.text
    return [h["text"] for h in got.json()["results"][0]["hits"]]


def test_upload_list_reupload_replace_delete(server: str) -> None:
    pool = "manuals"
    for name in ("ch03.en.html", "ch03.en.pdf", "boot.en-ja.docx", "ch03-part.zh-cn.md"):
        got = _upload(server, pool, name, (DATA / name).read_bytes())
        assert got.status_code == 201, got.text
        body = got.json()
        assert body["status"] == "succeeded"
        assert body["doc_ids"] == [name]
        assert body["report"]["added"] == 1
        assert body["report"]["chunks_written"] > 0
    listed = _listing(server, pool)
    assert sorted(listed) == sorted(
        ["ch03.en.html", "ch03.en.pdf", "boot.en-ja.docx", "ch03-part.zh-cn.md"]
    )
    assert listed["ch03.en.pdf"]["source"] == "ch03.en.pdf"
    assert listed["ch03-part.zh-cn.md"]["title"] == "Debian 参考手册 第 3 章 系统初始化"
    assert listed["ch03-part.zh-cn.md"]["langs"][0] == "cmn"
    assert all(d["chunks"] > 0 and d["complete"] for d in listed.values())

    # The same file again changes nothing.
    again = _upload(server, pool, "ch03.en.pdf", (DATA / "ch03.en.pdf").read_bytes())
    assert again.status_code == 201, again.text
    report = again.json()["report"]
    assert (report["unchanged"], report["added"], report["updated"]) == (1, 0, 0)
    assert report["chunks_written"] == 0
    assert _listing(server, pool) == listed

    # A changed file replaces its chunks: the old sentence is gone from retrieval.
    old = "笔者将讨论范围限定在具有默认安装的典型 PC 平台上"
    md = (DATA / "ch03-part.zh-cn.md").read_text(encoding="utf-8")
    assert old in md
    assert any(old in t for t in _texts(server, pool, old))
    changed = md.replace(old, "笔者只讨论树莓派上的启动过程")
    got = _upload(server, pool, "ch03-part.zh-cn.md", changed.encode())
    assert got.status_code == 201, got.text
    assert got.json()["report"]["updated"] == 1
    hits = _texts(server, pool, old)
    assert not any(old in t for t in hits)
    assert any("笔者只讨论树莓派上的启动过程" in t for t in hits)
    after = _listing(server, pool)
    assert after["ch03-part.zh-cn.md"]["hash"] != listed["ch03-part.zh-cn.md"]["hash"]

    # Delete, then the document is gone; deleting it again is 404.
    gone = httpx.delete(f"{server}/v1/pools/{pool}/documents/boot.en-ja.docx", timeout=60)
    assert gone.status_code == 200, gone.text
    assert gone.json() == {
        "deleted": True, "doc_id": "boot.en-ja.docx", "chunks": listed["boot.en-ja.docx"]["chunks"]
    }  # fmt: skip
    assert "boot.en-ja.docx" not in _listing(server, pool)
    twice = httpx.delete(f"{server}/v1/pools/{pool}/documents/boot.en-ja.docx", timeout=60)
    assert twice.status_code == 404
    assert twice.json()["detail"] == "unknown doc_id 'boot.en-ja.docx' in pool 'manuals'"
    _healthy(server)


def test_json_upload_creates_a_pool_served_without_restart(server: str) -> None:
    pool = "fresh-pool"
    assert pool not in [p["name"] for p in httpx.get(f"{server}/v1/pools").json()["data"]]
    got = httpx.post(
        f"{server}/v1/pools/{pool}/documents",
        json={"doc_id": "note-1", "text": "The lighthouse keeper paints the door blue every May.",
              "title": "Note", "lang": "eng", "metadata": {"team": "ops"}},
        timeout=120,
    )  # fmt: skip
    assert got.status_code == 201, got.text
    pools = {p["name"]: p for p in httpx.get(f"{server}/v1/pools").json()["data"]}
    assert pools[pool]["count"] == 1
    assert pools[pool]["embedder"] == "e5-small-q4"
    hits = httpx.post(f"{server}/v1/retrieve", json={"queries": ["who paints the door?"],
                      "pool": pool, "k": 1}).json()["results"][0]["hits"]  # fmt: skip
    assert hits[0]["text"] == "The lighthouse keeper paints the door blue every May."
    assert _listing(server, pool)["note-1"]["title"] == "Note"
    # An embedder the server does not serve is refused for a new pool.
    other = httpx.post(f"{server}/v1/pools/other-pool/documents",
                       json={"doc_id": "a", "text": "x y z", "embedder": "st:nope"})  # fmt: skip
    assert other.status_code == 400
    assert "unknown model 'st:nope'" in other.json()["detail"]


def test_large_upload_runs_as_a_job(background_server: str) -> None:
    server = background_server
    data = (DATA / "ch03-part.zh-cn.md").read_bytes()
    assert len(data) > 1000
    got = _upload(server, "jobs", "ch03-part.zh-cn.md", data)
    assert got.status_code == 202, got.text
    body = got.json()
    assert body["status_url"] == f"/v1/jobs/{body['job_id']}"
    deadline = time.monotonic() + 300
    while True:
        job = httpx.get(f"{server}{body['status_url']}", timeout=10).json()
        assert job["status"] in ("queued", "running", "succeeded"), job
        if job["status"] == "succeeded" or time.monotonic() > deadline:
            break
        _healthy(server)  # the server keeps serving while the job runs
        time.sleep(0.5)
    assert job["status"] == "succeeded"
    assert job["report"]["added"] == 1
    assert job["progress"]["chunks_embedded"] == job["progress"]["chunks_total"] > 0
    assert job["doc_ids"] == ["ch03-part.zh-cn.md"]
    listed = _listing(server, "jobs")
    assert listed["ch03-part.zh-cn.md"]["chunks"] == job["report"]["chunks_written"]
    # A bad large file is refused at once, before any job.
    cut = _upload(server, "jobs", "cut.pdf", (DATA / "ch03.en.pdf").read_bytes()[:5000])
    assert cut.status_code == 422
    assert "document 'cut.pdf' is not a readable PDF" in cut.json()["detail"]
    assert _listing(server, "jobs") == listed
    unknown = httpx.get(f"{server}/v1/jobs/nope")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "unknown job 'nope'"})


def _docx_bomb(unpacked: int) -> bytes:
    """A DOCX whose document.xml inflates ``unpacked`` bytes of one repeated byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            step = b" " * (1024 * 1024)
            for _ in range(unpacked // len(step)):
                member.write(step)
    return buffer.getvalue()


def test_bad_uploads_are_refused_and_change_nothing(server: str) -> None:
    pool = "abuse"
    ok = _upload(server, pool, "thai.md", (DATA / "thai.md").read_bytes())
    assert ok.status_code == 201, ok.text
    before = _listing(server, pool)
    pdf = (DATA / "ch03.en.pdf").read_bytes()
    cases: list[tuple[httpx.Response, int, str]] = [
        (_upload(server, pool, "cut.pdf", pdf[:5000]), 422,
         "document 'cut.pdf' is not a readable PDF (corrupt or truncated"),
        (_upload(server, pool, "encrypted.pdf", (DATA / "encrypted.pdf").read_bytes()), 422,
         "document 'encrypted.pdf' is an encrypted PDF that needs a password"),
        (_upload(server, pool, "bomb.docx", _docx_bomb(300 * 1024 * 1024)), 422,
         "document 'bomb.docx' unpacks to 314572808 bytes, over the limit of 268435456"),
        (_upload(server, pool, "ratio.docx", _docx_bomb(8 * 1024 * 1024)), 422,
         "document 'ratio.docx' has a member 'word/document.xml' that unpacks"),
        (_upload(server, pool, "fake.docx", b"plain words, not a zip"), 422,
         "document 'fake.docx' is not a DOCX (not a zip file)"),
        (_upload(server, pool, "tool.exe", b"MZ\x90\x00binary", "application/octet-stream"), 422,
         "file 'tool.exe': its format is not recognised"),
        (_upload(server, pool, "a.txt", b"text", doc_id="../etc/passwd"), 422,
         "doc_id '../etc/passwd' is not allowed"),
        (_upload(server, pool, "a.txt", b"text", metadata="[1]"), 422,
         "metadata '[1]' is not a JSON object"),
        (_upload(server, "a..b", "a.txt", b"text"), 422, "pool name 'a..b' is not allowed"),
        (_upload(server, "x" * 513, "a.txt", b"text"), 422, "is not allowed; use 3-512 characters"),
        (_upload(server, pool, "big.txt", b"a " * 210_000), 413,
         "file 'big.txt' is over this server's upload cap of 400000 bytes"),
        (_upload(server, pool, "huge.txt", b"a " * 300_000), 413, "request body over 465536 bytes"),
        (httpx.post(f"{server}/v1/pools/{pool}/documents", json={"doc_id": "x", "text": " "}), 422,
         "text of 'x' is empty"),
        (httpx.post(f"{server}/v1/pools/{pool}/documents", json={"text": "no id"}), 422,
         "doc_id: Field required"),
        (httpx.post(f"{server}/v1/pools/{pool}/documents", content=b"x",
                    headers={"content-type": "text/plain"}), 422,
         "content type 'text/plain' is not accepted"),
    ]  # fmt: skip
    for response, status, detail in cases:
        assert response.status_code == status, response.text
        assert detail in response.json()["detail"], response.json()
        assert "\n" not in response.json()["detail"]
    _healthy(server)
    assert _listing(server, pool) == before
    assert "a..b" not in str(httpx.get(f"{server}/v1/pools").json())


def test_a_thousand_tiny_uploads_are_all_listed(server: str) -> None:
    pool = "tiny"
    words = ["river", "stone", "cloud", "lamp", "field", "bread", "glass", "winter"]

    def send(i: int) -> tuple[str, int]:
        doc_id = f"t{i:04d}"
        text = f"Note {i}: the {words[i % 8]} and the {words[(i * 3) % 8]} number {i}."
        with httpx.Client(timeout=120) as client:
            got = client.post(f"{server}/v1/pools/{pool}/documents",
                              json={"doc_id": doc_id, "text": text, "lang": "eng"})  # fmt: skip
        assert got.status_code in (201, 503), got.text
        return doc_id, got.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(8) as workers:
        results = list(workers.map(send, range(1000)))
    elapsed = time.monotonic() - started
    acknowledged = {d for d, status in results if status == 201}
    assert len(acknowledged) == 1000  # 8 clients never fill a queue of 64
    listed = _listing(server, pool)
    assert set(listed) == acknowledged
    assert all(d["chunks"] == 1 for d in listed.values())
    _healthy(server)
    print(f"1000 tiny uploads in {elapsed:.1f} s")


def test_concurrent_uploads_to_one_pool(server: str) -> None:
    pool = "concurrent"

    def send(i: int) -> tuple[str, int]:
        name = f"doc-{i % 12}.md"  # some ids uploaded by several threads at once
        text = f"# Doc {i % 12}\n\nParagraph about topic {i % 12} written by thread {i % 8}.\n"
        got = _upload(server, pool, name, text.encode())
        assert got.status_code in (201, 503), got.text
        return name, got.status_code

    with ThreadPoolExecutor(8) as workers:
        results = list(workers.map(send, range(48)))
    acknowledged = {name for name, status in results if status == 201}
    listed = _listing(server, pool)
    assert set(listed) == acknowledged == {f"doc-{i}.md" for i in range(12)}
    assert all(d["chunks"] == 1 and d["complete"] for d in listed.values())
    _healthy(server)


def test_write_access_is_checked(tmp_path: Path, e5: Embedder) -> None:
    config = ServiceConfig(chroma_path=str(tmp_path / "db"), embedders=[e5.id])
    service = Service(config)
    reader = Caller("reader", read=frozenset({"shared"}), write=frozenset())
    with pytest.raises(ForbiddenError, match="may read pool 'shared' but not write it"):
        writable_pool(service, "shared", reader, None)
    with pytest.raises(NotFoundError, match="unknown pool 'secret'"):
        writable_pool(service, "secret", reader, None)
    with pytest.raises(InvalidInputError, match="pool name '../x' is not allowed"):
        writable_pool(service, "../x", Caller("w"), None)
    assert writable_pool(service, "shared", Caller("w"), None).embedder.id == "e5-small-q4"


def test_job_queue_cap_and_visibility(tmp_path: Path, e5: Embedder) -> None:
    pool = Pool.open("queued", e5, path=tmp_path / "db")

    async def scenario() -> None:
        runner = JobRunner(max_queued=1)
        first = runner.submit(pool, Document("one", text="The first note."), 15, lambda _: None)
        with pytest.raises(ServiceUnavailableError, match="1 ingestion jobs are waiting"):
            runner.submit(pool, Document("two", text="The second note."), 16, lambda _: None)
        await first.ended.wait()
        assert first.status == "succeeded"
        assert first.report is not None and first.report.added == 1
        assert runner.get(first.id, Caller("any")).doc_ids == ("one",)
        stranger = Caller("stranger", read=frozenset({"other"}), write=frozenset())
        with pytest.raises(NotFoundError, match=f"unknown job '{first.id}'"):
            runner.get(first.id, stranger)

    asyncio.run(scenario())
    assert [d.doc_id for d in pool.documents()] == ["one"]
