"""Command-line interface: thin wrappers that parse, call the library and render with rich."""

from xling.cli.app import app, main

__all__ = ["app", "main"]
