"""Evaluation: MT metrics, language ID and checks, answer correctness, QA files, IR, mining.

Heavy optional parts (COMET, the LID backends) load lazily on first use.
"""

from xling.eval.answer_metrics import (
    answer_scores,
    char_ngram_recall,
    exact_match,
    normalize_answer,
    token_f1,
)
from xling.eval.bootstrap import BootstrapResult, paired_bootstrap, segment_stats
from xling.eval.bucc import BuccScore, best_threshold, bucc_f1
from xling.eval.comet import DEFAULT_COMET_MODEL, CometScorer, resolve_checkpoint
from xling.eval.copying import COPY_THRESHOLD, copies_source, copy_rate, source_overlap
from xling.eval.files import check_aligned, read_hypotheses, read_references
from xling.eval.ir_metrics import (
    Measure,
    Qrels,
    RetrievalResult,
    Run,
    evaluate_run,
    parse_measure,
    read_qrels,
    read_run,
)
from xling.eval.lacomet import comet_and_lacomet, first_line, is_copy, lacomet, language_gate
from xling.eval.language_check import (
    LanguageChecker,
    LanguageReport,
    LanguageSummary,
    LanguageVerdict,
    read_responses,
    split_sentences,
)
from xling.eval.mining import MINING_KINDS, MinedPair, MiningResult, mine_pairs, xsim
from xling.eval.mining_files import (
    MINING_SYMMETRIC_ROLES,
    MiningPairResult,
    MiningReport,
    evaluate_mining,
)
from xling.eval.mt_metrics import CorpusStats, bleu, chrf, corpus_stats
from xling.eval.mt_scoring import MT_METRICS, MTMetric, MTScores, bootstrap_dict, score_mt
from xling.eval.qa_datasets import (
    MKQA_LANGUAGES,
    QA_FORMATS,
    QAExample,
    read_miracl,
    read_mkqa,
    read_qa_examples,
    read_xor_tydi,
    write_qa_examples,
)
from xling.eval.scores import MetricResult

__all__ = [
    "COPY_THRESHOLD",
    "copies_source",
    "copy_rate",
    "source_overlap",
    "DEFAULT_COMET_MODEL",
    "MINING_KINDS",
    "MINING_SYMMETRIC_ROLES",
    "MKQA_LANGUAGES",
    "MT_METRICS",
    "QA_FORMATS",
    "BootstrapResult",
    "BuccScore",
    "CometScorer",
    "CorpusStats",
    "LanguageChecker",
    "LanguageReport",
    "LanguageSummary",
    "LanguageVerdict",
    "MTMetric",
    "MTScores",
    "Measure",
    "MetricResult",
    "MinedPair",
    "MiningPairResult",
    "MiningReport",
    "MiningResult",
    "QAExample",
    "Qrels",
    "RetrievalResult",
    "Run",
    "answer_scores",
    "best_threshold",
    "bleu",
    "bootstrap_dict",
    "bucc_f1",
    "char_ngram_recall",
    "check_aligned",
    "chrf",
    "comet_and_lacomet",
    "corpus_stats",
    "evaluate_mining",
    "evaluate_run",
    "exact_match",
    "first_line",
    "is_copy",
    "lacomet",
    "language_gate",
    "mine_pairs",
    "normalize_answer",
    "paired_bootstrap",
    "parse_measure",
    "read_hypotheses",
    "read_miracl",
    "read_mkqa",
    "read_qa_examples",
    "read_qrels",
    "read_references",
    "read_responses",
    "read_run",
    "read_xor_tydi",
    "resolve_checkpoint",
    "score_mt",
    "segment_stats",
    "split_sentences",
    "token_f1",
    "write_qa_examples",
    "xsim",
]
