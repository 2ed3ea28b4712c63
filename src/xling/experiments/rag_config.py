"""The RAG study's config: questions, a pool, and the grid of recipes to compare.

A grid cell (:class:`RagCell`, one row of the tables) is a retrieval method × a language recipe
(``user``, ``pivot``, ``all``, ``balanced``) × query translation (on/off) × the language the
answer instruction is written in (``user`` or ``eng``). Without an LLM (``retrieval_only``)
only the method and the recipe matter: cells are method × recipe and report Recall@k.

A TOML file (``xling eval rag --config study.toml``) holds the same settings, checked whole
(every problem with its key, in one :class:`~xling.experiments.config.ConfigError`)::

    name = "debian-recipes"
    questions = "questions.jsonl"        # xling QA JSONL, MKQA, XOR-TyDi or MIRACL topics
    pool = "debian"
    recipes = ["user", "pivot", "all", "balanced"]
    translate_query = [false, true]
    instruction_lang = ["user", "eng"]
    methods = ["dense"]
    recall_k = [1, 5, 10]
    baseline = "dense/all/user"

    [answer]                             # AnswerConfig fields
    k = 5
    max_tokens = 96

    [llm]
    url = "http://127.0.0.1:8000/v1"

Relative paths are read from the config file's folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from xling.experiments.config import (
    ConfigError,
    LLMConfig,
    Problems,
    int_list,
    llm_settings,
    read_toml,
    table_section,
)
from xling.prompts.instructions import INSTRUCTION_LANGS
from xling.rag.answers import AnswerConfig
from xling.retrieval import RECIPES, available_retrievers

__all__ = [
    "RELEVANCE",
    "RagCell",
    "RagStudyConfig",
    "load_rag_config",
    "parse_rag_config",
]

Relevance = Literal["passages", "answers"]
RELEVANCE: tuple[Relevance, ...] = get_args(Relevance)
"""How a retrieved passage is judged relevant: it is one of the question's gold passages (by id,
``doc_id`` or text), or its text holds one of the gold answers (case-sensitive)."""
ANSWER_FIELDS = ("k", "retrieve_k", "pivot", "max_passage_tokens", "max_tokens", "temperature",
                 "repetition_penalty", "reask", "style", "lid_backend",
                 "check_backend")  # fmt: skip
_TOP_KEYS = {"name", "questions", "format", "langs", "limit", "pool", "chroma_path",
             "chroma_url", "recipes", "translate_query", "instruction_lang", "methods",
             "recall_k", "relevance", "baseline", "retrieval_only", "answer", "llm"}  # fmt: skip


@dataclass(frozen=True)
class RagCell:
    """One cell of the grid, one row of the tables.

    Attributes:
        method: The retrieval method (``dense``, ``hybrid``, ...).
        recipe: The language recipe (``user``, ``pivot``, ``all``, ``balanced``).
        translate_query: Whether the question is translated before retrieval.
        instruction_lang: The answer instruction's language, ``user`` or ``eng``; ``None`` in a
            retrieval-only study.
    """

    method: str
    recipe: str
    translate_query: bool = False
    instruction_lang: str | None = "user"

    @property
    def label(self) -> str:
        """The row's name: ``method/recipe[+tq][/instruction]`` (``dense/all+tq/eng``)."""
        parts = [self.method, self.recipe + ("+tq" if self.translate_query else "")]
        if self.instruction_lang is not None:
            parts.append(self.instruction_lang)
        return "/".join(parts)

    @property
    def key(self) -> str:
        """The cell's folder name (the label, filesystem-safe)."""
        return re.sub(r"[^A-Za-z0-9+-]+", ".", self.label).strip(".")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"method": self.method, "recipe": self.recipe,
                "translate_query": self.translate_query,
                "instruction_lang": self.instruction_lang}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RagCell:
        """The inverse of :meth:`to_dict`."""
        return cls(str(data["method"]), str(data["recipe"]), bool(data["translate_query"]),
                   data.get("instruction_lang"))  # fmt: skip


@dataclass(frozen=True)
class RagStudyConfig:
    """A whole RAG study.

    Attributes:
        name: The study's name (default output folder ``runs/<name>``).
        questions: The questions file (xling QA JSONL, MKQA, XOR-TyDi, MIRACL topics).
        pool: The pool the questions are asked of.
        format: The questions file's format (``auto``: told by its first line).
        langs: Only questions in these languages (``None``: all).
        limit: Only the first this many questions, after ``langs`` (``None``: all).
        chroma_path: Embedded Chroma folder of the pool.
        chroma_url: Chroma server of the pool.
        recipes: Language recipes compared.
        translate_query: Query translation settings compared (``False``, ``True``).
        instruction_langs: Instruction languages compared (``user``, ``eng``).
        methods: Retrieval methods compared.
        recall_k: The k of Recall@k.
        relevance: How a retrieved passage is judged relevant (:data:`RELEVANCE`).
        baseline: The row every other is tested against (default: the first).
        retrieval_only: No LLM: Recall@k per method and recipe.
        answer: Further :class:`~xling.rag.answers.AnswerConfig` settings (``k``, ...).
        llm: The LLM server (``url=None``: the embedded one, started if needed).
        source: Where the config came from (for messages).
    """

    name: str
    questions: str
    pool: str
    format: str = "auto"
    langs: tuple[str, ...] | None = None
    limit: int | None = None
    chroma_path: str | None = None
    chroma_url: str | None = None
    recipes: tuple[str, ...] = ("all",)
    translate_query: tuple[bool, ...] = (False,)
    instruction_langs: tuple[str, ...] = ("user",)
    methods: tuple[str, ...] = ("dense",)
    recall_k: tuple[int, ...] = (1, 5, 10)
    relevance: Relevance = "passages"
    baseline: str | None = None
    retrieval_only: bool = False
    answer: dict[str, Any] = field(default_factory=dict)
    llm: LLMConfig = field(default_factory=LLMConfig)
    source: str = "<config>"

    def cells(self) -> list[RagCell]:
        """The grid in row order: method, recipe, translation, instruction language."""
        if self.retrieval_only:
            return [RagCell(m, r, False, None) for m in self.methods for r in self.recipes]
        return [
            RagCell(m, r, t, i)
            for m in self.methods
            for r in self.recipes
            for t in self.translate_query
            for i in self.instruction_langs
        ]

    @property
    def baseline_label(self) -> str:
        """The baseline row's label (the first row unless ``baseline`` names one)."""
        return self.baseline or self.cells()[0].label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (what ``study.json`` records)."""
        return {
            "name": self.name, "questions": self.questions, "pool": self.pool,
            "format": self.format, "langs": list(self.langs) if self.langs else None,
            "limit": self.limit, "recipes": list(self.recipes),
            "translate_query": list(self.translate_query),
            "instruction_lang": list(self.instruction_langs), "methods": list(self.methods),
            "recall_k": list(self.recall_k), "relevance": self.relevance,
            "baseline": self.baseline_label, "retrieval_only": self.retrieval_only,
            "answer": dict(self.answer),
        }  # fmt: skip

    def checked(self) -> RagStudyConfig:
        """This config, checked whole.

        Raises:
            ConfigError: With every problem found, each with its key.
        """
        problems = Problems()
        _check(self, problems)
        if problems.items:
            raise ConfigError(self.source, problems.items)
        return self

    def with_changes(self, **changes: Any) -> RagStudyConfig:
        """A copy with the given fields changed (``None`` values are ignored), checked."""
        given = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **given).checked() if given else self.checked()


def _names(value: Any, key: str, allowed: Sequence[str], problems: Problems) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        problems.add(key, f"give a list of {', '.join(allowed)}")
        return ()
    for i, item in enumerate(items):
        if item not in allowed:
            problems.add(f"{key}[{i}]", f"unknown value {item!r}; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(str(x) for x in items if x in allowed))


def _check(config: RagStudyConfig, problems: Problems) -> None:
    if not isinstance(config.name, str) or not config.name.strip() or "/" in config.name:
        problems.add("name", f"{config.name!r} is not a usable name (a folder is made of it)")
    for key in ("questions", "pool"):
        value = getattr(config, key)
        if not isinstance(value, str) or not value.strip():
            problems.add(key, "is missing; give " + ("a questions file" if key == "questions"
                                                       else "the pool's name"))  # fmt: skip
    _names(list(config.recipes), "recipes", RECIPES, problems)
    _names(list(config.methods), "methods", available_retrievers(), problems)
    _names(list(config.instruction_langs), "instruction_lang", INSTRUCTION_LANGS, problems)
    flags = list(config.translate_query)
    if not flags or any(not isinstance(x, bool) for x in flags):
        problems.add("translate_query", f"{flags!r}; give a list of true and/or false")
    elif config.retrieval_only and any(flags):
        problems.add(
            "translate_query",
            "a retrieval-only study has no LLM to translate questions; drop true",
        )
    int_list(list(config.recall_k), "recall_k", problems, minimum=1)
    if config.limit is not None:
        int_list(config.limit, "limit", problems, minimum=1)
    if config.relevance not in RELEVANCE:
        problems.add("relevance", f"{config.relevance!r}; allowed: {', '.join(RELEVANCE)}")
    problems.unknown(config.answer, set(ANSWER_FIELDS), "answer.")
    if not set(config.answer) - set(ANSWER_FIELDS):
        problems.check("answer", lambda: AnswerConfig(**config.answer))
    if not problems.items and config.baseline is not None:
        labels = [c.label for c in config.cells()]
        if config.baseline not in labels:
            problems.add("baseline", f"no row {config.baseline!r}; rows: {', '.join(labels)}")


def parse_rag_config(data: Mapping[str, Any], *, source: str, base: Path) -> RagStudyConfig:
    """Builds and checks a RAG study config from TOML data.

    Raises:
        ConfigError: With every problem found.
    """
    problems = Problems()
    problems.unknown(data, _TOP_KEYS)

    def listed(key: str, default: tuple[Any, ...]) -> tuple[Any, ...]:
        value = data.get(key, list(default))
        return tuple(value) if isinstance(value, list) else (value,)

    questions = data.get("questions", "")
    if isinstance(questions, str) and questions.strip():
        questions = str(base / questions)
    langs = data.get("langs")
    config = RagStudyConfig(
        name=data.get("name", Path(source).stem),
        questions=questions,
        pool=data.get("pool", ""),
        format=str(data.get("format", "auto")),
        langs=tuple(langs) if isinstance(langs, list) else (langs if langs is None else (langs,)),
        limit=data.get("limit"),
        chroma_path=str(base / data["chroma_path"]) if data.get("chroma_path") else None,
        chroma_url=data.get("chroma_url"),
        recipes=listed("recipes", ("all",)),
        translate_query=listed("translate_query", (False,)),
        instruction_langs=listed("instruction_lang", ("user",)),
        methods=listed("methods", ("dense",)),
        recall_k=listed("recall_k", (1, 5, 10)),
        relevance=data.get("relevance", "passages"),
        baseline=data.get("baseline"),
        retrieval_only=bool(data.get("retrieval_only", False)),
        answer=table_section(data, "answer", set(ANSWER_FIELDS), problems),
        llm=llm_settings(data, problems),
        source=source,
    )
    _check(config, problems)
    if problems.items:
        raise ConfigError(source, problems.items)
    return config


def load_rag_config(path: str | Path) -> RagStudyConfig:
    """Reads and checks a RAG study config file.

    Raises:
        ConfigError: With every problem found (a file that is not TOML is one problem).
    """
    data = read_toml(path)
    return parse_rag_config(data, source=str(path), base=Path(path).resolve().parent)
