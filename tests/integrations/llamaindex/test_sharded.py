"""LlamaIndex over sharded pools on a real ``chroma run`` server: XlingVectorStore writes,
queries and deletes through the shards, and XlingRetriever answers as from one collection."""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores.types import VectorStoreQuery

from tests.integrations.llamaindex.test_vector_store import CHIP, TEXT_A, TEXT_B, VIDAL
from xling.embedders import Embedder
from xling.integrations.llamaindex import XlingEmbedding, XlingRetriever, XlingVectorStore
from xling.store import Pool


@pytest.mark.parametrize("shards", ["lang", "count:3"])
def test_vector_store_and_retriever_over_a_sharded_pool(
    chroma_url: str, e5: Embedder, shards: str
) -> None:
    embed = XlingEmbedding("e5-small-q4", embedder=e5)
    names = {"one": f"li-one-{shards[:4]}", "sharded": f"li-sharded-{shards[:4]}"}
    stores, indexes = {}, {}
    for which, name in names.items():
        pool = Pool.open(name, e5, url=chroma_url, shards=shards if which == "sharded" else None)
        stores[which] = XlingVectorStore(pool, lid=None)
        indexes[which] = VectorStoreIndex.from_vector_store(
            stores[which], embed_model=embed,
            transformations=[SentenceSplitter(chunk_size=96, chunk_overlap=0)],
        )  # fmt: skip
        indexes[which].insert(Document(text=TEXT_A, doc_id="a", metadata={"lang": "swh"}))
        indexes[which].insert(Document(text=TEXT_B, doc_id="f", metadata={"lang": "fra"}))
    sharded = Pool.open(names["sharded"], url=chroma_url)
    with sharded.reading() as collection:
        assert len(collection.shards) >= 2  # documents a and f are in different shards
    # LlamaIndex gives nodes random ids: the two pools' nodes are compared by text.
    for question in (CHIP, VIDAL):
        got, want = (
            [(n.node.get_content(), n.score) for n in indexes[w].as_retriever(
                similarity_top_k=4).retrieve(question)]
            for w in ("sharded", "one")
        )  # fmt: skip
        assert [t for t, _ in got] == [t for t, _ in want] and len(got) == 4
        assert all(
            abs((a or 0) - (b or 0)) < 1e-6 for (_, a), (_, b) in zip(got, want, strict=True)
        )
        for method in ("dense", "hybrid", "bm25"):
            got_nodes, want_nodes = (
                XlingRetriever(names[w], method, 4, chroma_url=chroma_url).retrieve(question)
                for w in ("sharded", "one")
            )
            assert [n.node.get_content() for n in got_nodes] == [
                n.node.get_content() for n in want_nodes
            ]
    assert sorted(n.get_content() for n in stores["sharded"].get_nodes()) == sorted(
        n.get_content() for n in stores["one"].get_nodes()
    )
    query = VectorStoreQuery(query_str=CHIP, similarity_top_k=3, doc_ids=["f"])
    got_b, want_b = (stores[w].query(query) for w in ("sharded", "one"))
    assert [n.get_content() for n in got_b.nodes or []] == [
        n.get_content() for n in want_b.nodes or []
    ]
    for which in names:
        indexes[which].delete_ref_doc("a")
    assert [d.doc_id for d in sharded.documents()] == ["f"]
    top = indexes["sharded"].as_retriever(similarity_top_k=2).retrieve(CHIP)
    assert {n.node.ref_doc_id for n in top} == {"f"}
    stores["sharded"].clear()
    assert sharded.count() == 0
