"""Running an ICL-MT experiment grid: select → prompt → generate → clean → score, resumably.

:func:`run_experiment` expands a config into runs (:func:`plan_runs`), checks everything the
data and the LLM can get wrong before generating anything (each problem with its config key, in
one :class:`~xling.experiments.config.ConfigError`), then runs what is not finished:

- A run whose ``run.json`` carries the hash of its effective config (spec, strategy settings,
  pool and test texts, model, decoding, metrics) is skipped.
- Every prompt of a run is sent at once; the LLM client bounds how many are in flight. Each
  translation is appended to ``outputs.partial.jsonl`` as it arrives, so a run killed midway
  resumes with the prompts it still lacks: no line is lost or written twice.
- Each translation that repeats its source is marked ``copied`` and counted (``copies`` in
  ``scores.json``, and in the run's status line); with ``[decoding] ban_copy`` its prompt is
  sent again with the source's first tokens banned (:func:`copy_ban`), once.
- A finished run writes ``outputs.jsonl`` (test-set order), ``scores.json`` and, last,
  ``run.json``, each atomically; with ``layout="iclmt"`` its translations and score files are
  also written in the ICL-MT repository's layout.

Without an LLM URL the embedded vLLM server is started (and stopped at the end) when some run
needs generation; an embedded server already running is used and left running.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xling.core.aio import blocking
from xling.core.errors import ServiceUnavailableError, XlingError
from xling.core.progress import ProgressCallback
from xling.eval.copying import copies_source
from xling.experiments.config import ConfigError, ExperimentConfig, StrategyConfig
from xling.experiments.iclmt_layout import (
    ScoreEntry,
    iclmt_run,
    write_iclmt_outputs,
    write_iclmt_scores,
)
from xling.experiments.llm_session import aembedded_client, embedded_name, url_client
from xling.experiments.rescore import Layout, score_outputs
from xling.experiments.run_folder import (
    appending,
    config_digest,
    finished_hash,
    mark_finished,
    resume_rows,
    write_jsonl_atomic,
)
from xling.experiments.runs import (
    OUTPUTS_FILE,
    RUN_FILE,
    RUNS_DIR,
    ExampleRow,
    OutputRow,
    RunScores,
    RunSpec,
    read_run,
    write_scores,
)
from xling.experiments.sources import Direction, load_directions
from xling.llm import LLMClient
from xling.prompts.mt import build_mt_prompt
from xling.prompts.postprocess import clean_translation, mt_stop_sequences
from xling.selectors import Example, Selection, select_examples

__all__ = [
    "RunProgress",
    "PlannedRun",
    "RunOutcome",
    "ExperimentReport",
    "plan_runs",
    "copy_ban",
    "arun_experiment",
    "run_experiment",
]

RunProgress = Callable[[RunSpec, int, int], ProgressCallback | None]
"""Called as a run starts with ``(spec, number, runs)``; returns that run's progress callback."""
_FORMAT = 1  # bump when the outputs of an unchanged config would change
_BANNED_TOKENS = 3  # tokens banned from each of the two spellings of the source start


@dataclass(frozen=True)
class PlannedRun:
    """One run of the grid and the strategy row it belongs to."""

    spec: RunSpec
    strategy: StrategyConfig


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run.

    Attributes:
        spec: The run.
        status: ``skipped`` (finished before), ``ran`` or ``resumed`` (some lines were kept from
            an interrupted attempt).
        generated: Prompts sent to the LLM this time.
        kept: Lines kept from an interrupted attempt.
        scores: The run's scores.
        folder: Its folder.
        seconds: Wall time this time.
    """

    spec: RunSpec
    status: Literal["skipped", "ran", "resumed"]
    generated: int
    kept: int
    scores: RunScores
    folder: Path
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "status": self.status, "generated": self.generated,
                "kept": self.kept, "scores": self.scores.to_dict(), "folder": str(self.folder),
                "seconds": round(self.seconds, 3)}  # fmt: skip


@dataclass(frozen=True)
class ExperimentReport:
    """The runs of an experiment and where they are."""

    name: str
    out: Path
    runs: tuple[RunOutcome, ...]
    llm: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "out": str(self.out), "llm": self.llm,
                "seconds": round(self.seconds, 3),
                "runs": [r.to_dict() for r in self.runs]}  # fmt: skip


# -- the grid --------------------------------------------------------------------------------
def plan_runs(config: ExperimentConfig) -> list[PlannedRun]:
    """The grid's runs, direction by direction.

    A 0-shot row runs once per template (with k = 0); random selection, and every row under
    sampled decoding, run once per seed; the other rows are deterministic and run with the
    first seed only.
    """
    sampled = config.decoding.mode == "sample"
    runs: list[PlannedRun] = []
    for src, tgt in config.directions:
        for template in config.templates:
            for strategy in config.strategies:
                ks = (0,) if strategy.zero_shot else config.ks
                seeded = sampled or strategy.name == "random"
                seeds = config.seeds if seeded else config.seeds[:1]
                for k in ks:
                    for seed in seeds:
                        spec = RunSpec(src, tgt, strategy.name, k, seed, template,
                                       strategy.embedder, strategy.label)  # fmt: skip
                        runs.append(PlannedRun(spec, strategy))
    return runs


def _config_hash(
    config: ExperimentConfig, run: PlannedRun, direction: Direction, model: str
) -> str:
    decoding = config.decoding.to_dict()
    if not decoding["ban_copy"]:
        del decoding["ban_copy"]  # runs finished before the option existed stay finished
    return config_digest({
        "format": _FORMAT, "spec": run.spec.to_dict(), "strategy": run.strategy.to_dict(),
        "pool": direction.pool_fingerprint, "test": direction.test.fingerprint, "model": model,
        "decoding": decoding, "metrics": list(config.metrics),
        "comet": config.comet,
    })  # fmt: skip


# -- the LLM -----------------------------------------------------------------------------------
def _sampling(config: ExperimentConfig, spec: RunSpec, index: int) -> dict[str, Any]:
    decoding = config.decoding
    params: dict[str, Any] = {
        "max_tokens": decoding.max_new_tokens,
        "stop": mt_stop_sequences(spec.src, spec.tgt, spec.template),
        "temperature": 0.0,
    }
    if decoding.mode == "sample":
        # One seed per sentence, so a resumed run samples what the uninterrupted one would.
        params.update(temperature=decoding.temperature, seed=spec.seed * 1_000_003 + index,
                      extra={"top_p": decoding.top_p})  # fmt: skip
    elif decoding.mode == "beam":
        params["extra"] = {"use_beam_search": True, "n": decoding.beams}
    return params


async def copy_ban(client: LLMClient, source: str) -> dict[str, int]:
    """The ``logit_bias`` that keeps a completion from starting to copy ``source``.

    The source's first two words with a letter (punctuation and numbers left out: a
    translation needs them) are tokenized by the served model (``/tokenize``) as they are and
    after a space, the two ways a continuation can begin them; the first three tokens of each
    get a bias of -100. The ban holds for the whole completion.

    Returns:
        Token id (a string, as the OpenAI API keys it) → -100; empty when the source has no
        word with a letter.
    """
    words = [w for w in re.findall(r"\w+", source) if not w.isdigit()][:2]
    if not words:
        return {}
    lead = " ".join(words)
    ids: list[int] = []
    for text in (lead, f" {lead}"):
        ids.extend((await client.atokenize(text))[:_BANNED_TOKENS])
    return {str(token): -100 for token in dict.fromkeys(ids)}


async def _translate(
    client: LLMClient, config: ExperimentConfig, spec: RunSpec, index: int, prompt: str,
    source: str,
) -> tuple[str, str, bool, str | None]:  # fmt: skip
    """``(raw, translation, copied, raw_copy)`` of one prompt, re-decoded once when it copies
    and ``ban_copy`` is on (``raw_copy``: the first, copying answer)."""
    params = _sampling(config, spec, index)
    raw = (await client.acomplete(prompt, **params)).text
    translation = clean_translation(raw, spec.src, spec.tgt, spec.template)
    copied = copies_source(source, translation)
    if not (copied and config.decoding.ban_copy):
        return raw, translation, copied, None
    ban = await copy_ban(client, source)
    if not ban:
        return raw, translation, copied, None
    params["extra"] = {**params.get("extra", {}), "logit_bias": ban}
    again = (await client.acomplete(prompt, **params)).text
    translation = clean_translation(again, spec.src, spec.tgt, spec.template)
    return again, translation, copies_source(source, translation), raw


async def _check_llm(
    client: LLMClient, config: ExperimentConfig, problems: list[tuple[str, str]]
) -> str | None:
    """The served model, or ``None`` with the problem recorded."""
    try:
        model = await client.amodel()
    except XlingError as exc:
        problems.append(("llm.url", f"{client.base_url} does not answer ({exc})"))
        return None
    if config.decoding.mode == "beam":
        probe = RunSpec("eng", "fra", "random", 0)
        try:
            await client.acomplete("Hello", **{**_sampling(config, probe, 0), "max_tokens": 2})
        except XlingError as exc:
            problems.append(("decoding.mode", f"the server refuses beam search ({exc})"))
    return model


# -- one run ---------------------------------------------------------------------------------
def _selection(direction: Direction, run: PlannedRun) -> Selection | None:
    """The run's examples and prompts (``None`` for 0-shot); selectors are kept per direction
    and strategy so that the pool side is embedded once for every k and template."""
    spec = run.spec
    if spec.zero_shot:
        return None
    return select_examples(
        list(direction.test.sources),
        direction.pool,
        run.strategy.selection(spec.k, spec.seed),
        template=spec.template,
        cache=direction.selectors,
    )


async def _generate(
    client: LLMClient,
    config: ExperimentConfig,
    run: PlannedRun,
    direction: Direction,
    done: dict[int, OutputRow],
    folder: Path,
    progress: ProgressCallback | None,
) -> int:
    spec, test = run.spec, direction.test
    n = len(test)
    todo = [i for i in range(n) if i not in done]
    if progress is not None:
        progress(len(done), n)
    if not todo:
        return 0
    selection = await asyncio.to_thread(_selection, direction, run)
    if selection is None:
        examples: list[list[Example]] = [[] for _ in test.sources]
        prompts = [build_mt_prompt(q, [], spec.src, spec.tgt, spec.template) for q in test.sources]
    else:
        examples, prompts = selection.examples, selection.prompts

    async def one(i: int) -> tuple[int, tuple[str, str, bool, str | None]]:
        return i, await _translate(client, config, spec, i, prompts[i], test.sources[i])

    tasks = [asyncio.create_task(one(i)) for i in todo]
    try:
        with appending(folder) as append:
            for next_done in asyncio.as_completed(tasks):
                i, (raw, translation, copied, raw_copy) = await next_done
                row = OutputRow(
                    index=i,
                    source=test.sources[i],
                    reference=test.references[i],
                    examples=tuple(ExampleRow(str(e.row), e.source, e.target) for e in examples[i]),
                    prompt_sha256=hashlib.sha256(prompts[i].encode("utf-8")).hexdigest(),
                    raw=raw,
                    translation=translation,
                    copied=copied,
                    redecoded=raw_copy is not None,
                    raw_copy=raw_copy,
                )
                append(row.to_dict())
                done[i] = row
                if progress is not None:
                    progress(len(done), n)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return len(todo)


def _finish(
    config: ExperimentConfig, run: PlannedRun, rows: list[OutputRow], folder: Path, digest: str,
    layout: Layout, model: str,
) -> RunScores:  # fmt: skip
    spec = run.spec
    write_jsonl_atomic(folder / OUTPUTS_FILE, (r.to_dict() for r in rows))
    scores = score_outputs(rows, spec.tgt, comet=config.comet)
    write_scores(folder, scores)
    if layout == "iclmt":
        root = folder.parent.parent / "iclmt" / _model_folder(model)
        write_iclmt_outputs(root, spec, [r.translation for r in rows])
    mark_finished(folder, {"spec": spec.to_dict(), "config_hash": digest, "model": model})
    return scores


def _model_folder(model: str) -> str:
    return model.rstrip("/").split("/")[-1] or "model"


# -- the experiment --------------------------------------------------------------------------
async def arun_experiment(
    config: ExperimentConfig,
    out: str | Path | None = None,
    *,
    llm_url: str | None = None,
    layout: Layout = "xling",
    on_run: RunProgress | None = None,
    on_status: Callable[[str], None] | None = None,
) -> ExperimentReport:
    """Runs (or resumes) every run of ``config`` not finished in ``out``.

    Args:
        config: The experiment (:func:`~xling.experiments.config.load_config`).
        out: Output folder (default ``runs/<config.name>``).
        llm_url: An OpenAI-compatible ``/v1`` URL overriding ``config.llm.url``.
        layout: ``iclmt`` also writes ICL-MT's layout under ``<out>/iclmt/<model>/``.
        on_run: Progress per run (see :data:`RunProgress`).
        on_status: Called with one-line status texts (the LLM starting, a run skipped).

    Returns:
        What happened to each run, in grid order.

    Raises:
        ConfigError: With every problem of the data and the LLM, before any generation.
        ServiceUnavailableError: If the LLM fails during a run (finished lines are kept).
    """
    started = time.monotonic()
    folder = Path(out) if out is not None else Path("runs") / config.name
    say = on_status or (lambda _: None)
    problems: list[tuple[str, str]] = []
    directions = load_directions(config, problems)
    runs = plan_runs(config)
    if layout == "iclmt":
        for template in sorted({r.spec.template for r in runs}):
            try:
                iclmt_run(RunSpec("eng", "fra", "random", 1, 0, template))
            except XlingError as exc:
                problems.append(("templates", f"--layout iclmt: {exc}"))
    url = llm_url or config.llm.url
    client: LLMClient | None = None
    model = config.llm.model or embedded_name(config.llm, "mt")
    async with AsyncExitStack() as stack:
        if url is not None:
            client = url_client(stack, config.llm, url)
            model = await _check_llm(client, config, problems) or model
        if problems:
            raise ConfigError(config.source, problems)
        hashes = {
            r.spec.key: _config_hash(config, r, directions[(r.spec.src, r.spec.tgt)], model)
            for r in runs
        }
        root = folder / RUNS_DIR
        pending = [r for r in runs if finished_hash(root / r.spec.key) != hashes[r.spec.key]]
        if pending and client is None:
            client, url, model = await aembedded_client(stack, config.llm, say, "mt")
            if config.decoding.mode == "beam":
                await _check_llm(client, config, problems)
                if problems:
                    raise ConfigError(config.source, problems)
        outcomes = [
            await _one_run(
                config,
                run,
                directions,
                root,
                hashes[run.spec.key],
                client,
                model,
                layout,
                number,
                len(runs),
                on_run,
                say,
            )  # fmt: skip
            for number, run in enumerate(runs, 1)
        ]
        if layout == "iclmt":
            _write_iclmt_scores(folder / "iclmt" / _model_folder(model), outcomes)
        return ExperimentReport(config.name, folder, tuple(outcomes), f"{url} ({model})",
                                time.monotonic() - started)  # fmt: skip


async def _one_run(
    config: ExperimentConfig, run: PlannedRun, directions: dict, root: Path, digest: str,
    client: LLMClient | None, model: str, layout: Layout, number: int, total: int,
    on_run: RunProgress | None, say: Callable[[str], None],
) -> RunOutcome:  # fmt: skip
    spec = run.spec
    folder = root / spec.key
    started = time.monotonic()
    if finished_hash(folder) == digest:
        finished = read_run(folder)
        assert finished is not None
        say(f"[{number}/{total}] {spec.key}: finished before, skipped")
        return RunOutcome(spec, "skipped", 0, 0, finished.scores, folder, 0.0)
    if client is None:  # every run finished: no LLM was started
        raise ServiceUnavailableError("no LLM for a run that needs generation")
    (folder / RUN_FILE).unlink(missing_ok=True)  # a run of another config is redone
    done = resume_rows(folder, digest, OutputRow.from_dict, lambda row: row.index)
    kept = len(done)
    progress = on_run(spec, number, total) if on_run is not None else None
    direction = directions[(spec.src, spec.tgt)]
    generated = await _generate(client, config, run, direction, done, folder, progress)
    rows = [done[i] for i in range(len(direction.test))]
    scores = await asyncio.to_thread(_finish, config, run, rows, folder, digest, layout, model)
    status: Literal["ran", "resumed"] = "resumed" if kept else "ran"
    seconds = time.monotonic() - started
    redecoded = f" ({scores.redecoded} re-decoded)" if config.decoding.ban_copy else ""
    say(f"[{number}/{total}] {spec.key}: chrF++ {scores.metrics['chrf']:.2f}, copies "
        f"{scores.copies}/{scores.n}{redecoded}, {generated} generated"
        f"{f', {kept} kept' if kept else ''} ({seconds:.0f} s)")  # fmt: skip
    return RunOutcome(spec, status, generated, kept, scores, folder, seconds)


def _write_iclmt_scores(model_dir: Path, outcomes: Sequence[RunOutcome]) -> None:
    """ICL-MT's score files (``chrf_scores/Eng_to_Fra_scores.json``, …) of every run."""
    by_direction: dict[str, list[ScoreEntry]] = {}
    for outcome in outcomes:
        named = iclmt_run(outcome.spec)
        by_direction.setdefault(named.direction, []).extend(
            ScoreEntry(metric, named.method, named.variant, named.k, named.seed, score)
            for metric, score in outcome.scores.metrics.items()
        )
    for direction, entries in by_direction.items():
        write_iclmt_scores(model_dir, direction, entries)


run_experiment = blocking(arun_experiment)
