"""XlingVectorStore: a LlamaIndex VectorStoreIndex adding, querying and deleting documents in a
real embedded Chroma pool, embedded by the bundled e5-small-q4."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from xling.core.errors import InvalidInputError
from xling.data import sample_path
from xling.embedders import Embedder
from xling.integrations.llamaindex import XlingEmbedding, XlingRetriever, XlingVectorStore
from xling.store import Pool

CHIP = "What did the Stanford scientists invent?"
VIDAL = "How many games did Vidal play for the club?"


def _lines(lang: str, first: int, last: int) -> str:
    return " ".join(sample_path(lang).read_text(encoding="utf-8").splitlines()[first:last])


# Document a: the Stanford chip and the Gripen crash, in Swahili (FLORES sample lines 1-5);
# document b: Vidal and the Whitehall protest, in French (lines 6-12).
TEXT_A = _lines("swh", 0, 5)
TEXT_B = _lines("fra", 5, 12)


@pytest.fixture()
def embed(e5: Embedder) -> XlingEmbedding:
    return XlingEmbedding("e5-small-q4", embedder=e5)


@pytest.fixture()
def setup(tmp_path: Path, embed: XlingEmbedding) -> tuple[XlingVectorStore, VectorStoreIndex, Path]:
    db = tmp_path / "db"
    store = XlingVectorStore("lidocs", chroma_path=db, embedder=embed)
    index = VectorStoreIndex.from_vector_store(
        store, embed_model=embed, transformations=[SentenceSplitter(chunk_size=96, chunk_overlap=0)]
    )
    index.insert(Document(text=TEXT_A, doc_id="a"))
    index.insert(Document(text=TEXT_B, doc_id="b"))
    return store, index, db


def test_insert_writes_chunks_of_the_llamaindex_documents(
    setup: tuple[XlingVectorStore, VectorStoreIndex, Path],
) -> None:
    _, _, db = setup
    pool = Pool.open("lidocs", path=db)
    docs = pool.documents()
    assert [d.doc_id for d in docs] == ["a", "b"]
    assert [d.langs for d in docs] == [("swh",), ("fra",)]
    assert all(d.chunks >= 2 and d.complete for d in docs)
    assert pool.count() == docs[0].chunks + docs[1].chunks
    _, texts, metas, _ = pool.listing(where={"doc_id": "a"})
    # listing orders a document's chunks by index: 0, 1, ... with offsets into a's text.
    assert [m["chunk"] for m in metas] == list(range(len(metas)))
    assert metas[0]["start"] == 0 and metas[-1]["end"] == len(TEXT_A)
    assert all(TEXT_A[m["start"] : m["end"]] == t for m, t in zip(metas, texts, strict=True))
    assert {m["doc_hash"] for m in metas} == {Document(text=TEXT_A, doc_id="a").hash}
    assert all(m["title"] == "" and m["section"] == "" and m["lang"] == "swh" for m in metas)
    # The vectors LlamaIndex gave are those xling's check recomputes from the stored texts.
    report = pool.verify(sample=None)
    assert (report.compared, report.mismatched) == (pool.count(), 0)


def test_retrieval_finds_the_right_document_and_delete_removes_exactly_it(
    setup: tuple[XlingVectorStore, VectorStoreIndex, Path],
) -> None:
    store, index, db = setup
    retriever = index.as_retriever(similarity_top_k=3)
    (top, *_) = retriever.retrieve(CHIP)
    assert top.node.ref_doc_id == "a" and "Chuo Kikuu cha Stanford" in top.node.get_content()
    assert 0.5 < top.score < 1.0  # a cosine similarity, not exp(-distance)
    (top_b, *_) = retriever.retrieve(VIDAL)
    assert top_b.node.ref_doc_id == "b" and "49 matchs" in top_b.node.get_content()

    pool = Pool.open("lidocs", path=db)
    chunks_a = pool.documents()[0].chunks
    before, state = pool.count(), pool.state()
    index.delete_ref_doc("a")
    assert pool.count() == before - chunks_a
    assert [d.doc_id for d in pool.documents()] == ["b"]
    assert pool.state() != state
    after = retriever.retrieve(CHIP)
    assert len(after) == 3 and {n.node.ref_doc_id for n in after} == {"b"}
    store.delete("a")  # already gone: nothing happens
    assert pool.count() == before - chunks_a


def test_xling_retriever_nodes_carry_the_document_relation(
    setup: tuple[XlingVectorStore, VectorStoreIndex, Path], embed: XlingEmbedding
) -> None:
    _, index, db = setup
    (top, *_) = index.as_retriever(similarity_top_k=1).retrieve(CHIP)
    nodes = XlingRetriever("lidocs", "hybrid", 3, chroma_path=db, embed_model=embed).retrieve(CHIP)
    assert nodes[0].node.node_id == top.node.node_id
    node = nodes[0].node
    assert node.ref_doc_id == "a"
    assert node.relationships[NodeRelationship.SOURCE].node_id == "a"
    assert TEXT_A[node.start_char_idx : node.end_char_idx] == node.get_content()
    assert node.metadata["lang"] == "swh" and node.metadata["doc_id"] == "a"
    # Bookkeeping stays out of what the LLM reads; the language stays in.
    llm_text = node.get_content(metadata_mode="llm")  # type: ignore[arg-type]
    assert "doc_hash" not in llm_text and "lang: swh" in llm_text


def test_nodes_without_vectors_or_documents_filters_and_refusals(
    tmp_path: Path, e5: Embedder
) -> None:
    store = XlingVectorStore.from_pool(Pool.open("solo", e5, path=tmp_path / "db"))
    solo = TextNode(
        id_="n1",
        text="Nairobi ni mji mkuu wa Kenya na una watu wengi sana.",
        metadata={"lang": "sw", "rating": 3, "tags": ["city"], "doc_id": "spoofed", "xling:x": 1},
    )
    other = TextNode(id_="n2", text="Der Hund bellt jeden Morgen im Garten.")
    assert store.add([solo, other]) == ["n1", "n2"]
    (got,) = store.get_nodes(["n1"])
    assert got.ref_doc_id == "n1"  # no source document: the node is its own document
    assert got.metadata["lang"] == "swh" and got.metadata["rating"] == 3
    assert "tags" not in got.metadata and "xling:x" not in got.metadata
    assert got.start_char_idx is None and "chunk" not in got.metadata
    assert store.get_nodes(["n2"])[0].metadata["lang"] == "deu"  # detected (lingua)

    by_text = store.query(
        VectorStoreQuery(query_str="Mji mkuu wa Kenya ni upi?", similarity_top_k=2)
    )
    assert by_text.ids == ["n1", "n2"] and by_text.similarities[0] > by_text.similarities[1]
    only_deu = MetadataFilters(filters=[MetadataFilter(key="lang", value="deu")])
    query = VectorStoreQuery(query_str="Mji mkuu wa Kenya?", similarity_top_k=2, filters=only_deu)
    assert store.query(query).ids == ["n2"]
    either = MetadataFilters(
        filters=[
            MetadataFilter(key="rating", value=2, operator=FilterOperator.GT),
            MetadataFilter(key="lang", value=["deu"], operator=FilterOperator.IN),
        ],
        condition=FilterCondition.OR,
    )
    assert sorted(n.node_id for n in store.get_nodes(filters=either)) == ["n1", "n2"]
    assert asyncio.run(store.aquery(query)).ids == ["n2"]

    wrong = TextNode(id_="bad", text="Habari.", embedding=[0.1] * 10)
    with pytest.raises(InvalidInputError) as err:
        store.add([TextNode(id_="fine", text="Jambo."), wrong])
    message = str(err.value)
    assert "\n" not in message and "10-d" in message and "384-d" in message
    assert store.pool.count() == 2  # nothing of the refused call was written
    with pytest.raises(InvalidInputError, match="'hybrid' is not supported"):
        store.query(VectorStoreQuery(query_str="x", mode=VectorStoreQueryMode.HYBRID))
    with pytest.raises(InvalidInputError, match="'text_match' on 'lang' is not supported"):
        match = MetadataFilter(key="lang", value="deu", operator=FilterOperator.TEXT_MATCH)
        store.get_nodes(filters=MetadataFilters(filters=[match]))

    state = store.pool.state()
    store.delete_nodes(node_ids=["n2"])
    assert store.pool.count() == 1 and store.pool.state() != state
    store.clear()
    assert store.pool.count() == 0
