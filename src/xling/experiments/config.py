"""The experiment config: a TOML file describing an ICL-MT grid, checked whole before any work.

A config names the directions, the strategies (with their embedders), the values of k, the
seeds and templates, where the example pool and the test set come from, the LLM and its
decoding, and the metrics. :func:`load_config` reads and checks its shape; every problem it
finds is reported at once, each with its key (``strategies[2].name: unknown strategy …``), in
one :class:`ConfigError`. Problems only the data can show (k larger than a pool, misaligned
files, an unreachable LLM) are checked by the runner before any generation starts, the same way.

Example (``examples/iclmt-flores.toml``)::

    name = "iclmt-flores"
    directions = ["eng-fra", "eng-swh"]
    strategies = ["0-shot", "random", "bm25", "s2s", "margin"]
    k = [5]

    [data]
    pool = "bundled:dev"        # FLORES-200 dev shipped with xling
    test = "bundled:devtest"    # its first 100 devtest sentences

Data sources (``data.pool``, ``data.test``):

- ``bundled:dev`` / ``bundled:devtest``: the FLORES-200 files shipped with xling (eng, fra, swh);
- a path with ``{lang}`` (``flores/{lang}/dev.txt``): one sentence a line, one file a language;
- a path ending ``.tsv`` (``{src}``/``{tgt}`` allowed): source, tab, target a line;
- a path ending ``.jsonl``: one object a line with the language codes as keys (``{"eng": …}``);
- ``xling:NAME``: an xling pool's aligned pairs (``data.chroma_path`` or ``data.chroma_url``).

Relative paths are read from the config file's folder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from xling.core.errors import InvalidInputError, XlingError
from xling.core.languages import normalize_code
from xling.embedders import DEFAULT_EMBEDDER, parse_spec
from xling.llm import EMBEDDED_MODELS
from xling.prompts.mt import DEFAULT_MT_TEMPLATE, MT_TEMPLATES
from xling.selectors import SelectionConfig, available_selectors

__all__ = [
    "ZERO_SHOT",
    "DECODING_MODES",
    "ConfigError",
    "StrategyConfig",
    "DecodingConfig",
    "LLMConfig",
    "DataConfig",
    "ExperimentConfig",
    "load_config",
    "parse_config",
]

ZERO_SHOT = "0-shot"
DecodingMode = Literal["greedy", "sample", "beam"]
DECODING_MODES: tuple[DecodingMode, ...] = get_args(DecodingMode)
# Strategies whose examples do not depend on the embedder; the others are dense.
_LEXICAL = {"random", "bm25", "r-bm25"}
_OPTION_FIELDS = set(SelectionConfig.__dataclass_fields__) - {"method", "k", "embedder"}
_TOP_KEYS = {"name", "directions", "strategies", "k", "seeds", "templates", "embedder", "data",
             "llm", "decoding", "scoring"}  # fmt: skip


class ConfigError(InvalidInputError):
    """Every problem of a config, each with its key.

    Attributes:
        problems: ``(key, message)`` pairs, in the order found.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        listed = "; ".join(f"{key}: {message}" for key, message in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"config {source} has {len(problems)} {noun}: {listed}")


@dataclass(frozen=True)
class StrategyConfig:
    """One row of the grid.

    Attributes:
        name: A selection method (:func:`xling.selectors.available_selectors`) or ``0-shot``.
        embedder: Embedder spec of a dense strategy (``None`` for random, BM25 and 0-shot).
        label: The row's name in tables (default: the name, plus the embedder when another
            row uses the same strategy).
        options: Further :class:`~xling.selectors.SelectionConfig` fields (``mmr_lambda``…).
    """

    name: str
    embedder: str | None = None
    label: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def zero_shot(self) -> bool:
        return self.name == ZERO_SHOT

    def selection(self, k: int, seed: int) -> SelectionConfig:
        """The selector config of one run."""
        extra: dict[str, Any] = {"embedder": self.embedder} if self.embedder else {}
        return SelectionConfig(method=self.name, k=k, seed=seed, **extra, **self.options)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "embedder": self.embedder, "label": self.label,
                "options": dict(self.options)}  # fmt: skip


@dataclass(frozen=True)
class DecodingConfig:
    """How translations are generated.

    Attributes:
        mode: ``greedy`` (ICL-MT's default), ``sample`` (with the run's seed) or ``beam``
            (vLLM's beam search; the published ICL-MT runs used 2 beams and 100 new tokens).
        max_new_tokens: Most tokens per translation (ICL-MT's code: 75).
        temperature: Sampling temperature (``sample``).
        top_p: Nucleus mass (``sample``).
        beams: Beam width (``beam``).
        ban_copy: When a translation repeats its source (:func:`xling.eval.copies_source`),
            send the prompt again with the source's first tokens banned (OpenAI
            ``logit_bias``); the row keeps the copy as ``raw_copy``. The ban holds for the
            whole second answer, so a translation that should start with the source's first
            name cannot; off by default, as ICL-MT decodes once. Not with ``beam``, whose vLLM
            implementation takes no ``logit_bias``.
    """

    mode: DecodingMode = "greedy"
    max_new_tokens: int = 75
    temperature: float = 0.7
    top_p: float = 0.95
    beams: int = 2
    ban_copy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LLMConfig:
    """The OpenAI-compatible LLM server.

    Attributes:
        url: Its ``/v1`` URL; ``None``: the embedded vLLM server, started and stopped by the
            runner.
        model: The served model's name (default: the server's first).
        embedded: The embedded model started when there is no URL
            (:data:`~xling.llm.embedded_models.EMBEDDED_MODELS`); ``None``: the job's default
            (:data:`~xling.llm.embedded_models.EMBEDDED_DEFAULTS`).
        concurrency: Requests in flight (every prompt of a run is sent, this many at a time).
        timeout: Seconds per request.
    """

    url: str | None = None
    model: str | None = None
    embedded: str | None = None
    concurrency: int = 64
    timeout: float = 600.0


@dataclass(frozen=True)
class DataConfig:
    """Where the example pool and the test set come from (see the module docstring).

    Attributes:
        pool: The pool source.
        test: The test-set source.
        test_size: Translate only the first this many test sentences (``None``: all).
        chroma_path: Embedded Chroma folder of ``xling:`` sources.
        chroma_url: Chroma server URL of ``xling:`` sources.
        base: The folder relative paths are read from.
    """

    pool: str = "bundled:dev"
    test: str = "bundled:devtest"
    test_size: int | None = None
    chroma_path: str | None = None
    chroma_url: str | None = None
    base: Path = Path(".")

    def to_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "test": self.test, "test_size": self.test_size,
                "chroma_path": self.chroma_path, "chroma_url": self.chroma_url}  # fmt: skip


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole grid: directions × strategies × k × seeds × templates.

    Attributes:
        name: The experiment's name (default output folder ``runs/<name>``).
        directions: ``(src, tgt)`` pairs of language codes.
        strategies: The rows.
        ks: Values of k (a 0-shot row ignores them).
        seeds: Seeds. Random selection and sampled decoding run once per seed; deterministic
            strategies under greedy or beam decoding would repeat the same run, so they run
            with the first seed only.
        templates: MT prompt template names.
        data: Pool and test set.
        llm: The LLM server.
        decoding: Decoding settings.
        comet: COMET checkpoint path; when set, COMET and laCOMET are scored too.
        source: Where the config came from (for messages).
    """

    name: str
    directions: tuple[tuple[str, str], ...]
    strategies: tuple[StrategyConfig, ...]
    ks: tuple[int, ...] = (5,)
    seeds: tuple[int, ...] = (0,)
    templates: tuple[str, ...] = (DEFAULT_MT_TEMPLATE,)
    data: DataConfig = field(default_factory=DataConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    comet: str | None = None
    source: str = "<config>"

    @property
    def metrics(self) -> tuple[str, ...]:
        """chrF++ and BLEU always; COMET and laCOMET with a checkpoint."""
        return ("chrf", "bleu", "comet", "lacomet") if self.comet else ("chrf", "bleu")


# -- reading ---------------------------------------------------------------------------------
class Problems:
    """Collects ``(key, message)`` problems while a config is read."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, message: str) -> None:
        self.items.append((key, message))

    def unknown(self, table: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
        """Records every key of ``table`` not in ``allowed`` (``prefix``: its table's name)."""
        for key in sorted(set(table) - allowed):
            self.add(prefix + key, f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def check(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, or ``None`` with the problem recorded when it raises an xling error."""
        try:
            return make()
        except XlingError as exc:
            self.add(key, str(exc))
            return None


def int_list(value: Any, key: str, problems: Problems, *, minimum: int) -> tuple[int, ...]:
    """Integers ``>= minimum`` from one value or a list, repeats dropped; bad ones recorded."""
    items = value if isinstance(value, list) else [value]
    good: list[int] = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            where = key if not isinstance(value, list) else f"{key}[{i}]"
            problems.add(where, f"{item!r} is not allowed; use an integer >= {minimum}")
        else:
            good.append(item)
    if isinstance(value, list) and not value:
        problems.add(key, "is empty; give at least one value")
    return tuple(dict.fromkeys(good))


def _directions(value: Any, problems: Problems) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        problems.add("directions", 'give a list such as ["eng-fra", "eng-swh"]')
        return ()
    out: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        key = f"directions[{i}]"
        parts = item.split("-") if isinstance(item, str) else []
        if len(parts) != 2:
            problems.add(key, f"{item!r} is not a direction; write it as src-tgt (eng-fra)")
            continue
        src = problems.check(key, lambda p=parts[0]: normalize_code(p))  # type: ignore[misc]
        tgt = problems.check(key, lambda p=parts[1]: normalize_code(p))  # type: ignore[misc]
        if src and tgt:
            if src == tgt:
                problems.add(key, f"{item!r} translates {src} into itself")
            else:
                out.append((src, tgt))
    return tuple(dict.fromkeys(out))


def _strategy(item: Any, key: str, default_embedder: str, problems: Problems) -> StrategyConfig:
    before = len(problems.items)
    if not isinstance(item, str | dict):
        problems.add(key, f"{item!r} is not a strategy; give a name or a table with name = …")
        return StrategyConfig(str(item))
    table: dict[str, Any] = {"name": item} if isinstance(item, str) else dict(item)
    name = table.pop("name", None)
    allowed = [ZERO_SHOT, *available_selectors()]
    if name not in allowed:
        problems.add(f"{key}.name", f"unknown strategy {name!r}; allowed: {', '.join(allowed)}")
        return StrategyConfig(str(name))
    embedder = table.pop("embedder", None)
    label = table.pop("label", "")
    options = table.pop("options", {})
    for extra in sorted(table):
        problems.add(f"{key}.{extra}", "unknown key; allowed: name, embedder, label, options")
    if not isinstance(options, dict):
        problems.add(f"{key}.options", "must be a table of selection settings")
        options = {}
    for option in sorted(set(options) - _OPTION_FIELDS):
        problems.add(
            f"{key}.options.{option}",
            f"unknown selection setting; allowed: {', '.join(sorted(_OPTION_FIELDS))}",
        )
    dense = name not in _LEXICAL and name != ZERO_SHOT
    if dense:
        embedder = embedder or default_embedder
        problems.check(f"{key}.embedder", lambda: parse_spec(embedder))
    elif embedder is not None:
        problems.add(f"{key}.embedder", f"{name} uses no embedder")
        embedder = None
    config = StrategyConfig(name, embedder, str(label), dict(options))
    if name != ZERO_SHOT and len(problems.items) == before:
        problems.check(key, lambda: config.selection(1, 0))  # the options' own checks
    return config


def _labelled(strategies: list[StrategyConfig]) -> tuple[StrategyConfig, ...]:
    """Gives unlabelled rows their name, plus the embedder where a name repeats."""
    counts: dict[str, int] = {}
    for s in strategies:
        counts[s.name] = counts.get(s.name, 0) + 1
    out = []
    for s in strategies:
        label = s.label or (
            f"{s.name} ({s.embedder})" if counts[s.name] > 1 and s.embedder else s.name
        )
        out.append(StrategyConfig(s.name, s.embedder, label, s.options))
    return tuple(out)


def table_section(
    data: Mapping[str, Any], name: str, allowed: set[str], problems: Problems
) -> dict[str, Any]:
    """The ``[name]`` table's allowed keys; a non-table or an unknown key is recorded."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.add(name, "must be a table")
        return {}
    problems.unknown(table, allowed, f"{name}.")
    return {k: v for k, v in table.items() if k in allowed}


def _decoding(table: dict[str, Any], problems: Problems) -> DecodingConfig:
    config = DecodingConfig(**table) if table else DecodingConfig()
    if config.mode not in DECODING_MODES:
        problems.add("decoding.mode", f"{config.mode!r}; allowed: {', '.join(DECODING_MODES)}")
    for key in ("max_new_tokens", "beams"):
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.add(f"decoding.{key}", f"{value!r} is not allowed; use a positive integer")
    if not isinstance(config.temperature, int | float) or not 0 < config.temperature <= 5:
        problems.add("decoding.temperature", f"{config.temperature!r}; use a number in (0, 5]")
    if not isinstance(config.top_p, int | float) or not 0 < config.top_p <= 1:
        problems.add("decoding.top_p", f"{config.top_p!r}; use a number in (0, 1]")
    if not isinstance(config.ban_copy, bool):
        problems.add("decoding.ban_copy", f"{config.ban_copy!r}; use true or false")
    elif config.ban_copy and config.mode == "beam":
        # vLLM's beam search takes no logit_bias: the re-decode would repeat the copy.
        problems.add("decoding.ban_copy", "needs mode greedy or sample (beam search ignores "
                     "the logit_bias that bans the copy)")  # fmt: skip
    return config


def llm_settings(data: Mapping[str, Any], problems: Problems) -> LLMConfig:
    """The config's ``[llm]`` table as an :class:`LLMConfig`; an unknown key, a bad URL or
    concurrency is recorded."""
    table = table_section(
        data, "llm", {"url", "model", "embedded", "concurrency", "timeout"}, problems
    )
    config = LLMConfig(**table) if table else LLMConfig()
    if config.url is not None and (
        not isinstance(config.url, str) or not config.url.startswith(("http://", "https://"))
    ):
        problems.add("llm.url", f"{config.url!r} is not an http(s) URL")
    if (
        isinstance(config.concurrency, bool)
        or not isinstance(config.concurrency, int)
        or (config.concurrency < 1)
    ):
        problems.add("llm.concurrency", f"{config.concurrency!r}; use a positive integer")
    if config.embedded is not None and config.embedded not in EMBEDDED_MODELS:
        known = ", ".join(EMBEDDED_MODELS)
        problems.add("llm.embedded", f"{config.embedded!r} is not an embedded model; use {known}")
    return config


def _data(table: dict[str, Any], base: Path, problems: Problems) -> DataConfig:
    config = DataConfig(**table, base=base)
    for key in ("pool", "test"):
        value = getattr(config, key)
        if not isinstance(value, str) or not value.strip():
            problems.add(f"data.{key}", "give a source (bundled:dev, a path, or xling:POOL)")
    size = config.test_size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        problems.add("data.test_size", f"{size!r} is not allowed; use a positive integer")
    return config


def parse_config(data: Mapping[str, Any], *, source: str, base: Path) -> ExperimentConfig:
    """Builds and checks a config from TOML data.

    Raises:
        ConfigError: With every problem found.
    """
    problems = Problems()
    problems.unknown(data, _TOP_KEYS)
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip() or "/" in name:
        problems.add("name", f"{name!r} is not a usable name (a folder is made of it)")
    directions = _directions(data.get("directions"), problems)
    default_embedder = data.get("embedder", DEFAULT_EMBEDDER)
    raw = data.get("strategies")
    if not isinstance(raw, list) or not raw:
        problems.add("strategies", 'give a list such as ["0-shot", "random", "s2s"]')
        raw = []
    strategies = [
        _strategy(item, f"strategies[{i}]", default_embedder, problems)
        for i, item in enumerate(raw)
    ]
    ks = int_list(data.get("k", [5]), "k", problems, minimum=1)
    seeds = int_list(data.get("seeds", [0]), "seeds", problems, minimum=0)
    templates = data.get("templates", [DEFAULT_MT_TEMPLATE])
    templates = [templates] if isinstance(templates, str) else list(templates)
    for i, template in enumerate(templates):
        if template not in MT_TEMPLATES:
            problems.add(
                f"templates[{i}]",
                f"unknown MT template {template!r}; allowed: {', '.join(sorted(MT_TEMPLATES))}",
            )
    scoring = table_section(data, "scoring", {"comet"}, problems)
    comet = scoring.get("comet")
    if comet is not None:
        path = base / comet
        if not path.exists():
            problems.add("scoring.comet", f"no COMET checkpoint at {path}")
        comet = str(path)
    config = ExperimentConfig(
        name=str(name),
        directions=directions,
        strategies=_labelled(strategies),
        ks=ks,
        seeds=seeds,
        templates=tuple(templates),
        data=_data(
            table_section(
                data, "data", {"pool", "test", "test_size", "chroma_path", "chroma_url"}, problems
            ),
            base,
            problems,
        ),  # fmt: skip
        llm=llm_settings(data, problems),
        decoding=_decoding(
            table_section(
                data,
                "decoding",
                {"mode", "max_new_tokens", "temperature", "top_p", "beams", "ban_copy"},
                problems,
            ),
            problems,
        ),  # fmt: skip
        comet=comet,
        source=source,
    )
    labels = [s.label for s in config.strategies]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        problems.add("strategies", f"two rows are labelled {label!r}; give one a label")
    if problems.items:
        raise ConfigError(source, problems.items)
    return config


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's TOML data.

    Raises:
        ConfigError: If the file is missing, unreadable or not TOML (one problem, key ``file``).
    """
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), [("file", "does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("file", str(exc))]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [("file", f"not TOML ({exc})")]) from None


def load_config(path: str | Path) -> ExperimentConfig:
    """Reads and checks an experiment config file.

    Raises:
        ConfigError: With every problem found (a file that is not TOML is one problem).
    """
    data = read_toml(path)
    return parse_config(data, source=str(path), base=Path(path).resolve().parent)
