"""The front door: the entry points import from ``xling``; the 0.1 paths warn and still work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import xling


def test_entry_points_resolve_to_their_homes() -> None:
    from xling.rag.pipeline import AnswerPipeline
    from xling.retrieval import get_retriever
    from xling.store import Pool

    assert xling.Pool is Pool
    assert xling.get_retriever is get_retriever
    assert xling.AnswerPipeline is AnswerPipeline
    from xling.rag.pipeline import build_answer_pipeline
    from xling.selectors import aligned_pool, select_examples
    from xling.store import open_pool

    assert (xling.build_answer_pipeline, xling.select_examples) == (
        build_answer_pipeline,
        select_examples,
    )
    assert (xling.aligned_pool, xling.open_pool) == (aligned_pool, open_pool)
    assert set(xling.__all__) <= set(dir(xling)) | {"__version__"}
    with pytest.raises(AttributeError, match="no attribute 'Pools'"):
        _ = xling.Pools  # type: ignore[attr-defined]


def test_import_xling_loads_neither_chroma_nor_torch() -> None:
    code = "import sys, xling; print('chromadb' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


_OLD_PATHS = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from xling.rag import Pool, load_aligned
    from xling.rag.retrieval import get_retriever
    from xling.rag import Pool as again
import xling.retrieval, xling.store
same = [Pool is xling.store.Pool, again is Pool, load_aligned is xling.store.load_aligned,
        get_retriever is xling.retrieval.get_retriever]
print(json.dumps({"same": same, "warned": [
    (w.category.__name__, str(w.message)) for w in caught]}))
"""


def test_old_readme_paths_warn_once_and_resolve() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _OLD_PATHS], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result["same"] == [True, True, True, True]
    assert result["warned"] == [
        [
            "DeprecationWarning",
            "xling.rag.Pool moved to xling.store.Pool; the old path goes in the next release",
        ],
        [
            "DeprecationWarning",
            "xling.rag.load_aligned moved to xling.store.load_aligned; the old path goes in the "
            "next release",
        ],
        [
            "DeprecationWarning",
            "xling.rag.retrieval.get_retriever moved to xling.retrieval.get_retriever; the old "
            "path goes in the next release",
        ],
    ]


def test_unknown_old_name_is_an_import_error() -> None:
    with pytest.raises(ImportError, match="cannot import name 'Nothing'"):
        from xling.rag import Nothing  # type: ignore[attr-defined]  # noqa: F401
