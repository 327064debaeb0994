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
# Headless Chromium and its driver, from Debian's packages, for the test that opens tipbot's
# links in a browser (it is skipped without them, and fails under CI=true).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: install chromium and chromium-driver (apt-get, as root) for the browser test"
  fi
fi
echo "tipbot is installed in .venv (run .venv/bin/tipbot --help)"
