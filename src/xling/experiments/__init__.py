"""Jobs composing the library for ICL-MT experiments: translating prompts with an LLM, the runs
of a grid, re-scoring their outputs (xling's or the ICL-MT repository's layout) and summaries."""

from xling.experiments.config import (
    ConfigError,
    DataConfig,
    DecodingConfig,
    ExperimentConfig,
    LLMConfig,
    StrategyConfig,
    load_config,
    parse_config,
)
from xling.experiments.iclmt_layout import (
    IclmtRun,
    ScoreEntry,
    iclmt_method,
    iclmt_run,
    merge_scores,
    read_generations,
    write_iclmt_outputs,
    write_iclmt_scores,
)
from xling.experiments.rescore import (
    LAYOUTS,
    RescoredFile,
    RescoreReport,
    SkippedFile,
    score_directory,
    score_outputs,
)
from xling.experiments.runner import (
    ExperimentReport,
    PlannedRun,
    RunOutcome,
    arun_experiment,
    plan_runs,
    run_experiment,
)
from xling.experiments.runs import OutputRow, RunResult, RunScores, RunSpec, finished_runs
from xling.experiments.sources import TestSet
from xling.experiments.summary import (
    Comparison,
    Summary,
    SummaryCell,
    plot_summary,
    summarize,
    write_summary,
)
from xling.experiments.translate import atranslate, translate

__all__ = [
    "LAYOUTS",
    "Comparison",
    "ConfigError",
    "DataConfig",
    "DecodingConfig",
    "ExperimentConfig",
    "ExperimentReport",
    "LLMConfig",
    "PlannedRun",
    "RunOutcome",
    "StrategyConfig",
    "TestSet",
    "arun_experiment",
    "load_config",
    "parse_config",
    "plan_runs",
    "run_experiment",
    "IclmtRun",
    "OutputRow",
    "RescoreReport",
    "RescoredFile",
    "RunResult",
    "RunScores",
    "RunSpec",
    "ScoreEntry",
    "SkippedFile",
    "Summary",
    "SummaryCell",
    "atranslate",
    "finished_runs",
    "iclmt_method",
    "iclmt_run",
    "merge_scores",
    "plot_summary",
    "read_generations",
    "score_directory",
    "score_outputs",
    "summarize",
    "translate",
    "write_iclmt_outputs",
    "write_iclmt_scores",
    "write_summary",
]
