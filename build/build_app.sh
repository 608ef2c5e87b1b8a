#!/usr/bin/env bash
# Build the offline one-folder bundle dist/fashion-desktop/ from a clean checkout, in an isolated
# virtual environment (build/pyinstaller/venv), then run the frozen smoke test.
#   bash build/build_app.sh            # trimmed build (the spec's excludes)
#   FD_UNTRIMMED=1 bash build/build_app.sh   # no excludes, to measure what trimming saves
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash build/setup.sh            # system libraries (Qt runtime, Xvfb)
work=build/pyinstaller
python=python3.11
command -v "$python" >/dev/null || python=python3
[[ -x "$work/venv/bin/python" ]] || "$python" -m venv "$work/venv"
stamp="$work/venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  "$work/venv/bin/python" -m pip install -q --upgrade pip
  "$work/venv/bin/python" -m pip install -q ".[package]"
  rm -f "$work"/venv/.installed-*
  touch "$stamp"
fi
start=$(date +%s)
"$work/venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath dist --workpath "$work/work" fashion_desktop.spec
echo "build took $(( $(date +%s) - start )) s; bundle $(du -sh dist/fashion-desktop | cut -f1)"
"$work/venv/bin/python" build/smoke_test.py dist/fashion-desktop/fashion-desktop
