"""Running the real ``xling`` command line in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from xling.cli.app import _register, app


@pytest.fixture(scope="session")
def xling() -> Callable[..., Result]:
    """Runs ``xling ARGS...`` and returns the click result (exit_code, stdout, stderr)."""
    _register()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run
