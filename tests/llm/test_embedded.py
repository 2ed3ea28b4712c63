"""The embedded vLLM server's lifecycle: start, reuse, stop by PID."""

from __future__ import annotations

import os

import httpx
import pytest

from xling.llm import EmbeddedLLMConfig, ServerHandle, running, start, stop

pytestmark = pytest.mark.vllm


def test_running_server_is_recorded_and_reused(
    vllm_server: ServerHandle, vllm_config: EmbeddedLLMConfig
) -> None:
    assert running(vllm_config) == vllm_server
    assert start(vllm_config).pid == vllm_server.pid
    models = httpx.get(f"{vllm_server.url}/models", timeout=10).json()["data"]
    assert [m["id"] for m in models] == ["smollm2-135m-instruct"]
    assert (vllm_config.model_dir / "model.safetensors").exists()
    config = (vllm_config.model_dir / "config.json").read_text()
    assert "quantization_config" not in config and '"head_dim": 64' in config


def test_stop_without_a_server_is_a_no_op(tmp_path: os.PathLike[str]) -> None:
    assert stop(EmbeddedLLMConfig(home=tmp_path)) is False  # type: ignore[arg-type]
    assert running(EmbeddedLLMConfig(home=tmp_path)) is None  # type: ignore[arg-type]
