#!/usr/bin/env bash
# Re-lock the Python dependencies: pyproject.toml's runtime and dev lists, resolved for the
# target (CPython 3.11 on Linux x86_64) into requirements.lock, every file hash-pinned.
# Existing pins are kept unless pyproject.toml needs otherwise; pass uv's own options to move
# them, e.g. `scripts/lock.sh --upgrade` or `scripts/lock.sh --upgrade-package aiohttp`.
# uv runs from a throwaway venv so that the project's .venv holds only what the lock says.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
python3 -m venv "$tool"
"$tool/bin/pip" install -q "uv==$UV_VERSION"

# The project itself stays out of the lock: setup installs it afterwards with --no-deps.
"$tool/bin/uv" pip compile pyproject.toml --extra dev \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --generate-hashes --custom-compile-command "make lock" --quiet \
  --output-file requirements.lock "$@"
