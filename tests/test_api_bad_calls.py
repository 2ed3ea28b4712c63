"""Bad calls to the public API raise one-line xling errors that name the bad value.

Each row is a call with a bad value, the error class expected and a fragment of the message
that names the value (and, mostly, what is allowed). Before these checks, rows raised
TypeError, AttributeError, ValueError or IndexError from deep inside, or were accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError, XlingError
from xling.core.fusion import fuse_rankings
from xling.core.records import AlignedPool
from xling.embedders import get_embedder
from xling.eval import (
    LanguageChecker,
    best_threshold,
    bleu,
    bucc_f1,
    check_aligned,
    chrf,
    evaluate_run,
    first_line,
    is_copy,
    lacomet,
    mine_pairs,
    paired_bootstrap,
    parse_measure,
    read_hypotheses,
    read_references,
    segment_stats,
    xsim,
)
from xling.selectors import (
    BM25Selector,
    DenseSelector,
    RandomSelector,
    SelectionConfig,
    filter_pool,
    get_selector,
    select_examples,
)
from xling.store import Record, aligned_records, load_jsonl, load_lines, read_lines

POOL = AlignedPool(
    ["Hello there.", "Good night.", "Thank you."],
    ["Jambo.", "Usiku mwema.", "Asante."],
    [0, 1, 2],
    "eng",
    "swh",
)
X = np.eye(3, dtype=np.float32)
RUN = {"q": {"d": 1.0}}
QRELS = {"q": {"d": 1}}
NAN = float("nan")


def use() -> Any:
    return get_embedder("use-m3", cache=False)  # loads its model only when it embeds


def one() -> Any:
    return segment_stats("comet", [0.5])


CASES: list[tuple[str, Callable[[], object], type[XlingError], str]] = [
    # records and loaders
    ("record-lang", lambda: Record("hi", "klingon"), InvalidInputError, "'klingon'"),
    ("record-side", lambda: Record("hi", "eng", side="bogus"), InvalidInputError, "'bogus'"),  # type: ignore[arg-type]
    ("record-text", lambda: Record(None, "eng"), InvalidInputError, "record text None"),  # type: ignore[arg-type]
    ("record-row", lambda: Record("x", "eng", row=-1), InvalidInputError, "row -1"),
    ("record-nan", lambda: Record("x", "en", metadata={"a": NAN}), InvalidInputError, "'a'=nan"),
    ("record-key", lambda: Record("x", "en", metadata={"": 1}), InvalidInputError, "name ''"),
    ("lines-none", lambda: load_lines(None, "eng"), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("lines-int", lambda: read_lines(5), InvalidInputError, "got 5 (int)"),  # type: ignore[arg-type]
    ("lines-lang", lambda: load_lines("x.txt", None), InvalidInputError, "code None"),  # type: ignore[arg-type]
    ("aligned-str", lambda: aligned_records("ab", "cd", "en", "fr"), InvalidInputError, "'ab'"),
    ("aligned-none", lambda: aligned_records(None, ["a"], "en", "fr"), InvalidInputError, "None"),  # type: ignore[arg-type]
    ("jsonl-folder", lambda: load_jsonl("/"), InvalidInputError, "'/' is a folder, not a file"),
    # embedders
    ("embedder-none", lambda: get_embedder(None), UnknownSpecError, "got None (NoneType)"),  # type: ignore[arg-type]
    ("embedder-int", lambda: get_embedder(5), UnknownSpecError, "got 5 (int)"),  # type: ignore[arg-type]
    ("embedder-spec", lambda: get_embedder("e5-small"), UnknownSpecError, "'e5-small'"),
    ("embedder-cache", lambda: get_embedder("use-m3", cache="yes"), InvalidInputError, "'yes'"),  # type: ignore[arg-type]
    (
        "embedder-cap",
        lambda: get_embedder("use-m3", max_tokens=0),
        InvalidInputError,
        "max_tokens=0 is",
    ),
    ("embedder-long", lambda: get_embedder("use-m3", on_long="x"), InvalidInputError, "'x'"),  # type: ignore[arg-type]
    ("embed-role", lambda: use().embed(["a"], "bogus"), InvalidInputError, "role='bogus'"),
    ("embed-nul", lambda: use().embed_documents(["\x00\x00"]), InvalidInputError, r"'\x00\x00'"),
    ("embed-dict", lambda: use().embed_documents({"a": 1}), InvalidInputError, "{'a': 1}"),  # type: ignore[arg-type]
    ("embed-int", lambda: use().embed_documents(5), InvalidInputError, "got 5 (int)"),  # type: ignore[arg-type]
    ("embed-str", lambda: use().embed_documents("text"), InvalidInputError, "got 'text'"),
    (
        "embed-batch",
        lambda: get_embedder("use-m3", batch_size=0).embed_documents(["a"]),
        InvalidInputError,
        "batch_size=0",
    ),  # fmt: skip
    ("count-int", lambda: use().count_tokens(5), InvalidInputError, "got 5"),  # type: ignore[arg-type]
    # selectors
    ("pool-none", lambda: get_selector(None, "s2s"), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("config-int", lambda: get_selector(POOL, 5), InvalidInputError, "got 5 (int)"),  # type: ignore[arg-type]
    ("config-str", lambda: select_examples(["a"], POOL, "s2s"), InvalidInputError, "got 's2s'"),  # type: ignore[arg-type]
    ("strategy", lambda: SelectionConfig(method="knn"), UnknownSpecError, "'knn'"),
    ("k-zero", lambda: get_selector(POOL, "random").select(["a"], 0), InvalidInputError, "k=0"),
    ("k-nan", lambda: get_selector(POOL, "random").select(["a"], NAN), InvalidInputError, "k=nan"),  # type: ignore[arg-type]
    ("k-big", lambda: get_selector(POOL, "bm25").select(["a"], 9), InvalidInputError, "k=9"),
    ("queries-str", lambda: get_selector(POOL, "bm25").select("a", 1), InvalidInputError, "'a'"),
    ("config-k", lambda: SelectionConfig(k=-1), InvalidInputError, "k=-1"),
    ("config-embedder", lambda: SelectionConfig(embedder=None), InvalidInputError, "None"),  # type: ignore[arg-type]
    ("config-seed", lambda: SelectionConfig(seed="x"), InvalidInputError, "seed='x'"),  # type: ignore[arg-type]
    ("config-k1", lambda: SelectionConfig(bm25_k1=NAN), InvalidInputError, "bm25_k1=nan"),
    ("config-b", lambda: SelectionConfig(bm25_b=-1.0), InvalidInputError, "bm25_b=-1.0"),
    ("config-filter", lambda: SelectionConfig(filters=("lid",)), UnknownSpecError, "'lid'"),
    ("config-alpha", lambda: SelectionConfig(alpha=True), InvalidInputError, "alpha=True"),  # type: ignore[arg-type]
    ("filter-name", lambda: filter_pool(POOL, ("lid",)), UnknownSpecError, "'lid'"),
    ("filter-pool", lambda: filter_pool([1], ("empty",)), InvalidInputError, "got [1]"),  # type: ignore[arg-type]
    ("random-seed", lambda: RandomSelector(POOL, seed=-1), InvalidInputError, "seed=-1"),
    ("bm25-k1", lambda: BM25Selector(POOL, k1=NAN), InvalidInputError, "k1=nan"),
    ("bm25-b", lambda: BM25Selector(POOL, b=2.0), InvalidInputError, "b=2.0"),
    ("dense-batch", lambda: DenseSelector(POOL, use(), batch_size=0), InvalidInputError, "=0"),
    ("dense-spec", lambda: DenseSelector(POOL, 5).embedder, UnknownSpecError, "got 5 (int)"),  # type: ignore[arg-type]
    ("fuse-empty", lambda: fuse_rankings([], 3, 1, "borda"), InvalidInputError, "non-empty"),
    (
        "fuse-method",
        lambda: fuse_rankings([np.zeros((1, 1), int)], 3, 1, "sum"),  # type: ignore[arg-type]
        InvalidInputError,
        "'sum'",
    ),  # fmt: skip
    # MT metrics and bootstrap
    ("bleu-none", lambda: bleu(None, ["a"]), InvalidInputError, "hypotheses must be a list"),  # type: ignore[arg-type]
    ("chrf-refs", lambda: chrf(["a"], None), InvalidInputError, "references must be a list"),  # type: ignore[arg-type]
    ("chrf-order", lambda: chrf(["a"], ["a"], word_order=-1), InvalidInputError, "=-1"),
    ("chrf-type", lambda: chrf(["a"], ["a"], word_order="x"), InvalidInputError, "='x'"),  # type: ignore[arg-type]
    ("stats-str", lambda: segment_stats("comet", ["a"]), InvalidInputError, "['a']"),
    ("bootstrap-none", lambda: paired_bootstrap(None, one()), InvalidInputError, "got None"),  # type: ignore[arg-type]
    (
        "bootstrap-seed",
        lambda: paired_bootstrap(one(), one(), seed="x"),
        InvalidInputError,  # type: ignore[arg-type]
        "seed='x'",
    ),  # fmt: skip
    ("lacomet-none", lambda: lacomet(None, ["a"], "sw"), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("copy-none", lambda: is_copy(None, "a"), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("line-none", lambda: first_line(None), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("hyp-none", lambda: read_hypotheses(None), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("refs-folder", lambda: read_references("/"), InvalidInputError, "'/' is a folder"),
    ("aligned-none", lambda: check_aligned(None, ["a"], "h", "r"), InvalidInputError, "None"),  # type: ignore[arg-type]
    # retrieval metrics
    ("measure-none", lambda: parse_measure(None), UnknownSpecError, "got None"),  # type: ignore[arg-type]
    (
        "measures-str",
        lambda: evaluate_run(RUN, QRELS, "nDCG@10"),
        InvalidInputError,
        "got 'nDCG@10'",
    ),  # fmt: skip
    ("run-none", lambda: evaluate_run(None, QRELS), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("run-list", lambda: evaluate_run({"q": [1]}, QRELS), InvalidInputError, "got [1]"),  # type: ignore[dict-item]
    ("run-nan", lambda: evaluate_run({"q": {"d": NAN}}, QRELS), InvalidInputError, "nan"),
    ("grade-str", lambda: evaluate_run(RUN, {"q": {"d": "x"}}), InvalidInputError, "'x'"),  # type: ignore[dict-item]
    ("grade-half", lambda: evaluate_run(RUN, {"q": {"d": 1.5}}), InvalidInputError, "1.5"),  # type: ignore[dict-item]
    ("rel-nan", lambda: evaluate_run(RUN, QRELS, rel=NAN), InvalidInputError, "rel=nan"),  # type: ignore[arg-type]
    (
        "unknown",
        lambda: evaluate_run(RUN, QRELS, unknown_queries="x"),
        InvalidInputError,  # type: ignore[arg-type]
        "unknown_queries='x'",
    ),  # fmt: skip
    (
        "missing",
        lambda: evaluate_run(RUN, QRELS, missing_queries="x"),
        InvalidInputError,  # type: ignore[arg-type]
        "missing_queries='x'",
    ),  # fmt: skip
    # mining
    ("xsim-none", lambda: xsim(None, X), InvalidInputError, "NoneType"),  # type: ignore[arg-type]
    ("xsim-nan", lambda: xsim(np.full((3, 3), NAN), X), InvalidInputError, "NaN"),
    ("xsim-texts", lambda: xsim(X, X, target_texts="abc"), InvalidInputError, "'abc'"),
    ("mine-k", lambda: mine_pairs(X, X, k=-1), InvalidInputError, "k=-1"),
    (
        "bucc-nan",
        lambda: bucc_f1(mine_pairs(X, X), [(0, 0)], NAN),
        InvalidInputError,
        "threshold=nan",
    ),  # fmt: skip
    ("bucc-str", lambda: bucc_f1(mine_pairs(X, X), [(0, 0)], "x"), InvalidInputError, "='x'"),  # type: ignore[arg-type]
    ("gold-none", lambda: bucc_f1(mine_pairs(X, X), None, 0.5), InvalidInputError, "got None"),  # type: ignore[arg-type]
    ("gold-pair", lambda: bucc_f1(mine_pairs(X, X), [(0,)], 0.5), InvalidInputError, "(0,)"),  # type: ignore[list-item]
    ("mined-none", lambda: best_threshold(None, [(0, 0)]), InvalidInputError, "got None"),  # type: ignore[arg-type]
    # response language (no LID model is loaded by these)
    ("lid-str", lambda: LanguageChecker(candidates="eng"), InvalidInputError, "got 'eng'"),
    ("lid-code", lambda: LanguageChecker(candidates=["tlhx"]), InvalidInputError, "'tlhx'"),
    ("lid-items", lambda: LanguageChecker().check_many(None), InvalidInputError, "got None"),  # type: ignore[arg-type]
    (
        "lid-item",
        lambda: LanguageChecker().check_many([("eng",)]),
        InvalidInputError,  # type: ignore[list-item]
        "('eng',)",
    ),  # fmt: skip
]


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [pytest.param(call, error, fragment, id=name) for name, call, error, fragment in CASES],
)
def test_bad_call_raises_a_one_line_xling_error(
    call: Callable[[], object], error: type[XlingError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert fragment in message, message
    assert "\n" not in message and len(message) < 400
