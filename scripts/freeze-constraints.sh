#!/usr/bin/env bash
# Rewrites the pinned part of constraints.txt from the current .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
head_end=$(grep -n '^# A known-good resolution' constraints.txt | cut -d: -f1)
head -n "$head_end" constraints.txt > constraints.txt.new
.venv/bin/python -m pip freeze --exclude-editable \
  | grep -viE '^(xling|torch|numpy|transformers|sentence-transformers|huggingface-hub|protobuf|setuptools|unbabel-comet)==' \
  >> constraints.txt.new
mv constraints.txt.new constraints.txt
