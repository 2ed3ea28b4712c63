#!/usr/bin/env bash
# Creates or updates the project venv at .venv with xling[all,dev] (idempotent).
# torch is installed first from its pinned CPU wheel so that no resolver pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
stamp_id=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
stamp=.venv/.xling-setup-$stamp_id
if [ -f "$stamp" ] && .venv/bin/python -c "import xling" 2>/dev/null; then
  exit 0
fi
echo "setting up .venv (xling[all,dev])" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade "pip>=24"
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all,dev]"
.venv/bin/python -m pip check
rm -f .venv/.xling-setup-*
touch "$stamp"
