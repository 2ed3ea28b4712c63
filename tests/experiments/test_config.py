"""Experiment configs: every problem reported at once with its key, before any generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, refused_port
from xling.experiments.config import ConfigError, load_config, parse_config
from xling.experiments.runner import plan_runs, run_experiment
from xling.experiments.sources import load_pool, load_test


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_reads_and_plans_ten_runs_on_bundled_flores() -> None:
    config = load_config(REPO / "examples" / "iclmt-flores.toml")
    runs = plan_runs(config)
    assert [r.spec.key for r in runs[:5]] == [
        "eng-fra.0-shot.k0.seed0.icl-mt-11",
        "eng-fra.random.k5.seed0.icl-mt-11",
        "eng-fra.bm25.k5.seed0.icl-mt-11",
        "eng-fra.s2s.k5.seed0.icl-mt-11",
        "eng-fra.margin.k5.seed0.icl-mt-11",
    ]
    assert len(runs) == 10 and {r.spec.tgt for r in runs} == {"fra", "swh"}
    pool, _ = load_pool(config.data, "eng", "swh")
    test = load_test(config.data, "eng", "swh")
    assert (len(pool), len(test)) == (997, 100)
    assert test.sources[0].startswith('"We now have 4-month-old mice')


def test_the_full_devtest_config_reads_1012_sentences(shared_data: Path) -> None:
    config = load_config(REPO / "examples" / "iclmt-flores-full.toml")
    assert len(load_test(config.data, "eng", "wol")) == 1012
    # random once per seed, the deterministic rows once; 0-shot once per direction
    runs = [r for r in plan_runs(config) if r.spec.direction == "eng-fra"]
    assert len(runs) == 1 + 5 * 3 + 3 * 5


def test_seeds_repeat_random_and_sampled_runs_only(tmp_path: Path) -> None:
    base = {"directions": ["eng-fra"], "strategies": ["0-shot", "random", "bm25"],
            "k": [1, 4], "seeds": [1, 2, 3]}  # fmt: skip
    greedy = plan_runs(parse_config(base, source="t", base=tmp_path))
    assert [(r.spec.label, r.spec.k, r.spec.seed) for r in greedy] == [
        ("0-shot", 0, 1),
        *[("random", k, s) for k in (1, 4) for s in (1, 2, 3)],
        ("bm25", 1, 1), ("bm25", 4, 1),
    ]  # fmt: skip
    sampled = {**base, "decoding": {"mode": "sample"}}
    assert len(plan_runs(parse_config(sampled, source="t", base=tmp_path))) == 3 + 6 + 6


def test_every_problem_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "short").mkdir()
    for lang in ("eng", "fra"):
        (tmp_path / "short" / f"{lang}.txt").write_text("One.\nTwo.\nThree.", encoding="utf-8")
    path = _write(
        tmp_path,
        f"""
directions = ["eng-fra", "eng-xx"]
strategies = ["random", "magic", {{name = "s2s", embedder = "nope:x"}}]
k = [5]
templates = ["icl-mt-99"]
[data]
pool = "short/{{lang}}.txt"
test = "missing/{{lang}}.txt"
[llm]
url = "http://127.0.0.1:{refused_port()}/v1"
""",
    )
    with pytest.raises(ConfigError) as shape:
        load_config(path)
    keys = [key for key, _ in shape.value.problems]
    assert keys == ["directions[1]", "strategies[1].name", "strategies[2].embedder", "templates[0]"]
    assert "unknown strategy 'magic'; allowed: 0-shot, random, bm25" in str(shape.value)

    # The shape is right; the data and the LLM are wrong: all of it before any generation.
    fixed = path.read_text().replace('"eng-xx"', '"eng-fra"').replace("icl-mt-99", "icl-mt-11")
    path.write_text(fixed.replace(', "magic", {name = "s2s", embedder = "nope:x"}', ""))
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as data:
        run_experiment(load_config(path), out)
    found = dict(data.value.problems)
    assert list(found) == ["data.test (eng-fra)", "k", "llm.url"]
    assert "missing/eng.txt" in found["data.test (eng-fra)"]
    assert found["k"] == "5 is larger than the eng-fra pool (3 pairs)"
    assert "does not answer" in found["llm.url"]
    assert "\n" not in str(data.value) and str(data.value).startswith(f"config {path} has 3")
    assert not out.exists()  # nothing written


def test_file_sources_tsv_jsonl_and_misaligned(tmp_path: Path) -> None:
    (tmp_path / "eng-fra.tsv").write_text("Hello.\tBonjour.\nYes.\tOui.", encoding="utf-8")
    (tmp_path / "p.jsonl").write_text('{"eng": "Hello.", "fra": "Bonjour."}\n', encoding="utf-8")
    (tmp_path / "eng.txt").write_text("a\nb", encoding="utf-8")
    (tmp_path / "fra.txt").write_text("a", encoding="utf-8")

    def data(pool: str) -> object:
        return parse_config({"directions": ["eng-fra"], "strategies": ["random"],
                             "data": {"pool": pool}}, source="t", base=tmp_path).data  # fmt: skip

    pool, _ = load_pool(data("{src}-{tgt}.tsv"), "eng", "fra")  # type: ignore[arg-type]
    assert (pool.sources, pool.targets) == (["Hello.", "Yes."], ["Bonjour.", "Oui."])
    pool, _ = load_pool(data("p.jsonl"), "eng", "fra")  # type: ignore[arg-type]
    assert pool.targets == ["Bonjour."]
    with pytest.raises(ConfigError.__mro__[1], match="has 2 lines but .* has 1"):
        load_pool(data("{lang}.txt"), "eng", "fra")  # type: ignore[arg-type]
    # The readers are the library's own: the JSONL parser and the TSV loader name file and line.
    (tmp_path / "bad.jsonl").write_text('{"eng": "Hi."}\n{"eng": \n', encoding="utf-8")
    with pytest.raises(ConfigError.__mro__[1], match=r"bad.jsonl:1: 'eng' and 'fra' must be"):
        load_pool(data("bad.jsonl"), "eng", "fra")  # type: ignore[arg-type]
    (tmp_path / "bad.jsonl").write_text('{"eng": \n', encoding="utf-8")
    with pytest.raises(ConfigError.__mro__[1], match=r"bad.jsonl:1 is not valid JSON"):
        load_pool(data("bad.jsonl"), "eng", "fra")  # type: ignore[arg-type]
    (tmp_path / "bad.tsv").write_text("Hello.\tBonjour.\nYes.\n", encoding="utf-8")
    with pytest.raises(ConfigError.__mro__[1], match=r"bad.tsv:2 has 1 tab-separated columns"):
        load_pool(data("bad.tsv"), "eng", "fra")  # type: ignore[arg-type]


def test_an_xling_pool_is_a_source(tmp_path: Path, e5: object) -> None:
    from xling.data import sample_path
    from xling.store import Pool, load_aligned

    db = tmp_path / "db"
    pool = Pool.open("sample", e5, path=db)  # type: ignore[arg-type]
    pool.index(load_aligned(sample_path("eng"), sample_path("swh"), "eng", "swh"))
    config = parse_config(
        {"directions": ["eng-swh"], "strategies": ["random"],
         "data": {"pool": "xling:sample", "chroma_path": str(db)}},
        source="t", base=tmp_path,
    )  # fmt: skip
    aligned, _ = load_pool(config.data, "eng", "swh")
    assert len(aligned) == 100
    assert aligned.targets[0] == sample_path("swh").read_text(encoding="utf-8").split("\n")[0]


def test_ban_copy_is_a_decoding_switch(tmp_path: Path) -> None:
    base = {"directions": ["eng-swh"], "strategies": ["random"]}
    assert parse_config(base, source="t", base=tmp_path).decoding.ban_copy is False
    on = parse_config({**base, "decoding": {"ban_copy": True}}, source="t", base=tmp_path)
    assert on.decoding.ban_copy is True
    with pytest.raises(ConfigError) as bad:
        parse_config({**base, "decoding": {"ban_copy": "yes"}}, source="t.toml", base=tmp_path)
    assert bad.value.problems == [("decoding.ban_copy", "'yes'; use true or false")]
    with pytest.raises(ConfigError, match="decoding.ban_copy: needs mode greedy or sample"):
        parse_config({**base, "decoding": {"ban_copy": True, "mode": "beam"}}, source="t",
                     base=tmp_path)  # fmt: skip
