"""Reranking prompts: templates, identifiers, the cross-lingual note and token truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.llm import LLMClient
from xling.llm.fitting import truncate_passages
from xling.prompts.rerank import (
    LISTWISE_TEMPLATES,
    cross_lingual_note,
    get_listwise_template,
    get_pairwise_template,
    get_pointwise_template,
    get_setwise_template,
    identifier_labels,
    label_index,
)
from xling.rerankers import parse_permutation


def test_identifier_labels_round_trip() -> None:
    assert identifier_labels(3, "numeric") == ["1", "2", "3"]
    alpha = identifier_labels(30, "alpha")
    assert alpha[:3] == ["A", "B", "C"] and alpha[25:28] == ["Z", "AA", "AB"]
    assert [label_index(label, "alpha") for label in alpha] == list(range(30))
    assert label_index("12", "numeric") == 11 and label_index("x", "numeric") is None
    with pytest.raises(InvalidInputError, match="identifiers='roman'"):
        identifier_labels(3, "roman")  # type: ignore[arg-type]


def test_rankgpt_template_is_rankgpts_text() -> None:
    messages = get_listwise_template("rankgpt").messages("q?", ["p one", "p two"])
    # RankGPT: system, prefix user, assistant ack, then user/assistant per passage, post prompt.
    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "user", "assistant", "user", "assistant", "user",
    ]  # fmt: skip
    assert messages[1]["content"] == (
        "I will provide you with 2 passages, each indicated by number identifier []. \n"
        "Rank the passages based on their relevance to query: q?."
    )
    assert (
        messages[3]["content"] == "[1] p one" and messages[6]["content"] == "Received passage [2]."
    )
    assert messages[-1]["content"].startswith("Search Query: q?. \nRank the 2 passages above")
    assert "e.g., [1] > [2]. Only response the ranking results" in messages[-1]["content"]


def test_single_turn_and_lrl_templates() -> None:
    zephyr = get_listwise_template("rank_zephyr").messages("q", ["a", "b"], style="alpha")
    assert [m["role"] for m in zephyr] == ["system", "user"]
    assert (
        "[A] a\n[B] b" in zephyr[1]["content"] and "alphabetical identifier" in zephyr[1]["content"]
    )
    lrl = get_listwise_template("lrl").messages("q", ["a", "b"])
    assert lrl[0]["content"] == (
        "Passage1 = a\nPassage2 = b\nQuery = q\nPassages = [Passage1, Passage2]\n"
        "Sort the Passages by their relevance to the Query.\nSorted Passages = ["
    )


@pytest.mark.parametrize("name", sorted(LISTWISE_TEMPLATES))
@pytest.mark.parametrize("style", ["numeric", "alpha"])
def test_each_templates_example_answer_parses_back(name: str, style: str) -> None:
    template = get_listwise_template(name)
    answer = template.example_answer(12, style)  # type: ignore[arg-type]
    parsed = parse_permutation(
        answer,
        12,
        style=style,
        prefix=template.label_prefix,
        suffix=template.label_suffix,  # type: ignore[arg-type]
    )
    assert parsed.order == tuple(range(11, -1, -1)) and parsed.repairs == ()


def test_cross_lingual_note_names_the_languages() -> None:
    note = cross_lingual_note("eng", ["swh", "fra", "swh", "wol"])
    assert note == (
        "The search query and the passages may be written in different languages (the query is "
        "in English; passages in Swahili, French, Wolof). Judge relevance by meaning, whatever "
        "the language."
    )
    assert cross_lingual_note().startswith("The search query and the passages may be written")
    for name in LISTWISE_TEMPLATES:
        text = " ".join(
            m["content"] for m in get_listwise_template(name).messages("q", ["a"], note=note)
        )
        assert note in text
    assert note in get_pairwise_template("prp").messages("q", "a", "b", note=note)[0]["content"]
    assert note in get_pointwise_template("yes_no").messages("q", "a", note=note)[0]["content"]
    setwise = get_setwise_template("setwise").messages("q", ["a", "b"], note=note)
    assert note in setwise[0]["content"]


def test_prp_template_is_the_papers() -> None:
    messages = get_pairwise_template("prp").scoring_messages("q", "x", "y")
    assert messages[0]["content"] == (
        'Given a query "q", which of the following two passages is more relevant to the query?'
        '\n\nPassage A: "x"\n\nPassage B: "y"\n\nOutput Passage A or Passage B:'
    )
    assert messages[1] == {"role": "assistant", "content": "Passage"}


def test_setwise_template_is_llm_rankers() -> None:
    # SetwiseLlmRanker.compare's input_text (ielab/llm-rankers, llmrankers/setwise.py).
    messages = get_setwise_template("setwise").scoring_messages("q", ["x", "y", "z"])
    assert messages[0]["content"] == (
        'Given a query "q", which of the following passages is the most relevant one to the '
        'query?\n\nPassage A: "x"\n\nPassage B: "y"\n\nPassage C: "z"\n\nOutput only the '
        "passage label of the most relevant passage:"
    )
    assert messages[1] == {"role": "assistant", "content": "Passage"}


def test_unknown_template_names_list_the_known_ones() -> None:
    with pytest.raises(
        UnknownSpecError,
        match="unknown listwise template 'rankgtp'; available: lrl, rank_zephyr, rankgpt",
    ):
        get_listwise_template("rankgtp")
    with pytest.raises(UnknownSpecError, match="available: prp"):
        get_pairwise_template("pointwise")
    with pytest.raises(UnknownSpecError, match="available: yes_no"):
        get_pointwise_template("nope")
    with pytest.raises(UnknownSpecError, match="setwise template 'prp'; available: setwise"):
        get_setwise_template("prp")


@pytest.mark.vllm
async def test_passages_are_cut_by_model_tokens_not_spaces(
    llm: LLMClient, shared_data: Path
) -> None:
    ntrex = shared_data / "ntrex"
    texts = [
        max(
            (ntrex / f"newstest2019-ref.{lang}.txt").read_text(encoding="utf-8").split("\n")[:50],
            key=len,
        )
        for lang in ("zho-CN", "jpn")
    ]
    cut = await truncate_passages(llm, texts, 12)
    for full, short in zip(texts, cut, strict=True):
        assert full.startswith(short) and 0 < len(short) < len(full) and " " not in short
        assert len(await llm.atokenize(short)) <= 12
        # Cutting by words (RankGPT, LlamaIndex) keeps far more than 12 tokens here: the first
        # 12 "words" of Chinese or Japanese text run to its first few spaces, if any.
        by_words = " ".join(full.split()[:12])
        assert len(await llm.atokenize(by_words)) > 12
    # A cut inside a multi-byte character drops the partial character (no U+FFFD).
    assert not any("\ufffd" in short for short in cut)
    # Already short texts come back unchanged.
    assert await truncate_passages(llm, ["短い文。"], 12) == ["短い文。"]
