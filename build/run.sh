#!/usr/bin/env bash
# Set everything up, then open Fashion Desktop on the bundled demo catalogue.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash build/setup.sh
if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "No display found: running the window on a virtual screen (Xvfb) is pointless, so here is a"
  echo "demo search in the terminal instead. On a desktop, this command opens the window."
  exec .venv/bin/fashion-desktop search resources/demo/catalog/images/"$(ls resources/demo/catalog/images | head -1)" "$@"
fi
exec .venv/bin/fashion-desktop "$@"
