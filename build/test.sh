#!/usr/bin/env bash
# Set everything up (with test tools), check lint, architecture and types, then run the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash build/setup.sh --dev
export QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=2
# Qt warns (and the tests fail on warnings) if it ever needs a runtime directory and has none.
if [[ -z "${XDG_RUNTIME_DIR:-}" ]]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  export XDG_RUNTIME_DIR
fi
.venv/bin/ruff check fashion_desktop tests build main.py
.venv/bin/lint-imports
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
