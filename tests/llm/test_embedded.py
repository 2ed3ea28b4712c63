"""The embedded vLLM server's lifecycle: start, reuse, stop by PID."""

from __future__ import annotations

import os

import httpx
import pytest

from xling.errors import InvalidInputError
from xling.llm import EmbeddedLLMConfig, ServerHandle, running, start, stop


@pytest.mark.vllm
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


def test_server_env_binds_cores_and_keeps_user_env() -> None:
    assert EmbeddedLLMConfig().server_env() == {}
    env = EmbeddedLLMConfig(cpu_cores="0-1", env={"VLLM_SERVER_DEV_MODE": "1"}).server_env()
    assert env == {
        "VLLM_CPU_OMP_THREADS_BIND": "0-1",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_SERVER_DEV_MODE": "1",
    }
    every = EmbeddedLLMConfig(cpu_cores="all").server_env()["VLLM_CPU_OMP_THREADS_BIND"]
    assert every == ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))


@pytest.mark.parametrize("cores", ["", "0-", "a", "0;1", "all cores"])
def test_bad_core_list_is_refused(cores: str) -> None:
    with pytest.raises(InvalidInputError, match=f"cpu_cores {cores!r} is not allowed"):
        EmbeddedLLMConfig(cpu_cores=cores).server_env()
