"""Resuming ``train --photos``: a run on a CPU lasts hours, over several sittings.

``MODEL_DIR/checkpoint/`` holds, while a run is unfinished:

* ``state.json``: the run's identity (options, data, starting weights); a checkpoint written with
  other options is refused rather than resumed silently (``--restart`` starts over);
* ``instance_bank.npz``: the simulated instance photos (minutes of CPU work, made once);
* ``alignment-<w>/``: one folder per alignment weight: ``progress.json`` (step, step budget,
  history, random states) with ``params.npz`` (backbone and heads, AdamW's moments) while it
  trains, then ``backbone.f16.npz``, ``heads.npz`` and ``result.json`` once it has finished;
* ``baseline.json``: the starting model's figures, measured once.

Every file is written atomically; ``progress.json`` is written last, so a checkpoint interrupted
half-way is the previous one. JAX is imported inside functions only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core.atomic import atomic_file
from fashion_desktop.core.training.checkpoints import _check_output_folder
from fashion_desktop.core.training.config import CHECKPOINT_DIR, STATE_FILE, TrainingError

FORMAT = "fashion-desktop-photo-checkpoint/1"
BANK_FILE = "instance_bank.npz"
PROGRESS_FILE = "progress.json"
PARAMS_FILE = "params.npz"
RESULT_FILE = "result.json"


def _write_json(path: Path, value: Any) -> None:
    with atomic_file(path, "w") as handle:
        handle.write(json.dumps(value, indent=1) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        raise TrainingError(
            f"{path} is unreadable; pass --restart to start the run over."
        ) from None


class PhotoRunCheckpoint:
    """The checkpoint folder of one ``train --photos`` run."""

    def __init__(self, out: Path, identity: dict, *, restart: bool) -> None:
        self.folder = out / CHECKPOINT_DIR
        state = _check_output_folder(out, restart)  # refuses to clobber a model or a stranger
        if state is not None:
            if state.get("format") != FORMAT:
                raise TrainingError(
                    f"{out} holds a checkpoint of `train` without --photos; pass --restart to "
                    "start a --photos run there, or choose another --out."
                )
            changed = sorted(
                key
                for key in set(identity) | set(state["identity"])
                if identity.get(key) != state["identity"].get(key)
            )
            if changed:
                raise TrainingError(
                    f"{out} holds an unfinished run with other options ({', '.join(changed)}); "
                    "run it with the options it was started with to resume, or pass --restart "
                    "to start over."
                )
        self.resuming = state is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_json(self.folder / STATE_FILE, {"format": FORMAT, "identity": identity})

    def read(self, name: str) -> Any:
        """A JSON record an earlier sitting of this run saved (None if there is none)."""
        return _read_json(self.folder / name)

    def write(self, name: str, value: Any) -> None:
        _write_json(self.folder / name, value)

    # ------------------------------------------------------------------ instance bank
    def load_bank(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The simulated photos made by an earlier sitting of this run (None: make them)."""
        path = self.folder / BANK_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as archive:
            if int(archive["count"]) != count or int(archive["seed"]) != seed:
                return None
            return archive["rows"], archive["images"]

    def save_bank(self, rows: np.ndarray, images: np.ndarray, seed: int) -> None:
        with atomic_file(self.folder / BANK_FILE, "wb") as handle:
            np.savez(handle, rows=rows, images=images, count=len(rows), seed=seed)

    # ------------------------------------------------------------------ variants
    def variant(self, alignment_weight: float) -> VariantCheckpoint:
        return VariantCheckpoint(self.folder / f"alignment-{alignment_weight:g}")


class VariantCheckpoint:
    """Progress of the model trained with one alignment weight."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.weights_path = folder / "backbone.f16.npz"
        self.heads_path = folder / "heads.npz"

    def progress(self) -> dict | None:
        """The saved progress of an unfinished run (with its arrays), or None."""
        progress = _read_json(self.folder / PROGRESS_FILE)
        return progress if progress is not None and (self.folder / PARAMS_FILE).is_file() else None

    def save(self, params: Any, opt_state: Any, progress: dict) -> None:
        """Params and optimizer state (any JAX pytrees), then the progress that points at them."""
        import jax

        leaves = jax.tree_util.tree_leaves((params, opt_state))
        arrays: dict[str, Any] = {f"a{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.folder / PARAMS_FILE, "wb") as handle:
            np.savez(handle, **arrays)
        _write_json(self.folder / PROGRESS_FILE, progress)

    def restore(self, params: Any, opt_state: Any) -> tuple[Any, Any]:
        """The saved arrays in the structure of freshly made ``params`` and ``opt_state``."""
        return self._restored((params, opt_state), whole=True)

    def restore_params(self, params: Any) -> Any:
        """Only the trained weights (the saved pytree's first part, without the optimizer's
        state), in the structure of freshly made ``params``: a look at an unfinished run."""
        return self._restored(params, whole=False)

    def _restored(self, template: Any, whole: bool) -> Any:
        import jax
        import jax.numpy as jnp

        leaves, treedef = jax.tree_util.tree_flatten(template)
        with np.load(self.folder / PARAMS_FILE, allow_pickle=False) as archive:
            count = len(archive.files) if whole else min(len(leaves), len(archive.files))
            saved = [archive[f"a{i:04d}"] for i in range(count)]
        if len(saved) != len(leaves) or any(
            np.shape(s) != np.shape(leaf) for s, leaf in zip(saved, leaves, strict=True)
        ):
            raise TrainingError(
                f"{self.folder} does not fit this model; pass --restart to start over."
            )
        restored = [
            jnp.asarray(s, dtype=jnp.asarray(leaf).dtype)
            for s, leaf in zip(saved, leaves, strict=True)
        ]
        return jax.tree_util.tree_unflatten(treedef, restored)

    def finished(self) -> dict | None:
        """The result of a variant that has finished training (its weights beside it)."""
        return _read_json(self.folder / RESULT_FILE)

    def finish(self, result: dict) -> None:
        """Mark the variant done (its weights saved first by the caller); drop its arrays."""
        _write_json(self.folder / RESULT_FILE, result)
        (self.folder / PARAMS_FILE).unlink(missing_ok=True)
        (self.folder / PROGRESS_FILE).unlink(missing_ok=True)
