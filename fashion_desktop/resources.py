"""Where Fashion Desktop finds its bundled files and keeps the user's own data.

One function, :func:`resource_path`, locates bundled resources both from a source checkout and
from a PyInstaller bundle, so no other module needs to know how the application was installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "Fashion Desktop"
APP_SLUG = "fashion-desktop"


def resources_root() -> Path:
    """The ``resources/`` folder: next to the package from source, inside the bundle when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """A path below ``resources/`` (it may not exist; callers report that in their own words)."""
    return resources_root().joinpath(*parts)


def bundled_model_path() -> Path:
    """The bundled fashion model as LiteRT runs it (what queries and index builds use)."""
    return resource_path("models", "resnet50_fashion.tflite")


def bundled_weights_path() -> Path:
    """The same model's Keras weights (float16 bundle): where training and export start from.
    Source installs only: the frozen application leaves them out."""
    return resource_path("models", "resnet50_fashion.f16.npz")


def bundled_heads_path() -> Path:
    return resource_path("models", "fashion_heads.npz")


def demo_index_path() -> Path:
    return resource_path("demo", "index")


def demo_catalogue_path() -> Path:
    return resource_path("demo", "catalog")


def user_data_dir() -> Path:
    """Per-user writable data (shortlists, PIN, caches): XDG on Linux, the usual places elsewhere.

    ``FASHION_DESKTOP_DATA_DIR`` overrides it (tests use this to stay out of the real home).
    """
    override = os.environ.get("FASHION_DESKTOP_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_SLUG


def user_cache_dir() -> Path:
    """Per-user files that can be made again (models converted from Keras weights)."""
    override = os.environ.get("FASHION_DESKTOP_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return user_data_dir() / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_SLUG
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / APP_SLUG
