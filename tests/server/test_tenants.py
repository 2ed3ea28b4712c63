"""Tenants: a TOML key file grants each key the pools it may read and write; what each key
sees, the 404/403 split, the plain key file, bad key files, and per-key metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.server.conftest import running
from tests.server.metadata_pools import build_db
from tests.server.test_serve_process import _wait_healthy
from xling.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from xling.embedders import Embedder
from xling.server.config import ServiceConfig, read_api_keys

XLING = str(Path(sys.executable).with_name("xling"))

KEYS_TOML = """
[[key]]
key = "k-all"
read = ["*"]
write = ["*"]

[[key]]
key = "k-ro-docs"
read = ["docs"]

[[key]]
key = "k-rw-faq"
read = ["faq"]
write = ["faq"]
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    return build_db(tmp_path_factory.mktemp("tenants") / "db", e5)


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    path.write_text(KEYS_TOML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def url(db: Path, keys_file: Path) -> object:
    keys = read_api_keys(keys_file)
    config = ServiceConfig(chroma_path=str(db), api_keys=keys.plain, api_grants=keys.grants)
    with running(config) as base:
        yield base


def get(url: str, path: str, key: str) -> httpx.Response:
    return httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=60)


def retrieve(url: str, pool: str, key: str) -> httpx.Response:
    body = {"queries": ["tea"], "pool": pool, "k": 1}
    return httpx.post(f"{url}/v1/retrieve", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip


@pytest.mark.parametrize(
    ("key", "pools"),
    [("k-all", ["docs", "faq", "private"]), ("k-ro-docs", ["docs"]), ("k-rw-faq", ["faq"])],
)
def test_each_key_lists_only_its_pools(url: str, key: str, pools: list[str]) -> None:
    listed = get(url, "/v1/pools", key)
    assert listed.status_code == 200
    assert sorted(p["name"] for p in listed.json()["data"]) == pools


def test_a_pool_the_key_may_not_read_is_404_and_not_named(url: str) -> None:
    assert retrieve(url, "docs", "k-ro-docs").status_code == 200
    hidden = retrieve(url, "private", "k-ro-docs")
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == "unknown pool 'private'; served pools: docs"
    assert "faq" not in hidden.text
    assert retrieve(url, "private", "k-all").status_code == 200
    # The default pool of a key is the first it may read.
    body = {"queries": ["tea"], "k": 1}
    first = httpx.post(f"{url}/v1/retrieve", json=body, timeout=60,
                       headers={"Authorization": "Bearer k-rw-faq"})  # fmt: skip
    assert first.json()["pool"] == "faq"


def test_select_examples_honours_the_key(url: str) -> None:
    body = {"queries": ["x"], "pool": "private", "src": "eng", "tgt": "fra"}
    select = httpx.post(f"{url}/v1/select-examples", json=body, timeout=60,
                        headers={"Authorization": "Bearer k-ro-docs"})  # fmt: skip
    assert select.status_code == 404


@pytest.mark.vllm
def test_answer_honours_the_key(db: Path, keys_file: Path, llm_target: tuple[str, str]) -> None:
    keys = read_api_keys(keys_file)
    config = ServiceConfig(chroma_path=str(db), api_grants=keys.grants, llm_urls=[llm_target[0]])
    with running(config) as base:
        answer = httpx.post(f"{base}/v1/answer", json={"question": "tea?", "pool": "faq"},
                            headers={"Authorization": "Bearer k-ro-docs"}, timeout=60)  # fmt: skip
        assert answer.status_code == 404
        assert answer.json()["detail"] == "unknown pool 'faq'; served pools: docs"


def test_read_only_key_may_not_write_and_unreadable_stays_hidden(keys_file: Path) -> None:
    grants = {g.read: g for g in read_api_keys(keys_file).grants}
    read_only = grants[frozenset({"docs"})].caller()
    with pytest.raises(ForbiddenError, match="may read pool 'docs' but not write it"):
        read_only.check_write("docs")
    with pytest.raises(NotFoundError):
        read_only.check_write("faq")
    grants[frozenset({"faq"})].caller().check_write("faq")  # read+write: allowed
    assert "k-ro-docs" not in repr(grants[frozenset({"docs"})])


def test_writes_over_http_follow_the_grants(url: str) -> None:
    def send(method: str, path: str, key: str, **kw: object) -> httpx.Response:
        return httpx.request(method, f"{url}{path}", timeout=120,
                             headers={"Authorization": f"Bearer {key}"}, **kw)  # type: ignore[arg-type]  # fmt: skip

    doc = {"doc_id": "tenants/new.txt", "text": "Green tea is steeped at 80 degrees.",
           "lang": "eng"}  # fmt: skip
    refused = send("POST", "/v1/pools/docs/documents", "k-ro-docs", json=doc)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this API key may read pool 'docs' but not write it"
    hidden = send("POST", "/v1/pools/faq/documents", "k-ro-docs", json=doc)
    assert hidden.status_code == 404 and "faq" in hidden.json()["detail"]
    assert "private" not in hidden.text
    # A new pool the key may not write is not created either.
    assert send("POST", "/v1/pools/tenant-new/documents", "k-rw-faq", json=doc).status_code == 404
    assert "tenant-new" not in get(url, "/v1/pools", "k-all").text
    added = send("POST", "/v1/pools/faq/documents", "k-rw-faq", json=doc)
    assert added.status_code == 201, added.text
    listed = send("GET", "/v1/pools/faq/documents", "k-rw-faq").json()["data"]
    assert "tenants/new.txt" in [d["doc_id"] for d in listed]
    assert send("DELETE", "/v1/pools/docs/documents/x.txt", "k-ro-docs").status_code == 403
    assert send("GET", "/v1/pools/faq/documents", "k-ro-docs").status_code == 404
    gone = send("DELETE", "/v1/pools/faq/documents/tenants/new.txt", "k-rw-faq")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    # The chat models a key sees are its pools.
    models = {m["id"] for m in get(url, "/v1/models", "k-ro-docs").json()["data"]}
    assert "xling:docs" in models and "xling:faq" not in models and "xling:private" not in models


def test_metrics_count_per_key_by_hash_never_the_key(url: str) -> None:
    for _ in range(2):
        assert get(url, "/v1/pools", "k-rw-faq").status_code == 200
    assert get(url, "/v1/pools", "wrong").status_code == 401
    text = get(url, "/metrics", "k-all").text
    # sha256("k-rw-faq")[:8] = c7ad91df, sha256("k-all")[:8] = 9e67b17b
    series = 'xling_caller_requests_total{caller="key-c7ad91df",status="200"}'
    line = next(x for x in text.splitlines() if x.startswith(series))
    assert float(line.split()[-1]) >= 2
    for key in ("k-all", "k-ro-docs", "k-rw-faq", "wrong"):
        assert key not in text


def test_plain_key_file_still_grants_every_pool(db: Path, tmp_path: Path) -> None:
    plain = tmp_path / "keys.txt"
    plain.write_text("plain-1\nplain-2\n", encoding="utf-8")
    keys = read_api_keys(plain)
    assert keys.plain == ["plain-1", "plain-2"] and keys.grants == []
    with running(ServiceConfig(chroma_path=str(db), api_keys=keys.plain)) as base:
        listed = get(base, "/v1/pools", "plain-2").json()["data"]
        assert sorted(p["name"] for p in listed) == ["docs", "faq", "private"]
        assert get(base, "/v1/pools", "k-all").status_code == 401


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[key]]\nkey = "a"\nread = ["docs"]\nowner = "x"\n',
         "[[key]] #1 has unknown field(s) owner; allowed: key, read, write"),
        ('[[key]]\nread = ["docs"]\n', '[[key]] #1 needs key = "..."'),
        ('[[key]]\nkey = "secret-a"\nread = ["docs"]\n[[key]]\nkey = "secret-a"\nread = ["faq"]\n',
         "[[key]] #2 repeats the key of [[key]] #1"),
        ('[[key]]\nkey = "a"\n', "[[key]] #1 has no read list"),
        ('[[key]]\nkey = "a"\nread = []\n', "[[key]] #1 has an empty read list"),
        ('[[key]]\nkey = "a"\nread = ["docs"]\nwrite = ["faq"]\n',
         "[[key]] #1 may write faq but not read it"),
        ('[[key]]\nkey = "a"\nread = ["../etc"]\n', "pool name '../etc' is not allowed"),
        ('[[key]]\nkey = "a"\nread = "docs"\n', "read is 'docs'; use a list of pool names"),
        ('[[key]]\nkey = "a"\nread = ["docs"\n', "not TOML"),
        ('keys = 1\n[[key]]\nkey = "a"\nread = ["docs"]\n', "unknown top-level key(s) keys"),
    ],
)  # fmt: skip
def test_bad_key_files_are_one_line_errors_without_the_key(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        read_api_keys(path)
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert "secret-a" not in message


def test_xling_serve_exits_2_on_a_bad_key_file(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[[key]]\nkey = "k-x"\nwrite = ["docs"]\n', encoding="utf-8")
    done = subprocess.run(
        [XLING, "serve", "--chroma-path", str(db), "--api-keys-file", str(path), "--port", "9"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "[[key]] #1 has no read list" in lines[0], done.stderr
    assert "k-x" not in done.stderr


def test_xling_serve_reads_a_toml_key_file(db: Path, keys_file: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [XLING, "serve", "--chroma-path", str(db), "--api-keys-file", str(keys_file),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc)
        listed = get(base, "/v1/pools", "k-ro-docs").json()["data"]
        assert [p["name"] for p in listed] == ["docs"]
        assert get(base, "/v1/pools", "nope").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_pool_names_from_clients_are_checked(url: str) -> None:
    for bad in ("../etc", "a" * 600, "x"):
        refused = retrieve(url, bad, "k-all")
        assert refused.status_code == 422
        assert "is not allowed; use 3-512 characters" in refused.json()["detail"]
        assert len(refused.text) < 300
