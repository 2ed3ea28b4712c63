"""Corpus BLEU and chrF++ through sacrebleu, with sufficient statistics for bootstrap tests.

chrF++ is sacrebleu's chrF with ``word_order=2``; it reproduces the ICL-MT study's chrF++ files
exactly. BLEU takes any sacrebleu tokenizer; the SentencePiece ones (``flores200``, ``flores101``,
``spm``) need their model file, which sacrebleu downloads on first use: here it must already be
on disk, either where sacrebleu keeps it or at a path given as ``spm_model``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError, MissingDependencyError, UnknownSpecError
from xling.core.validation import check_non_negative_int, check_sequence
from xling.eval.scores import MetricResult

__all__ = [
    "BLEU_TOKENIZERS",
    "SPM_TOKENIZERS",
    "CorpusStats",
    "bleu",
    "chrf",
    "corpus_stats",
    "check_mt_inputs",
    "spm_model_path",
]

# sacrebleu's BLEU tokenizers; the SentencePiece ones map to their model's file name and URL.
BLEU_TOKENIZERS = ("none", "zh", "13a", "intl", "char", "ja-mecab", "ko-mecab")
SPM_TOKENIZERS: dict[str, tuple[str, str]] = {
    "flores200": ("flores200sacrebleuspm", "https://tinyurl.com/flores200sacrebleuspm"),
    "flores101": (
        "sacrebleu_tokenizer_spm.model",
        "https://dl.fbaipublicfiles.com/fairseq/models/flores/sacrebleu_tokenizer_spm.model",
    ),
}


@dataclass(frozen=True)
class CorpusStats:
    """Per-segment sufficient statistics of a corpus metric and how to turn sums into a score.

    Attributes:
        name: Metric name.
        stats: ``(n_segments, n_stats)`` array; a corpus score is ``aggregate(stats.sum(0))``.
        aggregate: Maps summed statistics to the corpus score.
    """

    name: str
    stats: np.ndarray
    aggregate: Callable[[np.ndarray], float]

    def score(self, rows: np.ndarray | None = None) -> float:
        """The corpus score over all segments, or over the given row indices (with repeats)."""
        chosen = self.stats if rows is None else self.stats[rows]
        return self.aggregate(chosen.sum(axis=0))


def check_mt_inputs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    """Checks hypotheses and references: same non-zero length, strings only.

    Hypotheses may be empty strings (a system can output nothing); references may not.

    Raises:
        InvalidInputError: Naming the first bad item or the two lengths.
    """
    check_sequence(hypotheses, "hypotheses", "strings")
    check_sequence(references, "references", "strings")
    if len(hypotheses) == 0:
        raise InvalidInputError("no hypotheses given; at least one segment is needed")
    if len(hypotheses) != len(references):
        raise InvalidInputError(
            f"{len(hypotheses)} hypotheses but {len(references)} references; they must align"
        )
    for i, hyp in enumerate(hypotheses):
        if not isinstance(hyp, str):
            raise InvalidInputError(f"hypotheses[{i}] is {type(hyp).__name__}; expected str")
    for i, ref in enumerate(references):
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInputError(f"references[{i}] is {ref!r}; references must be non-empty")


def spm_model_path(tokenize: str) -> Path:
    """Where sacrebleu looks for a SentencePiece tokenizer's model (``$SACREBLEU/models``)."""
    from sacrebleu.utils import SACREBLEU_DIR

    return Path(SACREBLEU_DIR) / "models" / SPM_TOKENIZERS[tokenize][0]


@lru_cache(maxsize=4)
def _spm_processor(path: str) -> Any:
    try:
        import sentencepiece
    except ImportError:
        raise MissingDependencyError(
            "SentencePiece BLEU tokenization needs the package 'sentencepiece'; "
            "install it with `pip install sentencepiece`"
        ) from None
    processor = sentencepiece.SentencePieceProcessor()
    processor.Load(path)
    return processor


def _bleu_metric(tokenize: str, spm_model: str | os.PathLike[str] | None) -> tuple[Any, Any]:
    """The sacrebleu BLEU object and a pre-tokenizer (``None`` when sacrebleu tokenizes)."""
    from sacrebleu.metrics import BLEU

    if tokenize in BLEU_TOKENIZERS:
        if spm_model is not None:
            raise InvalidInputError(
                f"spm_model is only used with tokenize in {sorted(SPM_TOKENIZERS)}; "
                f"got tokenize={tokenize!r}"
            )
        return BLEU(tokenize=tokenize), None
    if tokenize not in SPM_TOKENIZERS:
        allowed = ", ".join([*BLEU_TOKENIZERS, *SPM_TOKENIZERS])
        raise UnknownSpecError(f"unknown BLEU tokenizer {tokenize!r}; allowed: {allowed}")
    if spm_model is not None:
        model = Path(spm_model)
        if not model.is_file():
            raise InvalidInputError(f"SentencePiece model {str(model)!r} does not exist")
        processor = _spm_processor(str(model))
        # sacrebleu's SPM tokenizer joins the pieces with spaces and BLEU then splits on them;
        # tokenizing first and scoring with "none" is the same computation.
        return BLEU(tokenize="none"), lambda s: " ".join(processor.EncodeAsPieces(s.rstrip()))
    default = spm_model_path(tokenize)
    if not default.is_file():
        name, url = SPM_TOKENIZERS[tokenize]
        raise InvalidInputError(
            f"BLEU tokenizer {tokenize!r} needs its SentencePiece model {name!r}, which is not "
            f"on this machine and is never downloaded here; fetch {url} and save it as "
            f"{default} (or set $SACREBLEU), or pass its path as spm_model (--spm-model); "
            "'13a' and 'char' work offline"
        )
    return BLEU(tokenize=tokenize), None


def _signature(metric: Any, tokenize: str | None = None) -> str:
    sig = str(metric.get_signature())
    return sig.replace("tok:none", f"tok:{tokenize}") if tokenize else sig


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    tokenize: str = "13a",
    spm_model: str | os.PathLike[str] | None = None,
) -> MetricResult:
    """Corpus BLEU (sacrebleu), 0–100.

    Args:
        hypotheses: System outputs (empty strings allowed).
        references: One reference per hypothesis.
        tokenize: A sacrebleu tokenizer: ``13a`` (default), ``char``, ``intl``, ``zh``,
            ``flores200``, ``flores101``, ...
        spm_model: Path of the SentencePiece model for ``flores200``/``flores101`` when it is not
            where sacrebleu keeps it.

    Returns:
        The score and sacrebleu's signature.

    Raises:
        InvalidInputError: On misaligned input, or a SentencePiece tokenizer whose model is not on
            disk (the message says where to put it).
    """
    check_mt_inputs(hypotheses, references)
    metric, pre = _bleu_metric(tokenize, spm_model)
    hyps, refs = list(hypotheses), list(references)
    if pre is not None:
        hyps, refs = [pre(h) for h in hyps], [pre(r) for r in refs]
    result = metric.corpus_score(hyps, [refs])
    signature = _signature(metric, tokenize if pre is not None else None)
    return MetricResult("bleu", float(result.score), signature=signature)


def chrf(
    hypotheses: Sequence[str], references: Sequence[str], *, word_order: int = 2
) -> MetricResult:
    """Corpus chrF++ (``word_order=2``, the default) or chrF (``word_order=0``), 0–100.

    Args:
        hypotheses: System outputs (empty strings allowed).
        references: One reference per hypothesis.
        word_order: Word n-gram order; 2 gives chrF++.

    Returns:
        The score and sacrebleu's signature.
    """
    check_mt_inputs(hypotheses, references)
    check_non_negative_int(word_order, "word_order")
    metric = _chrf_with_references(word_order, tuple(references))
    result = metric.corpus_score(list(hypotheses), None)
    return MetricResult("chrf", float(result.score), signature=_signature(metric))


@lru_cache(maxsize=4)
def _chrf_with_references(word_order: int, references: tuple[str, ...]) -> Any:
    """A chrF object holding the references' n-gram counts, reused across systems (3× faster
    when several systems are scored against the same references)."""
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=word_order, references=[list(references)])


def corpus_stats(
    metric: str,
    hypotheses: Sequence[str],
    references: Sequence[str],
    **options: Any,
) -> CorpusStats:
    """Sufficient statistics of ``bleu`` or ``chrf`` for resampling (see :mod:`bootstrap`).

    Args:
        metric: ``bleu`` or ``chrf``.
        hypotheses: System outputs.
        references: References.
        **options: ``tokenize``/``spm_model`` for BLEU, ``word_order`` for chrF.
    """
    check_mt_inputs(hypotheses, references)
    hyps, refs = list(hypotheses), list(references)
    if metric == "bleu":
        sb, pre = _bleu_metric(options.get("tokenize", "13a"), options.get("spm_model"))
        if pre is not None:
            hyps, refs = [pre(h) for h in hyps], [pre(r) for r in refs]
    elif metric == "chrf":
        order = check_non_negative_int(options.get("word_order", 2), "word_order")
        sb = _chrf_with_references(order, tuple(refs))
    else:
        raise UnknownSpecError(f"no sufficient statistics for metric {metric!r}; use bleu or chrf")
    # The chrF object holds its references already.
    ref_streams: list[list[str]] | None = None if metric == "chrf" else [refs]
    stats = np.asarray(sb._extract_corpus_statistics(hyps, ref_streams), dtype=np.float64)
    return CorpusStats(metric, stats, lambda s: float(sb._compute_score_from_stats(s).score))
