"""The Keras ResNet50 backbone: building it, its weights files and its fingerprint.

Only training and the export to LiteRT (:mod:`fashion_desktop.core.export`) build the Keras
network; queries, index builds and evaluation run the exported ``.tflite`` model. Keras (and
TensorFlow behind it) is imported inside these functions, never at module level.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE

BUNDLE_FORMAT = "fashion-desktop-resnet50-f16/1"
IMAGENET_NOTOP_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
#: Last ResNet50 block: (7, 7, 2048) before global average pooling (localisation reads it).
FEATURE_LAYER = "conv5_block3_out"


def build_resnet50(weights: str | None = None):
    """The backbone every part of the product uses: ResNet50, no top, global average pooling."""
    import keras

    return keras.applications.ResNet50(
        weights=weights,
        include_top=False,
        input_shape=(MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3),
        pooling="avg",
    )


def keras_cache_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(base) / "models"


def weights_fingerprint(weights: list[np.ndarray]) -> str:
    """SHA-256 of all weights rounded to float16: a float32 file and its float16 bundle agree."""
    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array, dtype=np.float16).tobytes())
    return digest.hexdigest()


def save_weights_bundle(model_weights: list[np.ndarray], names: list[str], path: Path) -> None:
    """Write the compact float16 bundle (``np.load(..., allow_pickle=False)``-safe)."""
    from fashion_desktop.core.atomic import atomic_file

    arrays: dict[str, Any] = {
        f"w{i:04d}": np.asarray(w, dtype=np.float16) for i, w in enumerate(model_weights)
    }
    arrays["names"] = np.array(names, dtype=str)
    arrays["format"] = np.array(BUNDLE_FORMAT)
    with atomic_file(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_weights_bundle(path: Path, expected_names: list[str]) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "format" not in archive.files or str(archive["format"]) != BUNDLE_FORMAT:
                raise ModelError(f"{path.name} is not a Fashion Desktop weights bundle.")
            names = [str(n) for n in archive["names"]]
            if names != expected_names:
                raise ModelError(f"{path.name} holds weights for a different network layout.")
            return [archive[f"w{i:04d}"].astype(np.float32) for i in range(len(names))]
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ModelError(f"Cannot read weights bundle {path.name}: {error}") from None


def build_imagenet(cached_file: Path | None, allow_download: bool):
    """ResNet50 with Keras's ImageNet weights (downloaded once, only when the user asked)."""
    if cached_file is None and not allow_download:
        raise ModelError("ImageNet weights are not in the Keras cache.")
    try:
        return build_resnet50("imagenet")
    except Exception as error:
        raise ModelError(
            "Could not load Keras's ImageNet weights (they are downloaded once and then cached "
            f"in {keras_cache_dir()}; this machine seems to be offline): {error}"
        ) from None


def load_weights_file(model, path: Path) -> None:
    """Load a ``.npz`` bundle or a Keras ``.weights.h5`` file into ``model``."""
    names = [w.path for w in model.weights]
    if path.suffix == ".npz":
        model.set_weights(read_weights_bundle(path, names))
        return
    try:
        model.load_weights(str(path))
    except Exception as error:
        raise ModelError(
            f"{path.name} does not contain ResNet50 (no top, average pooling) weights: {error}"
        ) from None


def require_tensorflow() -> None:
    """A clear message where TensorFlow/Keras are not installed (the frozen app, a lean install)."""
    import importlib.util
    import sys

    if getattr(sys, "frozen", False):
        raise ModelError(
            "This is the installed application, which runs its models on LiteRT and carries no "
            "TensorFlow. Training and model export run from a Python install of Fashion Desktop: "
            "`pip install 'fashion-desktop[train]'`, then `fashion-desktop train ...` or "
            "`fashion-desktop model export WEIGHTS --out MODEL_DIR`; use MODEL_DIR here with "
            "--weights."
        )
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None:
        raise ModelError(
            "This needs TensorFlow and Keras, which this installation does not include (the "
            "application runs its models on LiteRT). Training and model export run from a Python "
            "install: `pip install 'fashion-desktop[train]'`, then `fashion-desktop model export "
            "WEIGHTS --out MODEL_DIR` and use MODEL_DIR with --weights."
        )
