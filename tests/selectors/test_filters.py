"""Pool quality filters on crafted pairs and on real bitext."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.selectors.conftest import PoolMaker
from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.records import AlignedPool
from xling.selectors import (
    POOL_FILTERS,
    FilterOptions,
    expected_scripts,
    filter_pool,
    lid_checker,
)


def test_each_filter_drops_what_it_should() -> None:
    pairs = [
        ("Hello world.", "Habari dunia."),  # 0 kept
        ("", "Tupu."),  # 1 empty
        ("!!!", "???"),  # 2 empty: no letters or digits
        ("A very long sentence with many many words in it, my good friends.", "Ndiyo."),  # 3
        ("Good morning.", "Доброе утро."),  # 4 wrong script for Swahili
        ("Good evening.", "Good evening."),  # 5 untranslated copy
        ("hello   WORLD.", "Salamu dunia."),  # 6 duplicate source of row 0
        ("Thank you very much.", "Asante sana."),  # 7 kept
    ]
    pool = AlignedPool([s for s, _ in pairs], [t for _, t in pairs], list(range(8)), "eng", "swh")
    result = filter_pool(pool)
    # length-ratio: row 3 has 13 vs 1 tokens -> (13 + 1) / (1 + 1) = 7 > 3.
    assert result.dropped == {"empty": 2, "length-ratio": 1, "language": 2, "duplicates": 1}
    assert result.pool.rows == [0, 7]
    assert result.pool.targets == ["Habari dunia.", "Asante sana."]
    only = filter_pool(pool, ["duplicates"])
    assert only.dropped == {"duplicates": 1} and 6 not in only.pool.rows


def test_language_checker_hook() -> None:
    pool = AlignedPool(["One.", "Two."], ["Un.", "Zwei."], [0, 1], "eng", "fra")

    def french(texts: object, lang: str) -> list[bool]:
        return [t != "Zwei." for t in texts] if lang == "fra" else [True, True]  # type: ignore[attr-defined]

    result = filter_pool(pool, ["language"], FilterOptions(language_checker=french))
    assert result.pool.rows == [0]


def test_real_bitext_survives(flores_pool: PoolMaker, shared_data: Path) -> None:
    for tgt in ("fra", "swh", "wol"):
        kept = filter_pool(flores_pool("eng", tgt)).pool
        assert len(kept) >= 0.97 * 997, tgt
    # Chinese has no spaces: lengths are compared in word-equivalents, not characters.
    folder = shared_data / "tatoeba"
    cmn = folder.joinpath("tatoeba.cmn-eng.cmn").read_text(encoding="utf-8").splitlines()
    eng = folder.joinpath("tatoeba.cmn-eng.eng").read_text(encoding="utf-8").splitlines()
    pool = AlignedPool(eng, cmn, list(range(len(eng))), "eng", "cmn")
    result = filter_pool(pool, ["empty", "length-ratio", "language"])
    assert len(result.pool) >= 0.95 * len(eng), result.dropped


def test_bad_filter_input() -> None:
    pool = AlignedPool(["Hi."], ["Привет."], [0], "eng", "swh")
    with pytest.raises(
        UnknownSpecError, match="allowed: empty, length-ratio, language, duplicates"
    ):
        filter_pool(pool, ["lid"])
    with pytest.raises(InvalidInputError, match="dropped all 1 remaining pairs"):
        filter_pool(pool, ["language"])
    assert set(POOL_FILTERS) == {"empty", "length-ratio", "language", "duplicates"}
    assert expected_scripts("sw") == ("Latin",) and expected_scripts("jpn_Jpan") == (
        "Hiragana", "Katakana", "Han",
    )  # fmt: skip
    assert expected_scripts("chr") is None  # Cherokee: unknown here, so not checked


def test_lid_backends_catch_same_script_confusions() -> None:
    # The script check cannot tell French from English; a language identifier can.
    pool = AlignedPool(
        ["The weather is nice today.", "I would like a cup of coffee, please."],
        ["Le temps est magnifique aujourd'hui.", "I would like a cup of tea, please."],
        [0, 1], "eng", "fra",
    )  # fmt: skip
    assert len(filter_pool(pool, ["language"]).pool) == 2
    result = filter_pool(pool, ["language"], FilterOptions(language_checker=lid_checker("pycld2")))
    assert result.pool.rows == [0] and result.dropped == {"language": 1}
