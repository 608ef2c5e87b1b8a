"""Resuming: the optimizer's state, the checkpoint's progress JSON and the checks that keep
``--out`` from clobbering a folder that is not a Fashion Desktop model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core.atomic import atomic_file
from fashion_desktop.core.embedder import MODEL_DIR_WEIGHTS
from fashion_desktop.core.training.config import (
    CHECKPOINT_DIR,
    HEADS_FILE,
    STATE_FILE,
    TrainingError,
)


def _sync_state(model) -> None:
    """On JAX, Keras keeps the live training state outside the variables until synced."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def save_optimizer_state(optimizer, path: Path) -> None:
    arrays: dict[str, Any] = {
        f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)
    }
    arrays["paths"] = np.array([v.path for v in optimizer.variables], dtype=str)
    with atomic_file(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_optimizer_state(optimizer, trainable_variables, path: Path) -> bool:
    """Restore Adam's moments and step count; False (fresh optimizer) if they do not fit."""
    if not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as archive:
        paths = [str(p) for p in archive["paths"]]
        values = [archive[f"v{i:04d}"] for i in range(len(paths))]
    if not optimizer.built:
        optimizer.build(trainable_variables)
    variables = optimizer.variables
    if [_unscoped(v.path) for v in variables] != [_unscoped(p) for p in paths] or any(
        tuple(v.shape) != a.shape for v, a in zip(variables, values, strict=True)
    ):
        return False
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return True


def _unscoped(path: str) -> str:
    """A variable path without the optimizer's own name (``adam_1/x`` → ``x``)."""
    return path.split("/", 1)[-1]


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return None


def _check_output_folder(out: Path, restart: bool) -> dict | None:
    """The checkpoint state to resume from, or None; refuses to clobber unrelated folders."""
    state = _read_state(out / CHECKPOINT_DIR / STATE_FILE)
    if restart:
        if out.exists() and state is None and not _looks_like_model_dir(out):
            raise TrainingError(
                f"{out} is not a Fashion Desktop model folder; choose another --out."
            )
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
        return None
    if state is not None:
        return state
    if out.exists() and any(out.iterdir()):
        if _looks_like_model_dir(out):
            raise TrainingError(
                f"{out} already holds a trained model; pass --restart to train it again from "
                "--init, or choose another --out."
            )
        raise TrainingError(
            f"{out} exists and is not a Fashion Desktop model folder; choose another --out so "
            "nothing there is overwritten."
        )
    return None


def _looks_like_model_dir(out: Path) -> bool:
    return out.is_dir() and any(
        (out / name).exists() for name in (*MODEL_DIR_WEIGHTS, HEADS_FILE, CHECKPOINT_DIR)
    )
