# The two entry points of the README. Both set up what they need themselves and are idempotent.
.PHONY: setup llm demo test lint

setup:
	bash scripts/setup.sh

llm: setup
	.venv/bin/xling llm prepare --model all

demo: setup
	.venv/bin/xling demo

lint: setup
	.venv/bin/ruff check src tests bench examples
	.venv/bin/ruff format --check src tests bench examples
	.venv/bin/mypy
	.venv/bin/lint-imports

test: llm lint
	.venv/bin/python -m pytest
