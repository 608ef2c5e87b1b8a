#!/usr/bin/env bash
# Set up Fashion Desktop on a fresh Debian/Ubuntu machine, idempotently:
# the system libraries Qt and QtMultimedia need, a Python 3.11 virtual environment in .venv,
# and the application (with test tools when called with --dev).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

# Qt's xcb platform plugin, fonts, Xvfb for screenshots, and QtMultimedia: its FFmpeg backend
# ships in the wheel but links libpulse, libX11, libXext and libXrandr (checked with ldd); VA-API
# and PipeWire are loaded on demand (warnings without them); the GStreamer pair serves the
# optional QT_MEDIA_BACKEND=gstreamer. Webcams are read through V4L2 (kernel, no package).
system_packages=(
  libpulse0 libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libgstreamer1.0-0
  libgstreamer-plugins-base1.0-0 libx11-6 libxext6 libxrandr2 libva2 libva-drm2 libva-x11-2
  libpipewire-0.3-0 fonts-dejavu-core xvfb xauth
)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for package in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  if ((${#missing[@]})); then
    sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    echo "Installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  echo "Not a Debian-based system: install Qt 6's runtime libraries yourself (see README)." >&2
fi

python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python="$candidate"
    break
  fi
done
if [[ -z "$python" ]]; then
  echo "Fashion Desktop needs Python 3.11 (python3.11 not found)." >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv

# Reinstall only when the dependencies change.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-dev}"
if [[ ! -f "$stamp" ]]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
