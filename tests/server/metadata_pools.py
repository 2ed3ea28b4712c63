"""Pools of documents with metadata for the tenant, Dify and vector-store tests (real Chroma,
real bundled embedder)."""

from __future__ import annotations

from pathlib import Path

from xling.documents import Document
from xling.embedders import Embedder
from xling.store import Pool

DOCS = [
    Document("guide/install.md", text="To install xling, run pip install xling in a terminal.",
             lang="eng", title="Installation guide", metadata={"category": "guide", "year": 2024}),
    Document("faq/cats.md", text="Les chats dorment environ seize heures par jour.",
             lang="fra", title="Chats", metadata={"category": "faq", "year": 2021}),
    Document("news/rain.md", text="Mvua kubwa inatarajiwa kesho jijini Nairobi.",
             lang="swh", title="Hali ya hewa",
             metadata={"category": "news", "year": 2023, "published": 1_700_000_000}),
]  # fmt: skip
FAQ = [Document("faq/tea.md", text="Green tea should steep for two minutes.", lang="eng",
                title="Tea", metadata={"category": "faq"})]  # fmt: skip
PRIVATE = [Document("hr/salaries.md", text="Salaries are reviewed every March.", lang="eng",
                    title="Salaries")]  # fmt: skip


def build_db(db: Path, e5: Embedder) -> Path:
    """Pools ``docs`` (3 documents: eng, fra, swh), ``faq`` and ``private`` under ``db``."""
    for name, documents in (("docs", DOCS), ("faq", FAQ), ("private", PRIVATE)):
        Pool.open(name, e5, path=db).ingest(documents)
    return db
