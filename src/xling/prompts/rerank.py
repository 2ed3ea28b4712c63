"""Reranking prompts: listwise (RankGPT, RankZephyr, LRL, ReasonRank), pairwise (PRP),
setwise and pointwise (yes/no).

Every template renders chat messages for an OpenAI-compatible server. Listwise templates label
passages with numeric (``[1]``) or alphabetic (``[A]``) identifiers; alphabetic ones give every
label a distinct first token, which FIRST-style ranking needs. Each template has a cross-lingual
variant (``note=cross_lingual_note(...)``) that tells the model the query and the passages may be in
different languages.

The templates are pure functions of their inputs. Passages reach them already cut by the served
model's own tokenizer (:func:`xling.llm.fitting.truncate_passages`), never by splitting on
spaces, which breaks Chinese, Japanese and Thai.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from xling.core.chat import ChatMessage
from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.languages import language_name

__all__ = [
    "IdentifierStyle",
    "ListwiseTemplate",
    "PairwiseTemplate",
    "PointwiseTemplate",
    "SetwiseTemplate",
    "LISTWISE_TEMPLATES",
    "PAIRWISE_TEMPLATES",
    "POINTWISE_TEMPLATES",
    "SETWISE_TEMPLATES",
    "get_listwise_template",
    "get_pairwise_template",
    "get_pointwise_template",
    "get_setwise_template",
    "identifier_labels",
    "label_index",
    "MAX_LABEL_DIGITS",
    "MAX_LABEL_LETTERS",
    "cross_lingual_note",
]

IdentifierStyle = Literal["numeric", "alpha"]
T = TypeVar("T")
IDENTIFIER_STYLES: tuple[str, ...] = ("numeric", "alpha")
# Longest labels :func:`label_index` reads: far more passages than any prompt can show.
MAX_LABEL_DIGITS = 9
MAX_LABEL_LETTERS = 6


# -- identifiers ------------------------------------------------------------------------------
def identifier_labels(n: int, style: IdentifierStyle) -> list[str]:
    """Labels of ``n`` passages: ``1..n`` or ``A..Z, AA, AB, ...`` (bijective base 26).

    Raises:
        InvalidInputError: If ``style`` is neither ``"numeric"`` nor ``"alpha"``.
    """
    if style == "numeric":
        return [str(i) for i in range(1, n + 1)]
    if style == "alpha":
        return [_alpha(i) for i in range(n)]
    raise InvalidInputError(f"identifiers={style!r} is not allowed; use one of {IDENTIFIER_STYLES}")


def _alpha(index: int) -> str:
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def label_index(label: str, style: IdentifierStyle) -> int | None:
    """The 0-based passage index a label stands for (``"3"`` → 2, ``"AB"`` → 27), or ``None``.

    ``None`` also for labels too long to name any window's passage (more than
    :data:`MAX_LABEL_DIGITS` digits after leading zeros, more than :data:`MAX_LABEL_LETTERS`
    letters): a model may write a 5,000-digit "identifier", which is out of range without being
    converted (``int()`` refuses more than 4,300 digits).
    """
    if not isinstance(label, str) or not label.isascii():
        return None
    if style == "numeric":
        digits = label.lstrip("0")
        if not label.isdigit() or len(digits) > MAX_LABEL_DIGITS:
            return None
        return int(digits or "0") - 1
    if not label.isalpha() or len(label) > MAX_LABEL_LETTERS:
        return None
    index = 0
    for char in label.upper():
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def cross_lingual_note(query_lang: str | None = None, passage_langs: Sequence[str] = ()) -> str:
    """The sentence that tells the model query and passages may differ in language.

    Args:
        query_lang: The query's language code, if known.
        passage_langs: The passages' language codes (repeats are fine), if known.
    """
    names = list(dict.fromkeys(language_name(code) for code in passage_langs if code))
    detail = ""
    if query_lang and names:
        detail = f" (the query is in {language_name(query_lang)}; passages in {', '.join(names)})"
    return (
        "The search query and the passages may be written in different languages"
        f"{detail}. Judge relevance by meaning, whatever the language."
    )


# -- listwise ---------------------------------------------------------------------------------
def _style_words(style: IdentifierStyle) -> tuple[str, str]:
    """How a template names the identifiers, and an example ranking in them."""
    if style == "alpha":
        return "an alphabetical identifier", "[B] > [A]"
    return "a numerical identifier", "[2] > [1]"


@dataclass(frozen=True)
class ListwiseTemplate:
    """A listwise ranking prompt.

    Attributes:
        name: Registry name.
        description: One line for listings.
        render: ``(query, passages, labels, style, note) -> messages``.
        label_prefix: Text before each label in passages and answers (``"["``, ``"Passage"``).
        label_suffix: Text after each label (``"]"`` or nothing).
        answer_separator: Between labels in an answer (``" > "``).
        answer_end: After the last label of a full answer.
        first_prefix: The assistant text a FIRST-style step continues from; the next token is
            then the first label.
    """

    name: str
    description: str
    render: Callable[[str, Sequence[str], Sequence[str], IdentifierStyle, str], list[ChatMessage]]
    label_prefix: str = "["
    label_suffix: str = "]"
    answer_separator: str = " > "
    answer_end: str = ""
    first_prefix: str = "["

    def messages(
        self,
        query: str,
        passages: Sequence[str],
        *,
        style: IdentifierStyle = "numeric",
        note: str = "",
    ) -> list[ChatMessage]:
        """Chat messages asking for a ranking of ``passages`` (already truncated)."""
        labels = identifier_labels(len(passages), style)
        return self.render(query, passages, labels, style, note)

    def first_messages(
        self, query: str, passages: Sequence[str], *, style: IdentifierStyle, note: str = ""
    ) -> list[ChatMessage]:
        """The messages plus the assistant's opening, for one FIRST-style forward step."""
        prefill: ChatMessage = {"role": "assistant", "content": self.first_prefix}
        return [*self.messages(query, passages, style=style, note=note), prefill]

    def example_answer(self, n: int, style: IdentifierStyle) -> str:
        """A complete answer for ``n`` passages (sizes the generation budget)."""
        # Two-letter and two-digit labels are the longest; reversed order is as long as any.
        labels = identifier_labels(n, style)[::-1]
        wrapped = [f"{self.label_prefix}{label}{self.label_suffix}" for label in labels]
        return self.answer_separator.join(wrapped) + self.answer_end


def _with_note(text: str, note: str) -> str:
    return f"{text} {note}" if note else text


def _rankgpt(
    query: str, passages: Sequence[str], labels: Sequence[str], style: IdentifierStyle, note: str
) -> list[ChatMessage]:
    # The wording (typos included) is RankGPT's own (sunnweiwei/RankGPT, rank_gpt.py), so
    # results stay comparable with the published runs.
    num = len(passages)
    kind = "number" if style == "numeric" else "alphabetical"
    example = "[1] > [2]" if style == "numeric" else "[A] > [B]"
    messages: list[ChatMessage] = [
        {
            "role": "system",
            "content": "You are RankGPT, an intelligent assistant that can rank passages based "
            "on their relevancy to the query.",
        },
        {
            "role": "user",
            "content": _with_note(
                f"I will provide you with {num} passages, each indicated by {kind} identifier []. "
                f"\nRank the passages based on their relevance to query: {query}.",
                note,
            ),
        },
        {"role": "assistant", "content": "Okay, please provide the passages."},
    ]
    for label, passage in zip(labels, passages, strict=True):
        messages.append({"role": "user", "content": f"[{label}] {passage}"})
        messages.append({"role": "assistant", "content": f"Received passage [{label}]."})
    messages.append(
        {
            "role": "user",
            "content": f"Search Query: {query}. \nRank the {num} passages above based on their "
            "relevance to the search query. The passages should be listed in descending order "
            "using identifiers. The most relevant passages should be listed first. The output "
            f"format should be [] > [], e.g., {example}. Only response the ranking results, "
            "do not say any word or explain.",
        }
    )
    return messages


def _rank_zephyr(
    query: str, passages: Sequence[str], labels: Sequence[str], style: IdentifierStyle, note: str
) -> list[ChatMessage]:
    # rank_llm's RankZephyr/FIRST single-turn prompt (castorini/rank_llm, rank_listwise_os_llm).
    num = len(passages)
    kind, example = _style_words(style)
    body = "\n".join(
        f"[{label}] {passage}" for label, passage in zip(labels, passages, strict=True)
    )
    content = (
        _with_note(
            f"I will provide you with {num} passages, each indicated by {kind} []. Rank the "
            f"passages based on their relevance to the search query: {query}.",
            note,
        )
        + f"\n\n{body}\n\nSearch Query: {query}.\nRank the {num} passages above based on their "
        "relevance to the search query. All the passages should be included and listed using "
        f"identifiers, in descending order of relevance. The output format should be [] > [], "
        f"e.g., {example}. Only respond with the ranking results, do not say any word or explain."
    )
    return [
        {
            "role": "system",
            "content": "You are RankLLM, an intelligent assistant that can rank passages based on "
            "their relevancy to the query.",
        },
        {"role": "user", "content": content},
    ]


def _lrl(
    query: str, passages: Sequence[str], labels: Sequence[str], style: IdentifierStyle, note: str
) -> list[ChatMessage]:
    # LRL (Ma et al. 2023, "Zero-Shot Listwise Document Reranking with a Large Language Model").
    lines = [f"Passage{label} = {passage}" for label, passage in zip(labels, passages, strict=True)]
    names = ", ".join(f"Passage{label}" for label in labels)
    lines += [f"Query = {query}", f"Passages = [{names}]"]
    if note:
        lines.append(note)
    lines += ["Sort the Passages by their relevance to the Query.", "Sorted Passages = ["]
    return [{"role": "user", "content": "\n".join(lines)}]


# ReasonRank's system prompt as the model was trained with it (8421BCD/ReasonRank; rank_llm's
# reasonrank_template.yaml), grammar included.
_REASONRANK_SYSTEM = (
    "You are RankLLM, an intelligent assistant that can rank passages based on their relevance "
    "to the query. Given a query and a passage list, you first thinks about the reasoning "
    "process in the mind and then provides the answer (i.e., the reranked passage list). The "
    "reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>."
)


def _reasonrank(
    query: str, passages: Sequence[str], labels: Sequence[str], style: IdentifierStyle, note: str
) -> list[ChatMessage]:
    # ReasonRank's single turn (also read by Rank-K and Qwen3 in thinking mode): the model
    # thinks in <think>, then answers "[2] > [1]" (inside <answer> for ReasonRank).
    num = len(passages)
    kind, example = _style_words(style)
    body = "\n".join(
        f"[{label}] {passage}" for label, passage in zip(labels, passages, strict=True)
    )
    content = (
        _with_note(
            f"I will provide you with {num} passages, each indicated by {kind} []. Rank the "
            f"passages based on their relevance to the search query: {query}.",
            note,
        )
        + f"\n{body}\nSearch Query: {query}.\nRank the {num} passages above based on their "
        "relevance to the search query. All the passages should be included and listed using "
        "identifiers, in descending order of relevance. The format of the answer should be "
        f"[] > [], e.g., {example}."
    )
    return [{"role": "system", "content": _REASONRANK_SYSTEM}, {"role": "user", "content": content}]


LISTWISE_TEMPLATES: dict[str, ListwiseTemplate] = {
    "rankgpt": ListwiseTemplate(
        "rankgpt", "RankGPT multi-turn: one message per passage (Sun et al. 2023)", _rankgpt
    ),
    "rank_zephyr": ListwiseTemplate(
        "rank_zephyr", "RankZephyr/FIRST single turn (castorini/rank_llm)", _rank_zephyr
    ),
    "lrl": ListwiseTemplate(
        "lrl",
        "LRL: PassageN = text, answer 'Passage3, Passage1, ...' (Ma et al. 2023)",
        _lrl,
        label_prefix="Passage",
        label_suffix="",
        answer_separator=", ",
        answer_end="]",
        first_prefix="Passage",
    ),
    "reasonrank": ListwiseTemplate(
        "reasonrank",
        "ReasonRank single turn: think in <think>, then answer [2] > [1] (Liu et al. 2025)",
        _reasonrank,
    ),
}


# -- pairwise, setwise and pointwise --------------------------------------------------------------
@dataclass(frozen=True)
class PairwiseTemplate:
    """A prompt asking which of two passages is more relevant, answered "Passage A"/"Passage B".

    Attributes:
        name: Registry name.
        description: One line for listings.
        text: Format string with ``{query}``, ``{a}``, ``{b}`` and ``{note}``.
        answer_prefix: Assistant opening; the next token is then ``A`` or ``B``.
    """

    name: str
    description: str
    text: str
    answer_prefix: str = "Passage"

    def messages(self, query: str, a: str, b: str, *, note: str = "") -> list[ChatMessage]:
        """The question for passages ``a`` (shown as Passage A) and ``b`` (Passage B)."""
        note_text = f"{note}\n\n" if note else ""
        content = self.text.format(query=query, a=a, b=b, note=note_text)
        return [{"role": "user", "content": content}]

    def scoring_messages(self, query: str, a: str, b: str, *, note: str = "") -> list[ChatMessage]:
        """The question plus the assistant's opening, so one generated token is the answer."""
        prefill: ChatMessage = {"role": "assistant", "content": self.answer_prefix}
        return [*self.messages(query, a, b, note=note), prefill]


@dataclass(frozen=True)
class SetwiseTemplate:
    """A prompt asking which of a few labelled passages is the most relevant ("Passage C").

    Passages are labelled ``A``, ``B``, ``C``, ... (:func:`identifier_labels`, ``alpha``): each
    label is its own first token after ``Passage``, so the next token's logprobs rank them.

    Attributes:
        name: Registry name.
        description: One line for listings.
        text: Format string with ``{query}``, ``{passages}`` and ``{note}``.
        passage: Format string of one passage with ``{label}`` and ``{text}``.
        separator: Between passages.
        answer_prefix: Assistant opening; the next token is then a label.
    """

    name: str
    description: str
    text: str
    passage: str = 'Passage {label}: "{text}"'
    separator: str = "\n\n"
    answer_prefix: str = "Passage"

    def messages(self, query: str, passages: Sequence[str], *, note: str = "") -> list[ChatMessage]:
        """The question for ``passages`` (already truncated), labelled A, B, C, ..."""
        labels = identifier_labels(len(passages), "alpha")
        shown = self.separator.join(
            self.passage.format(label=label, text=text)
            for label, text in zip(labels, passages, strict=True)
        )
        note_text = f"{note}\n\n" if note else ""
        content = self.text.format(query=query, passages=shown, note=note_text)
        return [{"role": "user", "content": content}]

    def scoring_messages(
        self, query: str, passages: Sequence[str], *, note: str = ""
    ) -> list[ChatMessage]:
        """The question plus the assistant's opening, so one generated token is the answer."""
        prefill: ChatMessage = {"role": "assistant", "content": self.answer_prefix}
        return [*self.messages(query, passages, note=note), prefill]


@dataclass(frozen=True)
class PointwiseTemplate:
    """A yes/no relevance question about one passage.

    Attributes:
        name: Registry name.
        description: One line for listings.
        text: Format string with ``{query}``, ``{passage}`` and ``{note}``.
        yes: The answer token meaning relevant (compared lower-cased, stripped).
        no: The answer token meaning not relevant.
    """

    name: str
    description: str
    text: str
    yes: str = "yes"
    no: str = "no"

    def messages(self, query: str, passage: str, *, note: str = "") -> list[ChatMessage]:
        """The question for one passage."""
        note_text = f"{note}\n" if note else ""
        content = self.text.format(query=query, passage=passage, note=note_text)
        return [{"role": "user", "content": content}]


PAIRWISE_TEMPLATES: dict[str, PairwiseTemplate] = {
    "prp": PairwiseTemplate(
        "prp",
        "PRP (Qin et al. 2023): which of Passage A / Passage B is more relevant",
        'Given a query "{query}", which of the following two passages is more relevant to the '
        'query?\n\nPassage A: "{a}"\n\nPassage B: "{b}"\n\n{note}Output Passage A or Passage B:',
    ),
}

SETWISE_TEMPLATES: dict[str, SetwiseTemplate] = {
    "setwise": SetwiseTemplate(
        "setwise",
        "Setwise (Zhuang et al. 2024, ielab/llm-rankers): the most relevant of Passage A, B, ...",
        # llm-rankers' wording (setwise.py, SetwiseLlmRanker.compare), the note added.
        'Given a query "{query}", which of the following passages is the most relevant one to '
        "the query?\n\n{passages}\n\n{note}Output only the passage label of the most relevant "
        "passage:",
    ),
}

POINTWISE_TEMPLATES: dict[str, PointwiseTemplate] = {
    "yes_no": PointwiseTemplate(
        "yes_no",
        "Does the passage answer the query? Yes/No (llm-rankers pointwise yes_no)",
        "Passage: {passage}\nQuery: {query}\n{note}Does the passage answer the query? "
        "Answer 'Yes' or 'No'.",
    ),
}


def _lookup(registry: dict[str, T], name: str, kind: str) -> T:
    if name not in registry:
        raise UnknownSpecError(
            f"unknown {kind} template {name!r}; available: {', '.join(sorted(registry))}"
        )
    return registry[name]


def get_listwise_template(name: str) -> ListwiseTemplate:
    """The listwise template registered as ``name`` (``rankgpt``, ``rank_zephyr``, ``lrl``,
    ``reasonrank``)."""
    return _lookup(LISTWISE_TEMPLATES, name, "listwise")


def get_pairwise_template(name: str) -> PairwiseTemplate:
    """The pairwise template registered as ``name`` (``prp``)."""
    return _lookup(PAIRWISE_TEMPLATES, name, "pairwise")


def get_setwise_template(name: str) -> SetwiseTemplate:
    """The setwise template registered as ``name`` (``setwise``)."""
    return _lookup(SETWISE_TEMPLATES, name, "setwise")


def get_pointwise_template(name: str) -> PointwiseTemplate:
    """The pointwise template registered as ``name`` (``yes_no``)."""
    return _lookup(POINTWISE_TEMPLATES, name, "pointwise")
