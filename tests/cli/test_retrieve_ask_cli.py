"""``xling retrieve`` → ``xling rerank`` → ``xling eval retrieval``, and ``xling ask``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.conftest import refused_port
from xling.data import sample_path

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from xling.store import Pool, load_aligned

    folder = tmp_path_factory.mktemp("cli-rag") / "db"
    pool = Pool.open("sample", path=folder)
    for lang in ("fra", "swh"):
        pool.index(load_aligned(sample_path("eng"), sample_path(lang), "eng", lang)[:60])
    return folder


def _queries(tmp_path: Path) -> Path:
    english = sample_path("eng").read_text(encoding="utf-8").split("\n")
    path = tmp_path / "q.jsonl"
    lines = [json.dumps({"qid": f"row{r}", "query": english[r], "lang": "en"}) for r in (3, 7, 12)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_retrieve_writes_one_line_per_query_that_eval_reads(
    xling: Run, db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run.jsonl"
    result = xling(
        "retrieve", "--pool", "sample", "--queries", str(_queries(tmp_path)), "-k", "4",
        "--method", "hybrid", "--exclude-lang", "eng", "--task", "symmetric",
        "--chroma-path", str(db), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert [x["qid"] for x in lines] == ["row3", "row7", "row12"]
    assert all(x["query_lang"] == "eng" for x in lines)
    hit = lines[0]["hits"][0]
    assert set(hit) == {"id", "text", "lang", "score", "metadata"} and len(hit["id"]) == 32
    assert {h["lang"] for x in lines for h in x["hits"]} <= {"fra", "swh"}
    # The relevant passages: the two translations of each query's row.
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text(
        "".join(
            json.dumps({"query_id": x["qid"], "doc_id": h["id"], "relevance": 1}) + "\n"
            for x in lines
            for h in x["hits"]
            if f"row{h['metadata']['row']}" == x["qid"]
        ),
        "utf-8",
    )
    scored = xling("eval", "retrieval", "--run", str(out), "--qrels", str(qrels), "--json")
    assert scored.exit_code == 0, scored.output
    assert '"R@100": 1.0' in scored.stdout.replace(" ", "").replace('":', '": ')


def test_retrieve_with_lines_and_stdout(xling: Run, db: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text("Who unveiled the iPhone?\nNani alianzisha kampuni ya Guinness?\n", "utf-8")
    result = xling(
        "retrieve", "-p", "sample", "-q", str(queries), "-k", "2", "--lang", "swh",
        "--chroma-path", str(db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["qid"] for x in lines] == ["0", "1"]
    assert all(h["lang"] == "swh" for x in lines for h in x["hits"])


def _table_rows(output: str) -> list[tuple[str, str, str]]:
    """(score, lang, text) of each row of ``xling search``'s tables, folded text joined."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) != 4 or cells[0] == "#":
            continue
        if cells[0]:
            rows.append(cells[1:])
        elif rows and cells[3]:
            rows[-1][2] += " " + cells[3]
    return [(score, lang, text) for score, lang, text in rows]


def test_search_is_the_table_view_of_dense_retrieve(xling: Run, db: Path, tmp_path: Path) -> None:
    english = sample_path("eng").read_text(encoding="utf-8").split("\n")
    queries = tmp_path / "q.txt"
    queries.write_text(f"{english[3]}\n{english[7]}\n", "utf-8")
    options = ["-k", "4", "--exclude-lang", "eng", "--task", "symmetric", "--chroma-path", str(db)]
    retrieved = xling("retrieve", "-p", "sample", "-q", str(queries), "--method", "dense",
                      *options)  # fmt: skip
    assert retrieved.exit_code == 0, retrieved.output
    lines = [json.loads(x) for x in retrieved.stdout.splitlines()]
    # A sentence's nearest passages are its two translations (French and Swahili, row 3 / 7).
    assert [{h["metadata"]["row"] for h in x["hits"][:2]} for x in lines] == [{3}, {7}]
    shown = xling("search", english[3], english[7], "--pool", "sample", *options)
    assert shown.exit_code == 0, shown.output
    expected = [
        (f"{h['score']:.3f}", h["lang"], " ".join(h["text"].split()))
        for x in lines
        for h in x["hits"]
    ]
    found = [
        (score, lang, " ".join(text.split())) for score, lang, text in _table_rows(shown.stdout)
    ]
    assert len(found) == 8 and found == expected
    # The same ids too: a passage's id is its language and text.
    by_text = {(h["lang"], " ".join(h["text"].split())): h["id"] for x in lines for h in x["hits"]}
    assert [by_text[(lang, text)] for _, lang, text in found] == [
        h["id"] for x in lines for h in x["hits"]
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "sparse"], "--method='sparse' is not allowed; use one of"),
        (["-k", "0"], "-k=0 is not allowed"),
        (["--pool", "nope"], "pool 'nope' does not exist; existing pools: sample"),
        (["--set", "fusion=rrf"], "unexpected keyword argument 'fusion'"),
    ],
)
def test_retrieve_bad_input_is_one_line_and_writes_nothing(
    xling: Run, db: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out.jsonl"
    base = ["retrieve", "--pool", "sample", "-q", str(_queries(tmp_path))]
    result = xling(*base, "--chroma-path", str(db), "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_ask_bad_input(xling: Run, db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Wer?"}\n{"question": ""}\n', "utf-8")
    cases = [
        (["ask", "", "--pool", "sample"], "question '' is not allowed"),
        (["ask", "--questions", str(bad), "--pool", "sample"], "bad.jsonl:2:"),
        (["ask", "Wer?", "--pool", "sample", "--rerank", "magic"], "--rerank='magic'"),
        (["ask", "Wer?", "--pool", "gone"], "pool 'gone' does not exist"),
        (["ask", "Wer?", "--pool", "sample", "--recipe", "mixed"],
         "--recipe='mixed' is not allowed; use one of: user, pivot, all, balanced"),
        (["ask", "Wer?", "--pool", "sample", "--instruction-lang", "fra"],
         "--instruction-lang='fra' is not allowed; use one of: user, eng"),
    ]  # fmt: skip
    for args, message in cases:
        result = xling(*args, "--chroma-path", str(db))
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_ask_passes_the_recipe_and_instruction_language(
    xling: Run, db: Path, tmp_path: Path
) -> None:
    # The LLM is down and the passages are kept: what was retrieved, and how it was asked.
    url = f"http://127.0.0.1:{refused_port()}/v1"
    out = tmp_path / "answers.jsonl"
    result = xling(
        "ask", "Qui a présenté l'iPhone sur scène ?", "--pool", "sample", "--url", url,
        "--query-lang", "fr", "--recipe", "user", "--instruction-lang", "eng",
        "--on-llm-failure", "passages", "--chroma-path", str(db), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 4, result.output
    (line,) = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert {p["lang"] for p in line["passages"]} == {"fra"}
    assert line["instruction_lang"] == "eng" and line["translations"] == {}


def test_ask_takes_the_languages_askers_are_expected_to_use(
    xling: Run, db: Path, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    out = tmp_path / "answers.jsonl"
    result = xling(
        "ask", "Hvor ligger Eiffeltårnet?", "--pool", "sample", "--url", url,
        "--expected-lang", "nb", "--expected-lang", "en", "--on-llm-failure", "passages",
        "--chroma-path", str(db), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 4, result.output
    (line,) = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    # Danish without the prior (the same words); the deployment expects Norwegian Bokmål.
    assert line["query_language"] == "nob" and line["query_language_detected"] is True


def test_ask_with_an_unreachable_llm_names_the_url(xling: Run, db: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    out = tmp_path / "answers.jsonl"
    result = xling(
        "ask", "Who unveiled the iPhone?", "--pool", "sample", "--url", url,
        "--chroma-path", str(db), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert url.removesuffix("/v1") in result.stderr and not out.exists()


@pytest.mark.vllm
def test_the_chain_retrieve_rerank_eval_and_ask(
    xling: Run, db: Path, tmp_path: Path, llm_target: tuple[str, str]
) -> None:
    run = tmp_path / "run.jsonl"
    args = ["--pool", "sample", "--chroma-path", str(db)]
    first = xling("retrieve", *args, "-q", str(_queries(tmp_path)), "-k", "6", "--out", str(run),
                  "--task", "symmetric", "--exclude-lang", "eng")  # fmt: skip
    assert first.exit_code == 0, first.output
    reranked = tmp_path / "reranked.jsonl"
    second = xling("rerank", str(run), "--url", llm_target[0], "-o", str(reranked),
                   "--window", "6")  # fmt: skip
    assert second.exit_code == 0, second.output
    lines = [json.loads(x) for x in reranked.read_text("utf-8").splitlines()]
    assert [x["qid"] for x in lines] == ["row3", "row7", "row12"]
    assert all("row" in c["metadata"] for x in lines for c in x["candidates"])
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "".join(
            f"{x['qid']} 0 {c['id']} 1\n"
            for x in lines
            for c in x["candidates"]
            if f"row{c['metadata']['row']}" == x["qid"]
        ),
        "utf-8",
    )
    for path in (run, reranked):
        scored = xling("eval", "retrieval", "--run", str(path), "--qrels", str(qrels))
        assert scored.exit_code == 0, scored.output
    answers = tmp_path / "answers.jsonl"
    questions = tmp_path / "questions.txt"
    questions.write_text("Qui a présenté l'iPhone ?\nWhat did Arthur Guinness sign?\n", "utf-8")
    asked = xling("ask", *args, "--questions", str(questions), "--url", llm_target[0],
                  "--out", str(answers), "--rerank", "listwise", "--retrieve-k", "8")  # fmt: skip
    assert asked.exit_code == 0, asked.output
    out = [json.loads(x) for x in answers.read_text("utf-8").splitlines()]
    assert [(a["qid"], a["query_language"]) for a in out] == [("0", "fra"), ("1", "eng")]
    for a in out:
        assert {"answer", "language", "language_ok", "citations"} <= set(a)
        assert a["reranked"] is not None


def test_index_derives_bm25_and_margin_ahead_of_queries(xling: Run, tmp_path: Path) -> None:
    db = tmp_path / "db"
    source = ["--src", str(sample_path("eng")), "--src-lang", "eng"]
    made = xling("index", "--pool", "derived", *source, "--chroma-path", str(db),
                 "--derive", "bm25", "--derive", "margin")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "bm25 index of derived ready" in made.stdout and "margin index" in made.stdout
    derived = [p for p in (db / "xling-derived").rglob("*") if p.is_file()]
    # BM25: a manifest and one segment (the whole pool); margin's defaults take passage
    # statistics from each query batch, so they store only language means.
    bm25 = sorted(p.name for p in derived if p.parent.name == "bm25")
    assert len(bm25) == 2 and bm25[0] == "index.json" and bm25[1].startswith("seg-")
    assert sorted(p.name for p in derived if p.parent.name != "bm25") == [
        "language-means.json",
        "language-means.npz",
    ]
    bad = xling("index", "--pool", "derived", "--chroma-path", str(db), "--derive", "dense")
    assert bad.exit_code == 2 and "--derive='dense' is not allowed" in bad.stderr
