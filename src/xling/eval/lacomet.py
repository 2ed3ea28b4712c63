"""laCOMET: COMET gated by the language of the output, as the ICL-MT study defines it.

ICL-MT's ``comet_eval.py`` multiplies each segment's COMET score by an indicator that the first
line of the hypothesis (``prediction.split("\\n")[0]``) is in the target language, scores empty
hypotheses 0 (its ``--empty`` flag), and averages. A model that answers in the wrong language, or
copies the source, then gets no credit even where COMET would give some. Copies of the source
are counted separately, since LID cannot tell a copy from a translation when the two languages
look alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import check_sequence, preview
from xling.eval.comet import CometScorer, sanitize_segments
from xling.eval.scores import MetricResult
from xling.lid import Detection, default_backend, get_identifier

__all__ = ["first_line", "is_copy", "language_gate", "lacomet", "comet_and_lacomet"]


def _check_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {preview(value)}")
    return value


def first_line(hypothesis: str) -> str:
    """The text ICL-MT gives to LID: everything before the first newline.

    Raises:
        InvalidInputError: If ``hypothesis`` is not a string.
    """
    return _check_str(hypothesis, "hypothesis").split("\n")[0]


def is_copy(hypothesis: str, source: str) -> bool:
    """Whether the hypothesis repeats the source (whitespace differences ignored).

    Raises:
        InvalidInputError: If either is not a string.
    """
    hyp, src = _check_str(hypothesis, "hypothesis"), _check_str(source, "source")
    return " ".join(hyp.split()) == " ".join(src.split())


def language_gate(
    hypotheses: Sequence[str],
    tgt_lang: str,
    *,
    backend: str | None = None,
    candidates: Sequence[str] | None = None,
) -> list[Detection]:
    """Identifies the language of each hypothesis's first line.

    Args:
        hypotheses: System outputs.
        tgt_lang: The expected language (any ISO 639-1/3 or FLORES code).
        backend: LID backend name; default: the one measured best for ``tgt_lang``.
        candidates: Optional restricted candidate set (the target is always added).

    Returns:
        One :class:`Detection` per hypothesis (``und`` for an empty first line).
    """
    target = normalize_code(tgt_lang)
    identifier = get_identifier(backend or default_backend(target))
    codes = None if candidates is None else check_sequence(candidates, "candidates", "codes")
    restricted = None if codes is None else sorted({target, *map(normalize_code, codes)})
    texts = check_sequence(hypotheses, "hypotheses", "strings")
    return identifier.detect_many([first_line(h) for h in texts], restricted)


def lacomet(
    comet_segments: Sequence[float],
    hypotheses: Sequence[str],
    tgt_lang: str,
    *,
    sources: Sequence[str] | None = None,
    backend: str | None = None,
    candidates: Sequence[str] | None = None,
) -> MetricResult:
    """laCOMET from COMET segment scores.

    Args:
        comet_segments: One COMET score per hypothesis (NaN allowed: those segments score 0).
        hypotheses: The hypotheses the scores belong to.
        tgt_lang: The target language.
        sources: If given, copies of the source are counted (``copies``, ``copy_rate``).
        backend: LID backend; default per target language (see :mod:`xling.lid.defaults`).
        candidates: Optional restricted LID candidates (target always included).

    Returns:
        ``score`` = mean(segment × in-target indicator), empty hypotheses 0; ``details`` holds
        ``in_target_rate``, ``empty``, ``nan_segments``, ``detected`` (counts per language),
        ``backend`` and, with sources, ``copies`` and ``copy_rate``.

    Raises:
        InvalidInputError: If the inputs differ in length or are empty.
    """
    comet_segments = check_sequence(comet_segments, "comet_segments", "numbers")
    hypotheses = check_sequence(hypotheses, "hypotheses", "strings")
    if len(hypotheses) == 0 or len(comet_segments) != len(hypotheses):
        raise InvalidInputError(
            f"laCOMET needs one COMET score per hypothesis; got {len(comet_segments)} scores "
            f"for {len(hypotheses)} hypotheses"
        )
    target = normalize_code(tgt_lang)
    chosen = backend or default_backend(target)
    detections = language_gate(hypotheses, target, backend=chosen, candidates=candidates)
    scores, bad = sanitize_segments(comet_segments)
    segments = []
    empty = 0
    for score, hyp, detection in zip(scores, hypotheses, detections, strict=True):
        if not hyp.strip():
            empty += 1
            segments.append(0.0)
        else:
            segments.append(score if detection.lang == target else 0.0)
    in_target = sum(d.lang == target for d in detections)
    details: dict[str, object] = {
        "in_target_rate": in_target / len(hypotheses),
        "empty": empty,
        "nan_segments": len(bad),
        "detected": dict(Counter(d.lang for d in detections).most_common(5)),
        "backend": chosen,
    }
    if sources is not None:
        if len(sources) != len(hypotheses):
            raise InvalidInputError(
                f"{len(hypotheses)} hypotheses but {len(sources)} sources; they must align"
            )
        copies = sum(is_copy(h, s) for h, s in zip(hypotheses, sources, strict=True))
        details.update(copies=copies, copy_rate=copies / len(hypotheses))
    return MetricResult(
        "lacomet", sum(segments) / len(segments), tuple(segments), f"lacomet:{chosen}", details
    )


def comet_and_lacomet(
    scorer: CometScorer,
    hypotheses: Sequence[str],
    references: Sequence[str] | None,
    sources: Sequence[str] | None,
    tgt_lang: str,
    *,
    backend: str | None = None,
    candidates: Sequence[str] | None = None,
) -> tuple[MetricResult, MetricResult]:
    """COMET and laCOMET from one COMET run."""
    comet = scorer.score(hypotheses, references, sources)
    assert comet.segments is not None
    gated = lacomet(
        comet.segments,
        hypotheses,
        tgt_lang,
        sources=sources,
        backend=backend,
        candidates=candidates,
    )
    gated = MetricResult(
        gated.name,
        gated.score,
        gated.segments,
        f"{scorer.signature}+{gated.signature}",
        {**gated.details, "nan_segments": comet.details["nan_segments"]},
    )
    return comet, gated
