"""``evaluate_mining``: line-aligned FLORES files, a real embedder, the same figures as ``xsim``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.embedders import Embedder, get_embedder
from xling.eval import (
    MINING_SYMMETRIC_ROLES,
    MiningPairResult,
    MiningReport,
    bucc_f1,
    evaluate_mining,
    mine_pairs,
    xsim,
)

N = 40


@pytest.fixture(scope="module")
def eng_fra(
    flores: Callable[[str, str], list[str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, list[str], list[str]]:
    """The first 40 FLORES dev lines of English and French, written as aligned files."""
    folder = tmp_path_factory.mktemp("mining")
    eng, fra = flores("eng", "dev")[:N], flores("fra", "dev")[:N]
    src, tgt = folder / "eng.txt", folder / "fra.txt"
    src.write_text("\n".join(eng) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(fra) + "\n", encoding="utf-8")
    return src, tgt, eng, fra


def test_matches_xsim_and_bucc_called_directly(
    use_m3: Embedder, eng_fra: tuple[Path, Path, list[str], list[str]]
) -> None:
    src, tgt, eng, fra = eng_fra
    report = evaluate_mining(
        [(src, tgt)], use_m3, kinds=["cosine", "ratio", "distance"], k=4, threshold=1.0
    )
    assert isinstance(report, MiningReport)
    assert report.embedder == use_m3.id and report.k == 4 and report.threshold == 1.0
    assert report.kinds == ("cosine", "ratio", "distance") and report.truncated == 0
    pair = report.results["eng.txt"]
    assert isinstance(pair, MiningPairResult)
    assert pair.label == "eng.txt" and pair.source == src and pair.target == tgt
    assert pair.pairs == N
    x, y = use_m3.embed_documents(eng), use_m3.embed_documents(fra)
    for name in ("cosine", "ratio", "distance"):
        direct = xsim(x, y, kind=name, k=4, target_texts=fra)
        assert pair.accuracy[name] == pytest.approx(direct.accuracy)
        assert pair.scores[name].errors == direct.errors
        assert list(pair.scores[name].predictions) == list(direct.predictions)
        assert pair.accuracy[name] >= 90  # FLORES eng-fra is easy for USE-m3
    direct_f1 = bucc_f1(mine_pairs(x, y, kind="ratio", k=4), [(i, i) for i in range(N)], 1.0)
    assert pair.bucc_kind == "ratio"  # the first margin kind asked for
    assert pair.bucc == direct_f1 and pair.bucc is not None and 0 < pair.bucc.f1 <= 100


def test_to_dict_is_the_cli_json(
    use_m3: Embedder, eng_fra: tuple[Path, Path, list[str], list[str]]
) -> None:
    src, tgt, _, _ = eng_fra
    plain = evaluate_mining([(src, tgt)], use_m3)
    payload = plain.to_dict()
    assert list(payload) == ["embedder", "symmetric_roles", "k", "results", "truncated"]
    assert payload["symmetric_roles"] == MINING_SYMMETRIC_ROLES
    assert payload["embedder"] == use_m3.id and payload["k"] == 4 and payload["truncated"] == 0
    entry = payload["results"]["eng.txt"]
    assert list(entry) == ["cosine", "ratio", "pairs"] and entry["pairs"] == N
    assert entry["ratio"] == plain.results["eng.txt"].accuracy["ratio"]
    with_f1 = evaluate_mining([(str(src), str(tgt))], use_m3, kinds=["cosine"], threshold=0.5)
    entry = with_f1.to_dict()["results"]["eng.txt"]
    assert list(entry) == ["cosine", "bucc", "pairs"]
    # No margin kind among the ones asked: BUCC uses the ratio margin.
    assert list(entry["bucc"]) == ["kind", "threshold", "f1", "precision", "recall"]
    assert entry["bucc"]["kind"] == "ratio" and entry["bucc"]["threshold"] == 0.5
    assert json.loads(json.dumps(with_f1.to_dict())) == with_f1.to_dict()


def test_several_pairs_keyed_by_source_name(
    use_m3: Embedder, eng_fra: tuple[Path, Path, list[str], list[str]], tmp_path: Path
) -> None:
    src, tgt, eng, fra = eng_fra
    back_src, back_tgt = tmp_path / "fra.txt", tmp_path / "eng.txt"
    back_src.write_text("\n".join(fra[:20]), encoding="utf-8")
    back_tgt.write_text("\n".join(eng[:20]), encoding="utf-8")
    report = evaluate_mining([(src, tgt), (back_src, back_tgt)], use_m3, kinds=("ratio",))
    assert list(report.results) == ["eng.txt", "fra.txt"]
    assert report.results["fra.txt"].pairs == 20
    assert list(report.to_dict()["results"]["fra.txt"]) == ["ratio", "pairs"]


def test_truncation_is_counted(eng_fra: tuple[Path, Path, list[str], list[str]]) -> None:
    src, tgt, _, _ = eng_fra
    short = get_embedder("use-m3", max_tokens=8)
    report = evaluate_mining([(src, tgt)], short, kinds=["cosine"])
    assert report.truncated == short.truncated > 0
    assert report.to_dict()["truncated"] == report.truncated


def test_length_mismatch_and_bad_arguments(
    use_m3: Embedder, eng_fra: tuple[Path, Path, list[str], list[str]], tmp_path: Path
) -> None:
    src, tgt, eng, _ = eng_fra
    short = tmp_path / "short.txt"
    short.write_text("\n".join(eng[:3]), encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        evaluate_mining([(src, tgt), (short, tgt)], use_m3)
    assert str(info.value) == (
        f"{short} has 3 lines but {tgt} has {N}; mining evaluation needs line-aligned files"
    )
    with pytest.raises(UnknownSpecError, match="unknown mining kind 'margin'"):
        evaluate_mining([(src, tgt)], use_m3, kinds=["cosine", "margin"])
    cases: list[tuple[dict[str, object], str]] = [
        ({"pairs": []}, "pairs is empty"),
        ({"pairs": [src]}, "each item must be a (source file, target file) pair"),
        ({"pairs": [(src, tgt, tgt)]}, "each item must be a (source file, target file) pair"),
        ({"kinds": []}, "kinds is empty"),
        ({"kinds": "cosine"}, "kinds must be a list of mining kinds"),
        ({"k": 0}, "k=0 is not allowed; use a positive integer"),
        ({"threshold": float("nan")}, "threshold=nan is not allowed; use a finite number"),
        (
            {"symmetric_roles": "passage"},
            "symmetric_roles='passage' is not allowed; use one of: document, query, query-document",
        ),
        ({"embedder": "use-m3"}, "embedder must be an Embedder"),
        ({"pairs": [(tmp_path / "none.txt", tgt)]}, "none.txt"),
    ]
    for overrides, message in cases:
        kwargs: dict[str, object] = {"pairs": [(src, tgt)], "embedder": use_m3, **overrides}
        with pytest.raises(InvalidInputError) as info:
            evaluate_mining(**kwargs)  # type: ignore[arg-type]
        assert message in str(info.value), (overrides, str(info.value))
        assert "\n" not in str(info.value)


def test_each_side_is_embedded_in_the_pairings_role(
    e5: Embedder, eng_fra: tuple[Path, Path, list[str], list[str]]
) -> None:
    # Mining's default pairing is query/passage: best margin accuracy on Tatoeba and FLORES
    # (bench/symmetric_roles.py).
    assert MINING_SYMMETRIC_ROLES == "query-document"
    src, tgt, eng, fra = eng_fra
    roles = {
        "document": ("document", "document"),
        "query": ("query", "query"),
        "query-document": ("query", "document"),
    }
    for pairing, (source_role, target_role) in roles.items():
        report = evaluate_mining([(src, tgt)], e5, kinds=["cosine"], symmetric_roles=pairing)
        assert report.symmetric_roles == pairing
        x, y = e5.embed(eng, source_role), e5.embed(fra, target_role)
        direct = xsim(x, y, kind="cosine", target_texts=fra)
        got = report.results["eng.txt"].scores["cosine"]
        assert list(got.predictions) == list(direct.predictions), pairing
    default = evaluate_mining([(src, tgt)], e5, kinds=["cosine"])
    assert default.symmetric_roles == MINING_SYMMETRIC_ROLES
