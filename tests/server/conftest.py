"""A real uvicorn server of xling on a free loopback port, over a real Chroma pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.conftest import free_port
from xling.data import sample_path
from xling.embedders import Embedder
from xling.server.app import create_app
from xling.server.config import ServiceConfig
from xling.server.service import Service
from xling.store import Pool, load_aligned


@pytest.fixture(scope="session")
def served_db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    db = tmp_path_factory.mktemp("served") / "db"
    pool = Pool.open("sample", e5, path=db)
    for lang in ("fra", "swh"):
        pool.index(load_aligned(sample_path("eng"), sample_path(lang), "eng", lang))
    return db


@contextmanager
def running(config: ServiceConfig) -> Iterator[str]:
    """Serves ``config`` with uvicorn in a thread; yields the base URL; stops it after."""
    config.port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, Service(config)),
            host="127.0.0.1",
            port=config.port,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )  # fmt: skip
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{config.port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def service_url(served_db: Path) -> Iterator[str]:
    """A keyed service without an LLM (retrieval and embeddings)."""
    config = ServiceConfig(pools=["sample"], chroma_path=str(served_db), api_keys=["k1", "k2"],
                           max_documents=50, max_body_bytes=200_000, rate_limit=0)  # fmt: skip
    with running(config) as url:
        yield url


@pytest.fixture
def make_service(served_db: Path) -> Callable[..., Iterator[str]]:
    """Builds another service with other settings (a context manager)."""

    def make(**settings: object) -> Iterator[str]:
        config = ServiceConfig(pools=["sample"], chroma_path=str(served_db), **settings)  # type: ignore[arg-type]
        return running(config)

    return make
