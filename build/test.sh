#!/usr/bin/env bash
# Set everything up (with test tools), check lint and architecture, then run the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash build/setup.sh --dev
export QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/ruff check fashion_desktop tests build main.py
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
