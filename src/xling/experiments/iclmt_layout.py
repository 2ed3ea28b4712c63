"""The file layout of the ICL-MT repository (Zebaze, Sagot, Bawden 2024; ArmelRandy/ICL-MT).

Writing runs and scores in this layout lets ICL-MT's analysis scripts and xling read the same
files. Under one model folder (``generations/llama-2-7b``):

- generations: ``<Method>/<Src>_to_<Tgt>/<Source>_to_<Target>_<k>_shot_seed_<seed>_template_<n>_
  <Method>_<variant>.jsonl``, one ``{"translation": ...}`` per test sentence, e.g.
  ``Random/Eng_to_Fra/English_to_French_10_shot_seed_42_template_11_Random_s2s.jsonl``
  (``main.py`` line 732 names them; ``comet_eval.py`` parses them back by ``split("_")``);
- scores: ``chrf_scores/``, ``bleu_scores/``, ``comet_scores/``, ``comet_la_scores/``, each
  holding ``<Src>_to_<Tgt>_scores.json`` = ``{method: {variant: {k: score}}}``. For ``Random``
  (three seeds) chrF++ and BLEU hold ``{k: {"mean": m, "std": s}}`` with the population
  standard deviation (``np.std``, ddof 0: it reproduces every published entry), while COMET and
  laCOMET hold ``{k: {seed: score}}`` as ``comet_eval.py`` writes them. chrF++/BLEU are on
  0–100, COMET/laCOMET on the model's 0–1 scale.

How xling's runs map onto ICL-MT's methods (:func:`iclmt_method`):

- any 0-shot run (``k == 0``) and ``random`` → ``Random``, variant ``s2s``;
- ``bm25`` → ``bm25``/``s2s``; ``r-bm25`` → ``RBM25``/``s2s``;
- dense ``s2s``/``s2t``/``mix`` → the embedder's method name, variant = the strategy;
- any other strategy → ``<embedder method>+<strategy>`` (or the strategy alone without an
  embedder), variant ``s2s``.

An embedder's method name comes from :data:`ICLMT_EMBEDDERS` (the exact models ICL-MT used:
``sentence-transformers/LaBSE`` → ``LaBSE``, ...), keyed by the model id of the spec
(``st:sentence-transformers/LaBSE`` → ``sentence-transformers/LaBSE``); any other embedder is
named by the last path part of its model id, with characters outside ``[A-Za-z0-9.+-]`` turned
into ``-`` (``e5-small-q4`` → ``e5-small-q4``, ``st:intfloat/multilingual-e5-small`` →
``multilingual-e5-small``), so that a different model never poses as one of ICL-MT's. Callers
may pass their own ``methods`` table (embedder spec → name) to override both.

ICL-MT's own analysis reads only full runs over the 1,012 FLORES-200 devtest sentences
(``eval.ipynb`` skips files of another length); runs on a subset land in this layout but its
scripts ignore them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.files import write_atomic
from xling.core.languages import language_name, normalize_code
from xling.experiments.runs import RunSpec

__all__ = [
    "ICLMT_LANGUAGE_NAMES",
    "ICLMT_EMBEDDERS",
    "ICLMT_STRATEGIES",
    "ICLMT_SCORE_DIRS",
    "RANDOM_METHOD",
    "IclmtRun",
    "ScoreEntry",
    "iclmt_language_name",
    "iclmt_direction",
    "parse_direction",
    "embedder_method",
    "iclmt_method",
    "template_number",
    "iclmt_run",
    "write_generations",
    "write_iclmt_outputs",
    "read_generations",
    "merge_scores",
    "write_iclmt_scores",
]

ICLMT_LANGUAGE_NAMES: dict[str, str] = {
    "eng": "English",
    "fra": "French",
    "deu": "German",
    "swh": "Swahili",
    "wol": "Wolof",
    "hau": "Hausa",
    "jav": "Javanese",
    "som": "Somali",
    "tel": "Telugu",
    "urd": "Urdu",
    "xho": "Xhosa",
    "zul": "Zulu",
    "npi": "Nepali",
}
"""ISO 639-3 code → the name in ICL-MT's file names (``comet_eval.py``'s ``MP``)."""

ICLMT_EMBEDDERS: dict[str, str] = {
    "sentence-transformers/LaBSE": "LaBSE",
    "intfloat/multilingual-e5-large": "E5",
    "embed-multilingual-v3.0": "Cohere",
    "text_sonar_basic_encoder": "SONAR",
    "facebook/SONAR": "SONAR",
    "laser2": "Laser2",
}
"""Model id → ICL-MT method name, for the embedders ICL-MT used (``miscellaneous/embedding.py``)."""

ICLMT_STRATEGIES: dict[str, tuple[str, str]] = {
    "random": ("Random", "s2s"),
    "bm25": ("bm25", "s2s"),
    "r-bm25": ("RBM25", "s2s"),
}
"""xling strategies without an embedder → ICL-MT ``(method, variant)``."""

DENSE_VARIANTS = ("s2s", "s2t", "mix")
"""Dense strategies whose name is ICL-MT's variant (``--format``) as it is."""

ICLMT_SCORE_DIRS: dict[str, str] = {
    "chrf": "chrf_scores",
    "bleu": "bleu_scores",
    "comet": "comet_scores",
    "lacomet": "comet_la_scores",
}
"""xling metric → the score folder ICL-MT keeps it in."""

RANDOM_METHOD = "Random"
# Metrics whose Random entries ICL-MT publishes as mean/std over seeds; the others per seed.
_MEAN_STD_METRICS = ("chrf", "bleu")

_NAME_RE = re.compile(
    r"^(?P<src>[^_]+)_to_(?P<tgt>[^_]+)_(?P<k>\d+)_shot_seed_(?P<seed>\d+)_template_"
    r"(?P<template>\d+)_(?P<method>.+)_(?P<variant>[^_]+)\.jsonl$"
)
_DIRECTION_RE = re.compile(r"^(?P<src>[A-Z][a-z]+)_to_(?P<tgt>[A-Z][a-z]+)$")
_TEMPLATE_RE = re.compile(r"^icl-mt-(\d+)$")


def iclmt_language_name(code: str) -> str:
    """The language's name in ICL-MT file names (``swh`` → ``Swahili``).

    Languages outside :data:`ICLMT_LANGUAGE_NAMES` get their English name without spaces or
    punctuation, so the name stays one ``_``-free field of the file name.
    """
    canonical = normalize_code(code)
    if canonical in ICLMT_LANGUAGE_NAMES:
        return ICLMT_LANGUAGE_NAMES[canonical]
    return re.sub(r"[^\w]|_", "", language_name(canonical))


def iclmt_direction(src: str, tgt: str) -> str:
    """The direction folder: ``eng``, ``fra`` → ``Eng_to_Fra``."""
    return f"{normalize_code(src).capitalize()}_to_{normalize_code(tgt).capitalize()}"


def parse_direction(name: str) -> tuple[str, str]:
    """``Eng_to_Fra`` → ``("eng", "fra")``.

    Raises:
        InvalidInputError: If ``name`` is not a direction folder name.
    """
    match = _DIRECTION_RE.match(name)
    if not match:
        raise InvalidInputError(f"{name!r} is not an ICL-MT direction folder (like Eng_to_Fra)")
    return match.group("src").lower(), match.group("tgt").lower()


def embedder_method(embedder: str, methods: Mapping[str, str] | None = None) -> str:
    """The ICL-MT method name of an embedder spec (see the module docstring for the rule).

    Args:
        embedder: An embedder spec (``st:sentence-transformers/LaBSE``, ``e5-small-q4``).
        methods: Overrides, embedder spec → method name.
    """
    if methods and embedder in methods:
        return methods[embedder]
    head = embedder.strip().partition("?")[0]
    kind, sep, arg = head.partition(":")
    model = arg if sep else kind
    if model in ICLMT_EMBEDDERS:
        return ICLMT_EMBEDDERS[model]
    last = model.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9.+-]+", "-", last).strip("-")
    if not name:
        raise InvalidInputError(f"embedder spec {embedder!r} gives no ICL-MT method name")
    return name


def iclmt_method(spec: RunSpec, methods: Mapping[str, str] | None = None) -> tuple[str, str]:
    """ICL-MT's ``(method, variant)`` for a run (see the module docstring for the table).

    Raises:
        InvalidInputError: If a dense strategy has no embedder.
    """
    if spec.zero_shot:
        return ICLMT_STRATEGIES["random"]
    if spec.strategy in ICLMT_STRATEGIES:
        return ICLMT_STRATEGIES[spec.strategy]
    if spec.embedder is None:
        if spec.strategy in DENSE_VARIANTS:
            raise InvalidInputError(
                f"strategy {spec.strategy!r} needs an embedder to name its ICL-MT method"
            )
        return spec.strategy, "s2s"
    method = embedder_method(spec.embedder, methods)
    if spec.strategy in DENSE_VARIANTS:
        return method, spec.strategy
    return f"{method}+{spec.strategy}", "s2s"


def template_number(template: str) -> int:
    """ICL-MT's template number of an xling MT template (``icl-mt-11`` → 11).

    Raises:
        InvalidInputError: If the template is not one of ICL-MT's numbered templates.
    """
    match = _TEMPLATE_RE.match(template)
    if not match:
        raise InvalidInputError(
            f"template {template!r} has no ICL-MT number; the ICL-MT layout needs an "
            "icl-mt-<n> template"
        )
    return int(match.group(1))


@dataclass(frozen=True)
class IclmtRun:
    """One generation file of the ICL-MT layout, relative to the model folder.

    Attributes:
        src: Source language code (``eng``).
        tgt: Target language code (``fra``).
        k: Examples per prompt.
        seed: Seed of the run.
        template: ICL-MT template number (xling's ``icl-mt-<n>``).
        method: ICL-MT method folder (``Random``, ``SONAR``, ``bm25``).
        variant: ICL-MT retrieval format (``s2s``, ``s2t``, ``t2t``, ``mix``).
    """

    src: str
    tgt: str
    k: int
    seed: int
    template: int
    method: str
    variant: str

    @property
    def direction(self) -> str:
        """The direction folder (``Eng_to_Fra``)."""
        return iclmt_direction(self.src, self.tgt)

    @property
    def filename(self) -> str:
        """The file name, as ICL-MT's ``main.py`` writes it."""
        return (
            f"{iclmt_language_name(self.src)}_to_{iclmt_language_name(self.tgt)}_{self.k}_shot_"
            f"seed_{self.seed}_template_{self.template}_{self.method}_{self.variant}.jsonl"
        )

    @property
    def path(self) -> Path:
        """``<method>/<direction>/<filename>``, relative to the model folder."""
        return Path(self.method) / self.direction / self.filename

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def parse(cls, filename: str, direction: str) -> IclmtRun:
        """Reads a generation file name back, in its direction folder.

        Args:
            filename: ``English_to_French_10_shot_seed_42_template_11_Random_s2s.jsonl``.
            direction: Its folder, ``Eng_to_Fra`` (it gives the language codes).

        Raises:
            InvalidInputError: If the name does not follow ICL-MT's pattern or names other
                languages than its folder (ICL-MT's scorer skips such files too).
        """
        match = _NAME_RE.match(filename)
        if not match:
            raise InvalidInputError(
                f"{filename!r} is not an ICL-MT generation file name "
                "(<Source>_to_<Target>_<k>_shot_seed_<seed>_template_<n>_<Method>_<variant>.jsonl)"
            )
        src, tgt = parse_direction(direction)
        for code, name in ((src, match.group("src")), (tgt, match.group("tgt"))):
            if code in ICLMT_LANGUAGE_NAMES and ICLMT_LANGUAGE_NAMES[code] != name:
                raise InvalidInputError(
                    f"{filename!r} names {name} but sits in {direction} "
                    f"({code} is {ICLMT_LANGUAGE_NAMES[code]})"
                )
        return cls(
            src=src,
            tgt=tgt,
            k=int(match.group("k")),
            seed=int(match.group("seed")),
            template=int(match.group("template")),
            method=match.group("method"),
            variant=match.group("variant"),
        )


def iclmt_run(spec: RunSpec, methods: Mapping[str, str] | None = None) -> IclmtRun:
    """The ICL-MT file of a run spec.

    Args:
        spec: The run.
        methods: Embedder spec → method name overrides (see :func:`embedder_method`).

    Raises:
        InvalidInputError: If the template is not an ``icl-mt-<n>`` one, or a dense strategy
            has no embedder.
    """
    method, variant = iclmt_method(spec, methods)
    return IclmtRun(
        src=normalize_code(spec.src),
        tgt=normalize_code(spec.tgt),
        k=spec.k,
        seed=spec.seed,
        template=template_number(spec.template),
        method=method,
        variant=variant,
    )


def write_generations(path: Path, translations: Iterable[str]) -> Path:
    """Writes one ``{"translation": ...}`` line per translation, atomically.

    The lines are ``json.dumps`` with its defaults (ASCII escapes), as ICL-MT writes them; the
    translations are written as given (ICL-MT strips its outputs before writing; xling's
    cleaned translations are what its scores use, so they are kept unchanged).

    Raises:
        InvalidInputError: If a translation is not a string (nothing is written).
    """
    lines = []
    for i, text in enumerate(translations):
        if not isinstance(text, str):
            raise InvalidInputError(f"translations[{i}] is {type(text).__name__}; expected str")
        lines.append(json.dumps({"translation": text}) + "\n")
    write_atomic(path, "".join(lines))
    return path


def write_iclmt_outputs(
    root: Path,
    spec: RunSpec,
    translations: Sequence[str],
    *,
    methods: Mapping[str, str] | None = None,
) -> Path:
    """Writes a run's translations where ICL-MT keeps them.

    Args:
        root: The model folder (``generations/llama-2-7b``).
        spec: The run.
        translations: The cleaned translations, in test-set order.
        methods: Embedder spec → method name overrides.

    Returns:
        The file written: ``root / iclmt_run(spec).path``.
    """
    return write_generations(Path(root) / iclmt_run(spec, methods).path, translations)


def read_generations(path: Path) -> list[str]:
    """The translations of an ICL-MT generation file (its ``translation`` fields).

    Raises:
        InvalidInputError: On a line that is not an object with a string ``translation``.
    """
    out: list[str] = []
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                text = json.loads(line)["translation"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInputError(f"{path}:{number}: not an ICL-MT line ({exc})") from None
            if not isinstance(text, str):
                raise InvalidInputError(f"{path}:{number}: translation is not a string")
            out.append(text)
    return out


@dataclass(frozen=True)
class ScoreEntry:
    """One corpus score of one generation file, for ICL-MT's score files.

    Attributes:
        metric: ``chrf``, ``bleu``, ``comet`` or ``lacomet``.
        method: ICL-MT method.
        variant: ICL-MT variant.
        k: Examples per prompt.
        seed: Seed of the run.
        score: The corpus score (chrF++/BLEU 0–100, COMET/laCOMET on the model's scale).
    """

    metric: str
    method: str
    variant: str
    k: int
    seed: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def merge_scores(
    existing: Mapping[str, Any], metric: str, entries: Iterable[ScoreEntry]
) -> dict[str, Any]:
    """Merges new scores of one metric and direction into ICL-MT's score dict.

    Each ``(method, variant, k)`` that ``entries`` has is replaced; everything else is kept.
    For ``Random``, chrF++ and BLEU become ``{"mean", "std"}`` over the seeds given
    (population std, ``np.std``), COMET and laCOMET become ``{seed: score}`` merged with the
    seeds already there. Other methods get one number, the mean when several seeds are given
    (ICL-MT runs them with one seed).

    Args:
        existing: The file's current content (``{}`` for a new file); not modified.
        metric: The metric of ``entries``.
        entries: Scores; those of other metrics are refused.

    Returns:
        The merged content.

    Raises:
        InvalidInputError: If an entry is of another metric, or an existing entry that must be
            merged per seed is not a dict.
    """
    merged: dict[str, Any] = json.loads(json.dumps(existing))  # a deep copy
    grouped: dict[tuple[str, str, int], dict[int, float]] = {}
    for entry in entries:
        if entry.metric != metric:
            raise InvalidInputError(f"a {entry.metric} score given to merge into {metric} scores")
        grouped.setdefault((entry.method, entry.variant, entry.k), {})[entry.seed] = entry.score
    for (method, variant, k), by_seed in grouped.items():
        slot = merged.setdefault(method, {}).setdefault(variant, {})
        values = np.array([by_seed[s] for s in sorted(by_seed)], dtype=np.float64)
        if method != RANDOM_METHOD:
            slot[str(k)] = float(values.mean())
        elif metric in _MEAN_STD_METRICS:
            slot[str(k)] = {"mean": float(values.mean()), "std": float(values.std())}
        else:
            seeds = slot.get(str(k), {})
            if not isinstance(seeds, dict):
                raise InvalidInputError(
                    f"{metric} entry {method}/{variant}/{k} is {seeds!r}; expected {{seed: score}}"
                )
            seeds.update({str(s): float(v) for s, v in sorted(by_seed.items())})
            slot[str(k)] = seeds
    return merged


def write_iclmt_scores(
    model_dir: Path, direction: str, entries: Sequence[ScoreEntry]
) -> list[Path]:
    """Writes (merges into) ``<model_dir>/<metric>_scores/<direction>_scores.json`` per metric.

    Args:
        model_dir: The model folder.
        direction: The direction folder name (``Eng_to_Fra``).
        entries: Scores of that direction, any metrics of :data:`ICLMT_SCORE_DIRS`.

    Returns:
        The files written, one per metric present.

    Raises:
        InvalidInputError: For an unknown metric or an unreadable existing score file.
    """
    parse_direction(direction)
    written: list[Path] = []
    metrics = list(dict.fromkeys(e.metric for e in entries))
    for metric in metrics:
        if metric not in ICLMT_SCORE_DIRS:
            raise InvalidInputError(
                f"ICL-MT keeps no {metric!r} scores; allowed: {', '.join(ICLMT_SCORE_DIRS)}"
            )
        path = Path(model_dir) / ICLMT_SCORE_DIRS[metric] / f"{direction}_scores.json"
        existing: Any = {}
        if path.is_file():
            try:
                existing = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise InvalidInputError(f"{path}: not a JSON score file ({exc})") from None
            if not isinstance(existing, dict):
                raise InvalidInputError(f"{path}: expected a JSON object of methods")
        merged = merge_scores(existing, metric, [e for e in entries if e.metric == metric])
        write_atomic(path, json.dumps(merged))
        written.append(path)
    return written
