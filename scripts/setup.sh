#!/usr/bin/env bash
# Set up tipbot in ./.venv: the CPU build of torch, then tipbot with its test tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# torch first, pinned: this version resolves to the CPU build here, where an unpinned torch
# would pull a CUDA build of several GB.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
echo "tipbot is installed in .venv (run .venv/bin/tipbot --help)"
