"""``ce:<path>``: the tiny cross-encoder the session builds, checked against transformers itself.

The reference is computed here without sentence-transformers or xling: the model's input ids
built by hand (``[CLS] query [SEP] passage [SEP]``, all token type 0) and run through
``BertForSequenceClassification``, then ``torch.sigmoid`` of its logit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.rerankers.tiny_ce import MAX_LENGTH
from xling.core.errors import InvalidInputError, MissingDependencyError, UnknownSpecError
from xling.rerankers import RerankRequest, get_reranker
from xling.rerankers.calibration import relevance_probability
from xling.rerankers.cross_encoder import CrossEncoderReranker, fit_pair, load_cross_encoder

REPO = Path(__file__).resolve().parents[2]


class Reference:
    """The tiny model through transformers directly: ids by hand, sigmoid of the logit."""

    def __init__(self, folder: Path) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def probability(self, query: str, passage: str, passage_tokens: int | None = None) -> float:
        """P(relevant) of the pair; the passage cut to its first ``passage_tokens`` tokens
        (default: what 128 tokens leave after the query and 3 special tokens)."""
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        query_ids = self.ids(query)
        if passage_tokens is None:
            passage_tokens = MAX_LENGTH - 3 - len(query_ids)
        ids = [cls, *query_ids, sep, *self.ids(passage)[:passage_tokens], sep]
        with self.torch.no_grad():
            logit = self.model(input_ids=self.torch.tensor([ids])).logits[0, 0]
        return float(self.torch.sigmoid(logit))


@pytest.fixture(scope="module")
def reference(tiny_ce_dir: Path) -> Reference:
    return Reference(tiny_ce_dir)


@pytest.fixture(scope="module")
def request_(flores: Callable[[str, str], list[str]]) -> RerankRequest:
    """A FLORES query, its French, German and Swahili translations and three other lines."""
    eng, fra, deu, swh = (flores(lang, "devtest") for lang in ("eng", "fra", "deu", "swh"))
    texts = [eng[3], fra[0], eng[5], deu[0], swh[0], eng[7]]
    return RerankRequest.from_texts(
        eng[0], texts, ids=["eng-3", "fra", "eng-5", "deu", "swh", "eng-7"]
    )


def test_scores_are_the_sigmoid_of_the_models_logit_best_first(
    tiny_ce_dir: Path, reference: Reference, request_: RerankRequest
) -> None:
    result = get_reranker(f"ce:{tiny_ce_dir}").rerank(request_)
    expected = {c.id: reference.probability(request_.query, c.text) for c in request_.candidates}
    assert {c.id: c.score for c in result.candidates} == pytest.approx(expected, abs=1e-5)
    # Best first, by the reference's own probabilities (all distinct on this random model).
    assert [c.id for c in result.candidates] == sorted(expected, key=lambda i: -expected[i])
    # The probability calibration: relevance is the score itself.
    assert [c.relevance for c in result.candidates] == [c.score for c in result.candidates]
    assert result.reranker == f"ce:{tiny_ce_dir}" and not result.fallback
    assert result.usage.calls == 1  # six pairs, one batch of 32


def test_a_long_passage_is_cut_by_model_tokens_and_the_query_is_kept(
    tiny_ce_dir: Path, reference: Reference, flores: Callable[[str, str], list[str]]
) -> None:
    query = min(flores("eng", "dev")[:100], key=len)
    passage = " ".join(flores("fra", "dev")[20:30])  # ten sentences: far over 128 tokens
    q_len, p_len = len(reference.ids(query)), len(reference.ids(passage))
    assert q_len < 30 and p_len > MAX_LENGTH
    loaded = load_cross_encoder(str(tiny_ce_dir))
    kept_query, cut = fit_pair(loaded.tokenizer, query, passage, MAX_LENGTH, 1000)
    # The query whole; the passage a prefix of itself, filling 128 - 3 special tokens.
    assert kept_query == query and passage.startswith(cut)
    assert len(reference.ids(cut)) == MAX_LENGTH - 3 - q_len
    request = RerankRequest.from_texts(query, [passage, "Un chat."])
    scores = {c.id: c.score for c in get_reranker(f"ce:{tiny_ce_dir}").rerank(request).candidates}
    assert scores["0"] == pytest.approx(
        reference.probability(query, passage, MAX_LENGTH - 3 - q_len), abs=1e-5
    )
    # A smaller max_length, and max_passage_tokens, cut the passage further.
    short = get_reranker(f"ce:{tiny_ce_dir}", max_length=48).rerank(request)
    assert {c.id: c.score for c in short.candidates}["0"] == pytest.approx(
        reference.probability(query, passage, 48 - 3 - q_len), abs=1e-5
    )
    capped = get_reranker(f"ce:{tiny_ce_dir}", max_passage_tokens=7).rerank(request)
    assert {c.id: c.score for c in capped.candidates}["0"] == pytest.approx(
        reference.probability(query, passage, 7), abs=1e-5
    )


def test_a_query_longer_than_half_the_room_is_cut_to_leave_the_passage_half(
    tiny_ce_dir: Path, flores: Callable[[str, str], list[str]]
) -> None:
    loaded = load_cross_encoder(str(tiny_ce_dir))
    query = " ".join(flores("eng", "dev")[40:50])
    passage = " ".join(flores("deu", "dev")[40:50])
    q, p = fit_pair(loaded.tokenizer, query, passage, MAX_LENGTH, 1000)
    count = lambda text: len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    # Room 128 - 3 = 125: the passage gets 125 // 2 = 62 tokens, the query the other 63.
    assert (count(q), count(p)) == (63, 62)
    assert query.startswith(q) and passage.startswith(p)


def test_batches_do_not_change_the_scores(tiny_ce_dir: Path, request_: RerankRequest) -> None:
    spec = f"ce:{tiny_ce_dir}"
    whole = get_reranker(spec, batch_size=32).rerank(request_)
    ones = get_reranker(spec, batch_size=1).rerank(request_)
    fours = get_reranker(spec, batch_size=4).rerank(request_)
    expected = {c.id: c.score for c in whole.candidates}
    # float32 sums over padded batches of other lengths differ in the last bits (~1e-6).
    for result in (ones, fours):
        assert {c.id: c.score for c in result.candidates} == pytest.approx(expected, abs=1e-5)
        assert [c.id for c in result.candidates] == [c.id for c in whole.candidates]
    assert (ones.usage.calls, fours.usage.calls) == (6, 2)  # ceil(6 / 1), ceil(6 / 4)
    # Requests at once share the model and its tokenizer (from worker threads).
    for result in get_reranker(spec, batch_size=2).rerank_many([request_] * 4):
        assert {c.id: c.score for c in result.candidates} == pytest.approx(expected, abs=1e-5)
    # rank_end=3: only the first three are scored; the other three stay below, in order.
    head = get_reranker(spec, rank_end=3, trace=True).rerank(request_)
    top3 = sorted(["eng-3", "fra", "eng-5"], key=lambda i: -expected[i])
    assert [c.id for c in head.candidates] == [*top3, "deu", "swh", "eng-7"]
    assert head.trace is not None and [call.where for call in head.trace] == ["batch 0-3"]
    assert head.trace[0].prompt == [
        {"query": request_.query, "passages": [c.text for c in request_.candidates[:3]]}
    ]


def test_the_model_loads_once_per_path_and_backend(tiny_ce_dir: Path) -> None:
    assert load_cross_encoder(str(tiny_ce_dir)) is load_cross_encoder(str(tiny_ce_dir), "torch")


def test_onnx_gives_the_torch_scores(tiny_ce_dir: Path, request_: RerankRequest) -> None:
    torch_scores = get_reranker(f"ce:{tiny_ce_dir}").rerank(request_)
    onnx_scores = get_reranker(f"ce:{tiny_ce_dir}", backend="onnx").rerank(request_)
    expected = {c.id: c.score for c in torch_scores.candidates}
    assert {c.id: c.score for c in onnx_scores.candidates} == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("ce:", {}, "has no argument; use ce:<name-or-path>"),
        ("ce:/no/such/folder", {}, "'ce:/no/such/folder': '/no/such/folder' is neither a local"),
        ("ce:xling-test/not-cached", {}, "nor a model in the Hugging Face hub cache"),
        ("ce:{dir}", {"backend": "tensorflow"}, "backend='tensorflow' is not allowed"),
        ("ce:{dir}", {"batch_size": 0}, "batch_size=0 is not allowed"),
        ("ce:{dir}", {"max_length": 0}, "max_length=0 is not allowed"),
        ("ce:{dir}", {"window": 20}, "unknown option(s) ['window'] for CrossEncoderConfig"),
    ],
)
def test_bad_specs_and_options_name_the_value(
    tiny_ce_dir: Path, spec: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        get_reranker(spec.format(dir=tiny_ce_dir), **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_values_found_when_the_model_loads(
    tiny_ce_dir: Path, tmp_path: Path, request_: RerankRequest
) -> None:
    with pytest.raises(InvalidInputError, match=r"max_length=1000 .*use 1\.\.128"):
        get_reranker(f"ce:{tiny_ce_dir}", max_length=1000).rerank(request_)
    with pytest.raises(InvalidInputError, match="cannot be loaded from local files"):
        CrossEncoderReranker(str(tmp_path)).rerank(request_)  # an empty folder
    with pytest.raises(UnknownSpecError, match="ce:<name-or-path>"):
        get_reranker("cross-encoder:x")


@pytest.mark.parametrize(
    ("blocked", "options", "hint"),
    [
        (["sentence_transformers"], {}, "pip install 'xling[st]'"),
        (["optimum", "optimum.onnxruntime"], {"backend": "onnx"}, "pip install 'xling[onnx]'"),
    ],
)
def test_a_missing_dependency_names_its_extra(
    tiny_ce_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    blocked: list[str],
    options: dict[str, Any],
    hint: str,
) -> None:
    for module in blocked:  # as if not installed (even when an earlier test imported it)
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as error:
        get_reranker(f"ce:{tiny_ce_dir}", **options)
    assert hint in str(error.value) and f"ce:{tiny_ce_dir}" in str(error.value)


def test_probability_calibration_is_the_score_itself() -> None:
    assert relevance_probability("probability", rank=2, n=5, score=0.73) == 0.73
    assert relevance_probability("probability", rank=0, n=1, score=1.5) == 1.0
    with pytest.raises(InvalidInputError, match="needs its score"):
        relevance_probability("probability", rank=0, n=1)


_HUB_SCRIPT = """
from xling.core.errors import InvalidInputError
from xling.rerankers import RerankRequest, get_reranker
request = RerankRequest.from_texts("Where is the plane?", ["The plane landed.", "A cat."])
result = get_reranker("ce:xling-test/tiny-ce").rerank(request)
print(sorted(round(c.score, 6) for c in result.candidates))
try:
    get_reranker("ce:xling-test/absent")
except InvalidInputError as error:
    print("refused:", error)
"""


def test_a_hub_name_loads_from_the_hub_cache_only(
    tiny_ce_dir: Path, tmp_path: Path, reference: Reference
) -> None:
    # The hub cache's layout: models--<org>--<name>/{refs/main, snapshots/<commit>/<files>}.
    repo = tmp_path / "hub" / "models--xling-test--tiny-ce"
    commit = "0" * 40
    shutil.copytree(tiny_ce_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-c", _HUB_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "huggingface.co" not in run.stderr  # no request to the hub, not even a HEAD
    lines = run.stdout.strip().splitlines()
    texts = ("The plane landed.", "A cat.")
    expected = sorted(reference.probability("Where is the plane?", text) for text in texts)
    assert [float(x) for x in lines[0].strip("[]").split(",")] == pytest.approx(expected, abs=1e-5)
    assert lines[1].startswith("refused: reranker 'ce:xling-test/absent': 'xling-test/absent' is")
