"""``xling eval mt|lang|retrieval|mining`` end to end on real files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import ir_measures
import pytest
from typer.testing import Result

SONAR_SWH = "SONAR/Eng_to_Swh/English_to_Swahili_10_shot_seed_122_template_11_SONAR_s2s.jsonl"


@pytest.fixture(scope="module")
def iclmt(shared_data: Path) -> Path:
    return shared_data / "iclmt-outputs" / "llama-2-7b"


def test_mt_json_reproduces_the_published_chrf(
    xling: Callable[..., Result], iclmt: Path, shared_data: Path
) -> None:
    result = xling("eval", "mt", "--hyp", str(iclmt / SONAR_SWH),
                   "--ref", str(shared_data / "flores/swh/devtest.txt"),
                   "--field", "translation", "--metrics", "chrf,bleu", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"chrf", "bleu"}
    assert abs(payload["chrf"]["score"] - 19.910256136354352) < 1e-9
    assert "nw:2" in payload["chrf"]["signature"] and "tok:13a" in payload["bleu"]["signature"]


def test_mt_table_and_bootstrap(
    xling: Callable[..., Result], iclmt: Path, flores: Callable[..., list[str]], tmp_path: Path
) -> None:
    ref = tmp_path / "ref.swh"
    ref.write_text("\n".join(flores("swh", "devtest")[:200]), encoding="utf-8")
    hyp, base = tmp_path / "sonar.txt", tmp_path / "zero.txt"
    for path, name in ((hyp, SONAR_SWH),
                       (base, "Random/Eng_to_Swh/English_to_Swahili_0_shot_seed_13_template_11_"
                              "Random_s2s.jsonl")):  # fmt: skip
        lines = (iclmt / name).read_text(encoding="utf-8").splitlines()[:200]
        path.write_text("\n".join(json.loads(x)["translation"] for x in lines), encoding="utf-8")
    table = xling("eval", "mt", "--hyp", str(hyp), "--ref", str(ref))
    assert table.exit_code == 0, table.output
    assert "chrf" in table.stdout and "bleu" in table.stdout
    result = xling("eval", "mt", "--hyp", str(hyp), "--ref", str(ref), "--baseline", str(base),
                   "--metrics", "chrf", "--samples", "60", "--sample-size", "100",
                   "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    test = json.loads(result.stdout)["chrf"]["bootstrap"]
    assert test["samples"] == 60 and test["sample_size"] == 100
    assert test["system"] > test["baseline"] and test["wins"] >= 57 and test["p_value"] < 0.05


def test_mt_bad_input_exits_2(xling: Callable[..., Result], tmp_path: Path) -> None:
    hyp, ref, empty = tmp_path / "h.txt", tmp_path / "r.txt", tmp_path / "e.txt"
    hyp.write_text("a\nb\nc\n")
    ref.write_text("a\nb\n")
    empty.write_text("")
    cases = [
        (["--hyp", str(hyp), "--ref", str(ref)], "has 3 lines but"),
        (["--hyp", str(empty), "--ref", str(ref)], "is empty"),
        (["--hyp", str(ref), "--ref", str(ref), "--metrics", "lacomet", "--src", str(ref),
          "--tgt-lang", "xx"], "unknown language code 'xx'"),
        (["--hyp", str(ref), "--ref", str(ref), "--metrics", "lacomet"], "needs --tgt-lang"),
        (["--hyp", str(ref), "--ref", str(ref), "--metrics", "ter"], "unknown metrics ter"),
        (["--hyp", str(ref), "--ref", str(ref), "--src", str(ref), "--metrics", "comet",
          "--comet-model", "Unbabel/no-such-model"], "is not available offline"),
        (["--hyp", str(ref), "--ref", str(ref), "--tokenize", "flores200"], "SentencePiece"),
    ]  # fmt: skip
    for args, message in cases:
        result = xling("eval", "mt", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)


def test_lang_json_table_and_plot(
    xling: Callable[..., Result], flores: Callable[..., list[str]], tmp_path: Path
) -> None:
    swh, eng = flores("swh", "dev")[:3], flores("eng", "dev")[:2]
    data = tmp_path / "answers.jsonl"
    items = [{"lang": "sw", "response": t} for t in swh] + [{"lang": "swh", "response": eng[0]}]
    items.append({"lang": "en", "response": eng[1]})
    data.write_text("\n".join(json.dumps(x) for x in items), encoding="utf-8")
    plot = tmp_path / "lang.png"
    result = xling("eval", "lang", "--responses", str(data), "--backend", "pycld2", "--json",
                   "--plot", str(plot))  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert payload["per_language"]["swh"]["accuracy"] == 0.75
    assert payload["per_language"]["eng"]["total"] == 1
    assert [v["verdict"] for v in payload["verdicts"]][:4] == ["correct"] * 3 + ["wrong_language"]
    assert plot.stat().st_size > 1000
    table = xling("eval", "lang", "--responses", str(data), "--backend", "pycld2", "--per-item")
    assert table.exit_code == 0 and "overall accuracy: 0.800" in table.stdout
    assert "unsure" in table.stdout  # the open-set verdict has its column
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(swh))
    ok = xling("eval", "lang", "--responses", str(plain), "--expected", "swh_Latn",
               "--backend", "pycld2", "--json")  # fmt: skip
    assert json.loads(ok.stdout)["accuracy"] == 1.0
    bad = xling("eval", "lang", "--responses", str(plain), "--backend", "pycld2")
    assert bad.exit_code == 2 and "plain.txt:1 is not JSON" in bad.stderr


def test_retrieval_matches_ir_measures(xling: Callable[..., Result], tmp_path: Path) -> None:
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.txt"
    qrels.write_text("1 0 a 2\n1 0 b 1\n2 0 c 1\n2 0 d 0\n")
    run.write_text("1 Q0 b 1 3.0 x\n1 Q0 z 2 2.0 x\n1 Q0 a 3 1.0 x\n2 Q0 d 1 5 x\n2 Q0 c 2 4 x\n")
    result = xling("eval", "retrieval", "--run", str(run), "--qrels", str(qrels),
                   "--metrics", "nDCG@10,R@2,AP", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    expected = ir_measures.calc_aggregate(
        [ir_measures.parse_measure(m) for m in ("nDCG@10", "R@2", "AP")],
        ir_measures.read_trec_qrels(str(qrels)), ir_measures.read_trec_run(str(run)),
    )  # fmt: skip
    for measure, value in expected.items():
        assert payload[str(measure)] == pytest.approx(value, abs=1e-12)
    table = xling("eval", "retrieval", "--run", str(run), "--qrels", str(qrels), "--per-query")
    assert table.exit_code == 0 and "nDCG@10" in table.stdout
    with run.open("a") as f:
        f.write("7 Q0 a 1 1.0 x\n")
    bad = xling("eval", "retrieval", "--run", str(run), "--qrels", str(qrels))
    assert bad.exit_code == 2
    assert "query id '7' at" in bad.stderr and "run.txt:6" in " ".join(bad.stderr.split())


def test_mining_with_use_m3(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    tatoeba = shared_data / "tatoeba"
    src, tgt = tmp_path / "deu.txt", tmp_path / "eng.txt"
    src.write_text("\n".join((tatoeba / "tatoeba.deu-eng.deu").read_text().split("\n")[:80]))
    tgt.write_text("\n".join((tatoeba / "tatoeba.deu-eng.eng").read_text().split("\n")[:80]))
    plot = tmp_path / "mining.png"
    result = xling("eval", "mining", "--src", str(src), "--tgt", str(tgt), "--embedder", "use-m3",
                   "--kind", "cosine,ratio,distance", "--threshold", "1.0", "--json",
                   "--plot", str(plot))  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    entry = payload["results"]["deu.txt"]
    assert entry["pairs"] == 80 and entry["cosine"] > 90 and entry["ratio"] >= entry["cosine"]
    assert 0 < entry["bucc"]["f1"] <= 100
    assert plot.stat().st_size > 1000
    short = tmp_path / "short.txt"
    short.write_text("Hallo\n")
    bad = xling("eval", "mining", "--src", str(short), "--tgt", str(tgt), "--embedder", "use-m3")
    assert bad.exit_code == 2 and "line-aligned" in bad.stderr


def test_bad_bytes_and_values_exit_2_with_one_line(
    xling: Callable[..., Result], shared_data: Path, tmp_path: Path
) -> None:
    answers = tmp_path / "answers.jsonl"
    latin1 = b'{"lang": "fr", "response": "caf\xe9"}\n'
    answers.write_bytes(latin1)
    run, qrels = tmp_path / "run.trec", tmp_path / "qrels.txt"
    run_bytes = b"1 Q0 a 1 3.0 x\n1 Q0 caf\xe9 2 2.0 x\n"
    run.write_bytes(run_bytes)
    qrels.write_text("1 0 a 2\n1 0 b 1.5\n")
    good_run = tmp_path / "good.trec"
    good_run.write_text("1 Q0 a 1 3.0 x\n")
    tatoeba = shared_data / "tatoeba"
    src, tgt = tmp_path / "deu.txt", tmp_path / "eng.txt"
    src.write_text("\n".join((tatoeba / "tatoeba.deu-eng.deu").read_text().split("\n")[:10]))
    tgt.write_text("\n".join((tatoeba / "tatoeba.deu-eng.eng").read_text().split("\n")[:10]))
    cases = {
        ("lang", "--responses", str(answers), "--backend", "pycld2"):
            f"{answers}:1 is not UTF-8 (byte {latin1.index(0xE9)} is 0xe9)",
        ("lang", "--responses", str(tmp_path), "--backend", "pycld2"):
            "is a folder, not a file",
        ("retrieval", "--run", str(run), "--qrels", str(qrels)):
            f"{run}:2 is not UTF-8 (byte {run_bytes.index(0xE9)} is 0xe9)",
        ("retrieval", "--run", str(good_run), "--qrels", str(qrels)):
            f"{qrels}:2: relevance '1.5' is not a whole number",
        ("mining", "--src", str(src), "--tgt", str(tgt), "--embedder", "use-m3",
         "--threshold", "nan"):
            "--threshold=nan is not allowed; use a finite number",
        ("mining", "--src", str(src), "--tgt", str(tgt), "--embedder", "use-m3",
         "--on-long", "cut"):
            "--on-long='cut' is not allowed; use one of: truncate, refuse",
    }  # fmt: skip
    for args, message in cases.items():
        result = xling("eval", *args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
