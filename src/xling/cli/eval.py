"""``xling eval mt|lang|retrieval|mining|rag``: metrics as rich tables, JSON on request, plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from xling.cli.app import command_group, console, err_console, fail, warn
from xling.cli.options import (
    BleuTokenizeOpt,
    BootstrapSampleSizeOpt,
    BootstrapSamplesOpt,
    BootstrapSeedOpt,
    ChromaPath,
    ChromaUrl,
    EmbeddedModelOpt,
    EmbedderOpt,
    JsonOpt,
    MaxTokensOpt,
    OnLongOpt,
    SpmModelOpt,
    SummaryPlotOpt,
    max_tokens_or_none,
    on_long_choice,
    with_embedded,
)
from xling.cli.progress import progress_bars
from xling.core.progress import ProgressCallback
from xling.core.validation import check_finite
from xling.embedders import DEFAULT_EMBEDDER, DEFAULT_MAX_TOKENS
from xling.eval.bootstrap import BOOTSTRAP_SAMPLE_SIZE, BOOTSTRAP_SAMPLES

if TYPE_CHECKING:
    from xling.eval import BootstrapResult
    from xling.eval.comet import Device
    from xling.experiments.rag_study import RagStudyReport
    from xling.experiments.rag_summary import RagSummary

__all__ = ["eval_app", "mt", "lang", "retrieval", "mining", "rag"]

eval_app = command_group(
    "eval",
    "Evaluate translations, response languages, retrieval runs, bitext mining and RAG recipes.",
)
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="Write a bar chart (PNG) to this path.")
]


def _split(value: str, allowed: Sequence[str] | None, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise fail(f"{what} is empty; give a comma-separated list")
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise fail(f"unknown {what} {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return items


def _emit_json(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))


def _bar_plot(path: Path, groups: dict[str, dict[str, float]], ylabel: str, title: str) -> None:
    """Grouped bars: one group per key of ``groups``, one bar per inner key."""
    from xling.eval.plots import bar_plot

    bar_plot(path, groups, ylabel, title)
    console.print(f"plot written to {path}", markup=False)


@eval_app.command()
def mt(
    hyp: Annotated[Path, typer.Option(help="Hypotheses: one per line, or JSONL (see --field).")],
    ref: Annotated[Path, typer.Option(help="References, line-aligned with --hyp.")],
    src: Annotated[
        Path | None, typer.Option(help="Sources (needed by COMET; enables the copy check).")
    ] = None,
    tgt_lang: Annotated[
        str | None, typer.Option(help="Target language (needed by laCOMET): swh, sw, swh_Latn.")
    ] = None,
    metrics: Annotated[str, typer.Option(help="Comma-separated: chrf,bleu,comet,lacomet.")] = (
        "chrf,bleu"
    ),
    field: Annotated[
        str | None, typer.Option(help="JSON key of the hypothesis text (ICL-MT: translation).")
    ] = None,
    tokenize: BleuTokenizeOpt = "13a",
    spm_model: SpmModelOpt = None,
    comet_model: Annotated[
        str, typer.Option(help="COMET model: hub name (from the local cache) or checkpoint path.")
    ] = "Unbabel/wmt22-comet-da",
    batch_size: Annotated[int, typer.Option(help="COMET batch size.")] = 16,
    device: Annotated[str, typer.Option(help="COMET device: auto, cpu or cuda.")] = "auto",
    allow_download: Annotated[
        bool, typer.Option(help="Let COMET fetch a model from the hub (off: offline only).")
    ] = False,
    lid_backend: Annotated[
        str | None, typer.Option(help="LID backend for laCOMET (default: best per language).")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="A second hypothesis file: paired bootstrap of --hyp against it."),
    ] = None,
    samples: BootstrapSamplesOpt = BOOTSTRAP_SAMPLES,
    sample_size: BootstrapSampleSizeOpt = BOOTSTRAP_SAMPLE_SIZE,
    as_json: JsonOpt = False,
) -> None:
    """Scores translations: chrF++, BLEU, COMET and laCOMET (COMET gated by output language)."""
    from xling.eval import (
        MT_METRICS,
        CometScorer,
        check_aligned,
        read_hypotheses,
        read_references,
        score_mt,
    )

    chosen = _split(metrics, MT_METRICS, "metrics")
    hyps = read_hypotheses(hyp, field)
    refs = read_references(ref)
    check_aligned(hyps, refs, hyp, ref)
    sources = None
    if src is not None:
        sources = read_references(src)
        check_aligned(hyps, sources, hyp, src)
    if "lacomet" in chosen and not tgt_lang:
        raise fail("--metrics lacomet needs --tgt-lang (the language translations should be in)")
    if tgt_lang:
        from xling.core.languages import normalize_code

        tgt_lang = normalize_code(tgt_lang)
    base = None
    if baseline is not None:
        base = read_hypotheses(baseline, field)
        check_aligned(base, refs, baseline, ref)
    scorer = None
    if "comet" in chosen or "lacomet" in chosen:
        if sources is None:
            raise fail("COMET needs --src (the source sentences)")
        scorer = CometScorer(
            model=comet_model,
            batch_size=batch_size,
            device=cast("Device", device),  # checked by CometScorer
            local_files_only=not allow_download,
        )
    scores = score_mt(
        hyps, refs, sources, metrics=chosen, tgt_lang=tgt_lang, baseline=base,
        tokenize=tokenize, spm_model=spm_model, comet=scorer, lid_backend=lid_backend,
        n_samples=samples, sample_size=sample_size,
    )  # fmt: skip
    if as_json:
        _emit_json(scores.to_dict())
        return
    table = Table(title=f"{escape(hyp.name)} ({len(hyps)} segments)")
    for column in ("metric", "score", "details", "signature"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for name, result in scores.results.items():
        details = {k: v for k, v in result.details.items() if k not in ("detected",)}
        table.add_row(
            name,
            f"{result.score:.4f}" if name in ("comet", "lacomet") else f"{result.score:.2f}",
            ", ".join(f"{k}={_fmt(v)}" for k, v in details.items()),
            result.signature,
        )
    console.print(table)
    if scores.bootstrap:
        _print_tests(scores.bootstrap, hyp.name, baseline.name if baseline else "")


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_tests(tests: dict[str, BootstrapResult], system: str, baseline: str) -> None:
    table = Table(title=f"paired bootstrap: {escape(system)} vs {escape(baseline)}")
    for column in ("metric", "baseline", "system", "system 95% CI", "wins", "p"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, t in tests.items():
        low, high = t.ci_b
        table.add_row(name, f"{t.score_a:.4f}", f"{t.score_b:.4f}", f"{low:.4f}–{high:.4f}",
                      f"{t.wins_b}/{t.n_samples}", f"{t.p_value:.3f}")  # fmt: skip
    console.print(table)


@eval_app.command()
def lang(
    responses: Annotated[
        Path,
        typer.Option(help="JSONL of {lang, response} objects, or plain lines with --expected."),
    ],
    expected: Annotated[
        str | None, typer.Option(help="Expected language of every line of a plain-text file.")
    ] = None,
    lang_field: Annotated[str, typer.Option(help="JSON key of the expected language.")] = "lang",
    text_field: Annotated[str, typer.Option(help="JSON key of the response text.")] = "response",
    backend: Annotated[
        str | None, typer.Option(help="LID backend (default: the best one per language).")
    ] = None,
    candidates: Annotated[
        str | None,
        typer.Option(help="Restrict LID to these languages plus the expected one (e.g. eng)."),
    ] = None,
    sentence_voting: Annotated[
        bool, typer.Option(help="Let each sentence vote (long or code-switched answers).")
    ] = True,
    open_set: Annotated[
        bool,
        typer.Option(help="Confirm a win with open-set evidence; 'unsure' when it is thin."),
    ] = True,
    per_item: Annotated[bool, typer.Option(help="Also list every verdict.")] = False,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Checks that responses are in the expected language (XRAG-style), per language."""
    from xling.eval import LanguageChecker, read_responses

    items = read_responses(responses, expected, lang_field=lang_field, text_field=text_field)
    checker = LanguageChecker(
        backend=backend,
        candidates=_split(candidates, None, "candidates") if candidates else None,
        sentence_voting=sentence_voting,
        open_set=open_set,
    )
    report = checker.check_many(items)
    if as_json:
        _emit_json(report.to_dict())
    else:
        if per_item:
            detail = Table(title="verdicts")
            for column in ("#", "expected", "detected", "verdict", "confidence", "backend"):
                detail.add_column(column)
            for i, v in enumerate(report.verdicts, start=1):
                detail.add_row(str(i), v.expected, v.detected, v.verdict, f"{v.confidence:.2f}",
                               v.backend)  # fmt: skip
            console.print(detail)
        table = Table(title=f"response language ({len(report.verdicts)} responses)")
        for column in ("expected", "n", "correct", "mixed", "wrong", "unsure", "undetermined",
                       "accuracy", "most detected"):  # fmt: skip
            table.add_column(column, justify="left" if column in ("expected",) else "right")
        for code, s in report.per_language.items():
            counts = s.verdicts
            top = ", ".join(f"{k}:{n}" for k, n in list(s.detected.items())[:3])
            table.add_row(code, str(s.total), str(counts.get("correct", 0)),
                          str(counts.get("mixed", 0)), str(counts.get("wrong_language", 0)),
                          str(counts.get("unsure", 0)), str(counts.get("undetermined", 0)),
                          f"{s.accuracy:.3f}", top)  # fmt: skip
        console.print(table)
        console.print(f"overall accuracy: {report.accuracy:.3f}")
    if plot is not None:
        groups = {code: {"accuracy": s.accuracy} for code, s in report.per_language.items()}
        _bar_plot(plot, groups, "responses in the expected language", "response language")


@eval_app.command()
def retrieval(
    run: Annotated[Path, typer.Option(help="Run: TREC (qid Q0 doc rank score tag) or JSONL.")],
    qrels: Annotated[Path, typer.Option(help="Qrels: TREC (qid 0 doc grade) or JSONL.")],
    metrics: Annotated[str, typer.Option(help="Comma-separated measures.")] = (
        "nDCG@10,R@100,RR@10,AP"
    ),
    rel: Annotated[int, typer.Option(help="Minimum grade of a relevant document.")] = 1,
    skip_unknown: Annotated[
        bool, typer.Option(help="Skip run queries the qrels do not know (default: error).")
    ] = False,
    skip_missing: Annotated[
        bool, typer.Option(help="Skip judged queries absent from the run (default: score 0).")
    ] = False,
    ties: Annotated[str, typer.Option(help="Order of equal scores: trec_eval or msmarco.")] = (
        "trec_eval"
    ),
    per_query: Annotated[bool, typer.Option(help="Also list every query.")] = False,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Scores a retrieval run against qrels (nDCG@k, Recall@k, MRR@k, MAP)."""
    from xling.eval import evaluate_run

    result = evaluate_run(
        run,
        qrels,
        _split(metrics, None, "metrics"),
        rel=rel,
        unknown_queries="skip" if skip_unknown else "error",
        missing_queries="skip" if skip_missing else "zero",
        ties=ties,
    )
    if as_json:
        _emit_json(result.to_dict(per_query=per_query))
    else:
        names = list(result.metrics)
        if per_query:
            detail = Table(title="per query")
            detail.add_column("query")
            for name in names:
                detail.add_column(name, justify="right")
            for qid, values in result.per_query.items():
                detail.add_row(escape(qid), *(f"{values[n]:.4f}" for n in names))
            console.print(detail)
        table = Table(title=f"{escape(run.name)}: {result.queries} queries")
        for name in names:
            table.add_column(name, justify="right")
        table.add_row(*(f"{result.metrics[n]:.4f}" for n in names))
        console.print(table)
        if result.missing:
            how = "skipped" if skip_missing else "scored 0"
            console.print(f"{len(result.missing)} judged queries have no results ({how})")
    if plot is not None:
        _bar_plot(plot, {run.name: result.metrics}, "score", "retrieval")


@eval_app.command()
def mining(
    src: Annotated[list[Path], typer.Option(help="Source side (repeat for several pairs).")],
    tgt: Annotated[list[Path], typer.Option(help="Line-aligned target side, one per --src.")],
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            "--scoring",
            help="Comma-separated: cosine, ratio, distance (--scoring: old name).",
        ),
    ] = "cosine,ratio",
    k: Annotated[int, typer.Option("-k", help="Margin neighbourhood size.")] = 4,
    threshold: Annotated[
        float | None, typer.Option(help="Also report BUCC-style F1 of pairs scoring ≥ this.")
    ] = None,
    max_tokens: MaxTokensOpt = DEFAULT_MAX_TOKENS,
    on_long: OnLongOpt = "truncate",
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Bitext mining accuracy (100 − xSIM) of aligned files, with cosine and margin kinds."""
    from xling.embedders import get_embedder
    from xling.eval import MINING_KINDS, evaluate_mining

    if len(src) != len(tgt):
        raise fail(f"give one --tgt per --src; got {len(src)} --src and {len(tgt)} --tgt")
    kinds = _split(kind, sorted(MINING_KINDS), "kind")
    if threshold is not None:
        check_finite(threshold, "--threshold")
    model = get_embedder(
        embedder, max_tokens=max_tokens_or_none(max_tokens), on_long=on_long_choice(on_long)
    )
    report = evaluate_mining(
        list(zip(src, tgt, strict=True)), model, kinds=kinds, k=k, threshold=threshold
    )
    if as_json:
        _emit_json(report.to_dict())
    else:
        table = Table(title=f"mining accuracy (%), {escape(report.embedder)}, k={k}")
        table.add_column("pair")
        table.add_column("n", justify="right")
        for name in kinds:
            table.add_column(name, justify="right")
        if threshold is not None:
            table.add_column(f"F1@{threshold}", justify="right")
        for label, pair in report.results.items():
            cells = [f"{pair.accuracy[name]:.2f}" for name in kinds]
            if pair.bucc is not None:
                cells.append(f"{pair.bucc.f1:.2f}")
            table.add_row(label, str(pair.pairs), *cells)
        console.print(table)
        if report.truncated:
            console.print(f"{report.truncated} texts truncated to {max_tokens} tokens")
    if plot is not None:
        groups = {label: {n: pair.accuracy[n] for n in kinds}
                  for label, pair in report.results.items()}  # fmt: skip
        _bar_plot(plot, groups, "accuracy (%)", f"bitext mining, {report.embedder}")


ListOpt = Annotated[str | None, typer.Option(show_default=False)]
_BOOLS = {"false": False, "no": False, "off": False, "true": True, "yes": True, "on": True}


def _flags(value: str) -> tuple[bool, ...]:
    items = _split(value, list(_BOOLS), "--translate-query value")
    return tuple(dict.fromkeys(_BOOLS[v] for v in items))


def _ks(value: str, what: str) -> tuple[int, ...]:
    items = _split(value, None, what)
    bad = [v for v in items if not v.isdigit() or int(v) < 1]
    if bad:
        raise fail(f"{what} {', '.join(bad)} is not allowed; give positive integers (1,5,10)")
    return tuple(dict.fromkeys(int(v) for v in items))


@eval_app.command()
def rag(
    questions: Annotated[
        Path | None,
        typer.Option(help="Questions with gold answers: xling QA JSONL, MKQA, XOR-TyDi, MIRACL."),
    ] = None,
    pool: Annotated[str | None, typer.Option("--pool", "-p", help="The pool to ask.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML study config; the options below override it.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Study folder (default runs/NAME).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The study's name (default the file's stem).")
    ] = None,
    question_format: Annotated[
        str | None, typer.Option("--format", help="auto, xling, mkqa, xor_tydi or miracl.")
    ] = None,
    langs: Annotated[str | None, typer.Option(help="Only questions in these languages.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    recipes: Annotated[
        str | None, typer.Option(help="Comma-separated: user, pivot, all, balanced (default all).")
    ] = None,
    translate_query: Annotated[
        str | None, typer.Option(help="Comma-separated: false, true (default false).")
    ] = None,
    instruction_lang: Annotated[
        str | None, typer.Option(help="Comma-separated: user, eng (default user).")
    ] = None,
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated retrieval methods (default dense).")
    ] = None,
    recall_k: Annotated[
        str | None, typer.Option(help="The k of Recall@k (default 1,5,10).")
    ] = None,
    relevance: Annotated[
        str | None,
        typer.Option(help="passages (gold passage ids or texts) or answers (a hit holds one)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="The row tested against (default the first): dense/all/user."),
    ] = None,
    retrieval_only: Annotated[
        bool, typer.Option("--retrieval-only", help="No LLM: Recall@k per method and recipe.")
    ] = False,
    k: Annotated[
        int | None, typer.Option("-k", help="Passages shown to the LLM (default 5).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Most tokens per answer (default 160).")
    ] = None,
    llm_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible /v1 URL (default the embedded server).")
    ] = None,
    model: EmbeddedModelOpt = None,
    chroma_path: ChromaPath = None,
    chroma_url: ChromaUrl = None,
    samples: BootstrapSamplesOpt = BOOTSTRAP_SAMPLES,
    sample_size: BootstrapSampleSizeOpt = BOOTSTRAP_SAMPLE_SIZE,
    seed: BootstrapSeedOpt = 0,
    plot: SummaryPlotOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Compares RAG recipes on questions with gold answers: Recall@k, answer char-3-gram
    recall / EM / F1, answers in the asker's language, latency and tokens; resumable."""
    from xling.experiments.rag_config import RagStudyConfig, load_rag_config
    from xling.experiments.rag_study import run_rag_study
    from xling.prompts.instructions import INSTRUCTION_LANGS
    from xling.retrieval import RECIPES, available_retrievers

    answer: dict[str, Any] = {}
    if k is not None:
        answer["k"] = k
    if max_tokens is not None:
        answer["max_tokens"] = max_tokens
    changes: dict[str, Any] = {
        "name": name, "questions": str(questions) if questions else None, "pool": pool,
        "format": question_format, "limit": limit,
        "langs": tuple(_split(langs, None, "--langs")) if langs else None,
        "recipes": tuple(_split(recipes, RECIPES, "recipes")) if recipes else None,
        "translate_query": _flags(translate_query) if translate_query else None,
        "instruction_langs": (tuple(_split(instruction_lang, INSTRUCTION_LANGS,
                                           "instruction languages"))
                              if instruction_lang else None),
        "methods": (tuple(_split(methods, available_retrievers(), "methods"))
                    if methods else None),
        "recall_k": _ks(recall_k, "--recall-k") if recall_k else None,
        "relevance": relevance, "baseline": baseline,
        "retrieval_only": True if retrieval_only else None,
        "chroma_path": str(chroma_path) if chroma_path else None, "chroma_url": chroma_url,
    }  # fmt: skip
    if config is not None:
        settings = load_rag_config(config)
        changes["answer"] = {**settings.answer, **answer} if answer else None
        settings = settings.with_changes(**changes)
    else:
        if questions is None or pool is None:
            raise fail("give --questions FILE and --pool NAME, or --config STUDY.toml")
        stem = questions.stem
        changes["name"] = name or stem
        changes["answer"] = answer or None
        given = RagStudyConfig(name=changes["name"], questions=str(questions), pool=pool,
                               source="from the command line")  # fmt: skip
        settings = given.with_changes(**changes)
    settings = with_embedded(settings, model)
    with progress_bars() as add_bar:

        def on_cell(cell: Any, number: int, total: int) -> ProgressCallback:
            return add_bar(f"[{number}/{total}] {cell.label}")

        def on_status(text: str) -> None:
            err_console.print(text, markup=False, highlight=False)

        report = run_rag_study(
            settings, out, llm_url=llm_url, plot=plot, n_samples=samples,
            sample_size=sample_size, seed=seed, on_cell=on_cell, on_status=on_status,
        )  # fmt: skip
    if as_json:
        _emit_json(report.to_dict())
        return
    _print_study(report)


def _print_study(report: RagStudyReport) -> None:
    summary = report.summary
    ran = sum(c.status != "skipped" for c in report.cells)
    llm = f"; LLM {report.llm}" if report.llm else ""
    err_console.print(
        f"{len(report.cells)} rows × {report.questions} questions in {report.out} ({ran} run "
        f"now, {len(report.cells) - ran} finished before){llm}",
        markup=False, highlight=False,
    )  # fmt: skip
    if summary is None:
        return
    console.print(_overall_table(summary))
    langs = [x for x in summary.langs() if x != "all"]
    for metric in dict.fromkeys((summary.headline, "lang_ok_first", "lang_ok_final")):
        if metric not in summary.metrics:
            continue
        table = Table(title=f"{metric} per asker's language")
        table.add_column("row")
        for lang in ("all", *langs):
            table.add_column(lang, justify="right")
        for row in summary.rows:
            values = [summary.value(row, metric, lang) for lang in ("all", *langs)]
            table.add_row(escape(row), *("" if v is None else f"{v:.1f}" for v in values))
        console.print(table)
    if summary.comparisons:
        table = Table(title=f"against {escape(summary.baseline)} (paired bootstrap)")
        for column in ("row", "metric", "score", "baseline", "Δ", "95% CI", "p"):
            table.add_column(column, justify="left" if column in ("row", "metric") else "right")
        for c in summary.comparisons:
            table.add_row(escape(c.row), c.metric, f"{c.system:.1f}", f"{c.baseline:.1f}",
                          f"{c.delta:+.1f}", f"{c.ci95[0]:+.1f}…{c.ci95[1]:+.1f}",
                          f"{c.p_value:.3f}")  # fmt: skip
        console.print(table)
    for note in summary.notes:
        warn(note)
    for path in summary.files:
        console.print(f"written: {path}", markup=False, highlight=False)


def _overall_table(summary: RagSummary) -> Table:
    metrics = summary.metrics
    table = Table(title=f"{escape(summary.folder.name)}: all questions")
    table.add_column("row")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for row in summary.rows:
        cells = []
        for metric in metrics:
            value = summary.value(row, metric)
            digits = 2 if metric == "seconds" else 1
            cells.append("" if value is None else f"{value:.{digits}f}")
        table.add_row(escape(row), *cells)
    return table
