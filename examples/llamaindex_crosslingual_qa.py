"""Cross-lingual QA in LlamaIndex with xling's parts.

Documents in English, French and Swahili (the bundled FLORES-200 sample) are indexed into
Chroma through LlamaIndex's ``ChromaVectorStore`` with ``XlingEmbedding`` (the bundled e5);
a query engine retrieves, reranks with ``XlingRerank`` (listwise, against the LLM server) and
answers with an ``OpenAILike`` LLM pointed at the same server; ``LanguageCorrectnessEvaluator``
says whether each answer is in its question's language. Nothing is downloaded: LlamaIndex's
default tokenizer (tiktoken, fetched on first use) is replaced by the served model's own.

    .venv/bin/xling llm serve                       # the embedded LLM on port 8011
    .venv/bin/python examples/llamaindex_crosslingual_qa.py [--url URL] [--chroma-path DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import chromadb
import httpx
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.llms.openai_like import OpenAILike
from llama_index.vector_stores.chroma import ChromaVectorStore

from xling.data import sample_path
from xling.integrations.llamaindex import (
    LanguageCorrectnessEvaluator,
    XlingEmbedding,
    XlingRerank,
)
from xling.llm import EmbeddedLLMConfig
from xling.store import read_lines

QUESTIONS = [
    "Qui a présenté l'iPhone, et comment ?",
    "Arthur Guinness alisaini mkataba wa miaka mingapi?",
    "Which prison in Iraq was set alight during a riot?",
]


def _nodes() -> list[TextNode]:
    nodes = []
    for lang in ("eng", "fra", "swh"):
        for row, text in enumerate(read_lines(sample_path(lang))):
            nodes.append(TextNode(text=text, metadata={"lang": lang, "row": row}))
    return nodes


def _served_model(url: str) -> str:
    return str(httpx.get(f"{url}/models", timeout=10).json()["data"][0]["id"])


def _local_tokenizer() -> None:
    """LlamaIndex counts prompt tokens with tiktoken, which downloads its vocabulary; count
    with the embedded model's own tokenizer instead (any tokenizer works for budgeting)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(EmbeddedLLMConfig().model_dir / "tokenizer.json"))
    Settings.tokenizer = lambda text: tokenizer.encode(text).ids  # type: ignore[assignment]


async def run(url: str, chroma_path: Path) -> list[dict[str, object]]:
    """Indexes, asks every question (async), and returns what each answer got."""
    _local_tokenizer()
    client = chromadb.PersistentClient(path=str(chroma_path))
    collection = client.get_or_create_collection("llamaindex-sample")
    store = ChromaVectorStore(chroma_collection=collection)
    embed = XlingEmbedding("e5-small-q4")
    index = VectorStoreIndex(
        _nodes(), storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
    )  # fmt: skip
    llm = OpenAILike(
        model=_served_model(url), api_base=url, api_key="unused", is_chat_model=True,
        context_window=8192, max_tokens=120, temperature=0.0,
    )  # fmt: skip
    engine = index.as_query_engine(
        llm=llm,
        similarity_top_k=10,
        node_postprocessors=[
            XlingRerank(method="listwise", url=url, top_n=3, options={"window": 10})
        ],
    )
    evaluator = LanguageCorrectnessEvaluator(candidates=["fra", "swh"])
    responses = await asyncio.gather(*(engine.aquery(q) for q in QUESTIONS))
    out = []
    for question, response in zip(QUESTIONS, responses, strict=True):
        verdict = await evaluator.aevaluate_response(query=question, response=response)
        out.append(
            {
                "question": question,
                "answer": str(response),
                "sources": [n.node.metadata.get("lang") for n in response.source_nodes],
                "passing": verdict.passing,
                "feedback": verdict.feedback,
            }
        )
    return out


def main() -> None:
    """Runs the example and prints each answer with its language verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=EmbeddedLLMConfig().url)
    parser.add_argument("--chroma-path", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(args.url, args.chroma_path or Path(tmp)))
    for item in results:
        print(f"Q: {item['question']}\nA: {item['answer']}")
        print(f"   sources {item['sources']}; {item['feedback']}\n")


if __name__ == "__main__":
    main()
