"""xling inside LlamaIndex 0.14: the real llama-index-core, Chroma vector store and vLLM server."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.evaluation import BatchEvalRunner
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from tests.conftest import refused_port
from xling.core.errors import InvalidInputError, ServiceUnavailableError, UnknownSpecError
from xling.data import sample_path
from xling.embedders import Embedder
from xling.integrations.llamaindex import (
    FALLBACK_KEY,
    LanguageCorrectnessEvaluator,
    XlingEmbedding,
    XlingRerank,
    XlingRetriever,
    few_shot_template,
)
from xling.retrieval import get_retriever
from xling.selectors import BM25Selector
from xling.store import Pool, load_aligned, read_lines


@pytest.fixture(scope="module")
def embed(e5: Embedder) -> XlingEmbedding:
    return XlingEmbedding("e5-small-q4", embedder=e5)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Path:
    folder = tmp_path_factory.mktemp("li") / "db"
    pool = Pool.open("xpool", e5, path=folder)
    for lang in ("fra", "swh"):
        pool.index(load_aligned(sample_path("eng"), sample_path(lang), "eng", lang))
    return folder


def test_embedding_keeps_roles_and_batches(embed: XlingEmbedding, e5: Embedder) -> None:
    text = "Steve Jobs unveiled the iPhone."
    query = np.asarray(embed.get_query_embedding(text))
    passage = np.asarray(embed.get_text_embedding(text))
    # e5's prefixes: the same string as a query and as a passage gives different vectors.
    assert float(query @ passage) < 0.999
    np.testing.assert_allclose(passage, e5.embed_documents([text])[0], atol=1e-6)
    batch = embed.get_text_embedding_batch([text, "Asante sana."])
    assert np.allclose(batch[0], passage, atol=1e-6) and len(batch) == 2
    async_batch = asyncio.run(embed.aget_text_embedding_batch([text, "Asante sana."]))
    np.testing.assert_allclose(async_batch, batch, atol=1e-6)
    np.testing.assert_allclose(asyncio.run(embed.aget_query_embedding(text)), query, atol=1e-6)
    assert XlingEmbedding.class_name() == "XlingEmbedding"
    assert embed.to_dict()["model_name"] == "e5-small-q4"


def test_retriever_nodes_keep_ids_languages_and_cosines(db: Path) -> None:
    retriever = XlingRetriever(pool="xpool", method="dense", similarity_top_k=4, chroma_path=db,
                               langs=["swh"])  # fmt: skip
    nodes = retriever.retrieve("Who unveiled the iPhone?")
    pool = Pool.open("xpool", path=db)
    (found,) = get_retriever("dense", pool).retrieve(["Who unveiled the iPhone?"], k=4, langs="swh")
    hits = found.hits
    assert [n.node.node_id for n in nodes] == [h.id for h in hits]
    assert [n.score for n in nodes] == pytest.approx([h.score for h in hits])
    assert all(n.node.metadata["lang"] == "swh" and "row" in n.node.metadata for n in nodes)
    again = asyncio.run(retriever.aretrieve("Who unveiled the iPhone?"))
    assert [n.node.node_id for n in again] == [n.node.node_id for n in nodes]
    hybrid = XlingRetriever(pool="xpool", method="hybrid", chroma_path=db, similarity_top_k=3)
    assert len(asyncio.run(hybrid.aretrieve("Abu Ghraib prison riot"))) == 3
    with pytest.raises(InvalidInputError, match="method='sparse' is not allowed; use one of"):
        XlingRetriever(pool="xpool", method="sparse", chroma_path=db)
    with pytest.raises(InvalidInputError, match="pool 'nope' does not exist"):
        XlingRetriever(pool="nope", chroma_path=db)


def test_an_xling_pool_through_llamaindexs_chroma_vector_store(
    db: Path, embed: XlingEmbedding
) -> None:
    collection = chromadb.PersistentClient(path=str(db)).get_collection("xpool")
    index = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=collection), embed_model=embed
    )
    question = "Which prison in Iraq was set alight?"
    nodes = index.as_retriever(similarity_top_k=3).retrieve(question)
    (found,) = get_retriever("dense", Pool.open("xpool", path=db)).retrieve([question], k=3)
    hits = found.hits
    assert [n.node.node_id for n in nodes] == [h.id for h in hits]
    # LlamaIndex scores are exp(-distance); xling's are cosines (1 - distance).
    for node, hit in zip(nodes, hits, strict=True):
        assert node.score == pytest.approx(math.exp(-(1 - hit.score)), rel=1e-4)
        assert node.node.metadata["lang"] == hit.lang


def test_a_llamaindex_collection_opens_as_an_xling_pool(
    tmp_path: Path, embed: XlingEmbedding
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path))
    collection = client.get_or_create_collection("li-built")  # Chroma's default l2 space
    lines = read_lines(sample_path("eng"))[:40]
    nodes = [
        TextNode(text=t, metadata={"row": i}, excluded_embed_metadata_keys=["row"])
        for i, t in enumerate(lines)
    ]
    VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=embed,
    )
    with pytest.raises(InvalidInputError, match="not made by xling .* named explicitly"):
        Pool.open("li-built", path=tmp_path, create=False)
    pool = Pool.open("li-built", "e5-small-q4", path=tmp_path, create=False)
    question = "Who was the pilot?"
    (found,) = get_retriever("dense", pool).retrieve([question], k=3)
    hits = found.hits
    assert hits[0].text == lines[3] and hits[0].lang is None
    q = np.asarray(embed.get_query_embedding(question))
    passage = np.asarray(embed.get_text_embedding(lines[3]))
    assert hits[0].score == pytest.approx(float(q @ passage), abs=1e-4)  # 1 - d/2 in l2 space
    assert "_node_content" not in hits[0].metadata and "doc_id" in hits[0].metadata

    (lexical,) = get_retriever("bm25", pool).retrieve(["Dilokrit Pattavee pilot"], k=1)
    assert lexical.hits[0].text == lines[3]
    with pytest.raises(InvalidInputError, match="not made by xling .* does not write"):
        pool.index(load_aligned(sample_path("eng"), sample_path("fra"), "eng", "fra")[:2])


class _Events(BaseEventHandler):
    seen: list[Any] = []

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, ReRankStartEvent | ReRankEndEvent):
            self.seen.append(event)


def _nodes(db: Path) -> list[NodeWithScore]:
    retriever = XlingRetriever(pool="xpool", chroma_path=db, similarity_top_k=12)
    return retriever.retrieve("Wo ist der Gripen abgestürzt?")


def test_rerank_bad_input_is_named(db: Path) -> None:
    with pytest.raises(UnknownSpecError, match="method='magic' is not allowed; use one of: first"):
        XlingRerank(method="magic")
    with pytest.raises(InvalidInputError, match="top_n=0 is not allowed"):
        XlingRerank(top_n=0)
    with pytest.raises(UnknownSpecError, match="unknown embedder spec 'nope'; allowed: e5-small"):
        XlingEmbedding("nope")
    empty = [NodeWithScore(node=TextNode(id_="n1", text=" "), score=1.0)]
    with pytest.raises(InvalidInputError, match="node 'n1' has no text"):
        XlingRerank().postprocess_nodes(empty, query_str="q")


def test_rerank_falls_back_and_flags_when_the_llm_is_down(db: Path) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    rerank = XlingRerank(url=url, top_n=3)
    rerank._client.max_retries = 0  # fail fast: nothing listens there
    nodes = _nodes(db)
    out = asyncio.run(rerank.apostprocess_nodes(nodes, query_str="Wo ist der Gripen abgestürzt?"))
    assert [n.node.node_id for n in out] == [n.node.node_id for n in nodes[:3]]
    assert all(n.node.metadata[FALLBACK_KEY] is True for n in out)
    strict = XlingRerank(url=url, options={"on_failure": "raise"})
    strict._client.max_retries = 0
    with pytest.raises(ServiceUnavailableError, match=url.removesuffix("/v1")):
        strict.postprocess_nodes(nodes, query_str="Wo?")


@pytest.mark.vllm
def test_rerank_many_queries_in_flight_with_events(db: Path, llm_target: tuple[str, str]) -> None:
    handler = _Events()
    get_dispatcher().add_event_handler(handler)
    rerank = XlingRerank(method="listwise", url=llm_target[0], top_n=4, options={"window": 6,
                         "stride": 3})  # fmt: skip
    questions = ["Wo ist der Gripen abgestürzt?", "Qui a présenté l'iPhone ?"]
    retriever = XlingRetriever(pool="xpool", chroma_path=db, similarity_top_k=12)
    firsts = [retriever.retrieve(q) for q in questions]

    async def both() -> list[list[NodeWithScore]]:
        return await asyncio.gather(
            *(
                rerank.apostprocess_nodes(n, QueryBundle(q))
                for n, q in zip(firsts, questions, strict=True)
            )
        )

    results = asyncio.run(both())
    for first, out in zip(firsts, results, strict=True):
        assert len(out) == 4 and {n.node.node_id for n in out} <= {n.node.node_id for n in first}
        scores = [n.score for n in out]
        assert scores == sorted(scores, reverse=True)
        assert scores != [n.score for n in first[:4]]  # the reranker's, not the retrieval's
        assert all(FALLBACK_KEY not in n.node.metadata for n in out)
    starts = [e for e in handler.seen if isinstance(e, ReRankStartEvent)]
    assert len(starts) >= 2 and starts[-1].top_n == 4 and starts[-1].model_name == "listwise"
    sync = rerank.postprocess_nodes(firsts[0], query_str=questions[0])
    assert [n.node.node_id for n in sync] == [n.node.node_id for n in results[0]]


def test_language_evaluator_with_batch_runner() -> None:
    evaluator = LanguageCorrectnessEvaluator()
    good = evaluator.evaluate(
        query="Qui a présenté l'iPhone ?", response="Steve Jobs a présenté l'iPhone sur scène."
    )
    assert good.passing and 0.5 < (good.score or 0) <= 1 and "fra" in (good.feedback or "")
    bad = evaluator.evaluate(
        query="Qui a présenté l'iPhone ?", response="Steve Jobs unveiled the iPhone on stage."
    )
    assert bad.passing is False and "is in eng" in (bad.feedback or "")
    fixed = LanguageCorrectnessEvaluator(language="sw")
    assert fixed.evaluate(query="x", response="Arthur Guinness alisaini mkataba.").passing
    assert evaluator.evaluate(query="Wer?", response="  ").invalid_result
    runner = BatchEvalRunner({"language": evaluator}, workers=2)
    results = runner.evaluate_response_strs(
        queries=["Wo ist das?", "Where is it?"],
        response_strs=["Das ist in Berlin.", "C'est à Paris."],
    )
    assert [r.passing for r in results["language"]] == [True, False]


def test_few_shot_prompt_template_is_filled_by_a_selector(flores: Any) -> None:
    from xling.core.records import AlignedPool

    sources, targets = flores("eng")[:200], flores("swh")[:200]
    pool = AlignedPool(sources, targets, list(range(200)), "eng", "swh")
    template = few_shot_template(BM25Selector(pool), "eng", "swh", k=2)
    query = flores("eng", "devtest")[0]
    prompt = template.format(source=query)
    chosen = BM25Selector(pool).select([query], 2)[0]
    assert all(e.source in prompt and e.target in prompt for e in chosen)
    assert prompt.rstrip().endswith("Swahili translation") and query in prompt
    with pytest.raises(InvalidInputError, match="k=0"):
        few_shot_template(BM25Selector(pool), "eng", "swh", k=0)


@pytest.mark.vllm
def test_the_example_runs_against_the_server(tmp_path: Path, llm_target: tuple[str, str]) -> None:
    import importlib.util

    path = Path(__file__).parents[3] / "examples" / "llamaindex_crosslingual_qa.py"
    spec = importlib.util.spec_from_file_location("li_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = asyncio.run(module.run(llm_target[0], tmp_path))
    assert [r["question"] for r in results] == module.QUESTIONS
    assert all(r["answer"] and r["feedback"] for r in results)
    assert results[-1]["passing"] is True  # the English question gets an English answer
