"""``fashion-desktop train``: fine-tuning the ResNet50 backbone and its classifier heads on a
store's own catalogue (Keras ``fit``).

The trained network is the product's backbone (``embedder.build_resnet50``: ResNet50, no top,
global average pooling) plus one linear softmax head per label (article type, colour, gender,
...) on the raw 2048-d pooled embedding, so the heads export to :class:`ClassifierHeads` as they
are. The "more layers" of transfer learning are the unfrozen last ResNet stages plus the heads;
an optional projection head (``projection_dim``) adds a supervised contrastive retrieval signal
during training and is not exported. Batch normalisation stays in inference mode everywhere
(small batches would otherwise wreck the running statistics the embeddings depend on).

Images go through the project's exact preprocessing (:func:`imaging.prepare_for_model`, then the
caffe step inside the graph), with geometric augmentation only — flips, small rotations, zoom
(random crops) and translations on a white fill; never colour changes, because colour is a label.

Everything is Keras 3 and backend-agnostic: the same code runs on TensorFlow on a CPU and on JAX
(``KERAS_BACKEND=jax``) on a GPU, where mixed float16 precision is switched on. Keras is imported
inside functions only. Checkpoints (model weights ``.weights.h5``, optimizer state ``.npz``,
progress JSON; no pickle) live in ``MODEL_DIR/checkpoint/``: rerunning the same command resumes.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fashion_desktop.core.atomic import write_text_atomic
from fashion_desktop.core.catalogue import Catalogue, read_catalogue
from fashion_desktop.core.export import export_trained_model
from fashion_desktop.core.imaging import PREPROCESSING_ID
from fashion_desktop.core.keras_backbone import weights_fingerprint
from fashion_desktop.core.training.checkpoints import (
    _check_output_folder,
    _read_state,
    _sync_state,
    load_optimizer_state,
    save_optimizer_state,
)
from fashion_desktop.core.training.config import (
    BACKBONE_FILE,
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CURVES_FILE,
    HEADS_FILE,
    MODEL_CHECKPOINT,
    OPTIMIZER_CHECKPOINT,
    REPORT_FILE,
    RESNET_STAGES,
    STATE_FILE,
    LabelSpace,
    TrainingConfig,
    TrainingData,
    TrainingError,
    TrainingInterruptedError,
    TrainingProgress,
    TrainingResult,
)
from fashion_desktop.core.training.curves import draw_training_curves
from fashion_desktop.core.training.data import prepare_training_data
from fashion_desktop.core.training.dataset import _dataset_class
from fashion_desktop.core.training.model import (
    build_training_model,
    compile_training_model,
    configure_precision,
    device_description,
    export_heads,
    freeze_stages,
    initial_heads,
    load_initial_backbone,
    save_keras_weights,
    warm_start_heads,
)


# ---------------------------------------------------------------------------- callbacks
def _monitor_callback(
    *,
    model_dir: Path,
    state: dict,
    config: TrainingConfig,
    spaces: dict[str, LabelSpace],
    steps: int,
    progress: Callable[[TrainingProgress], None] | None,
    save_checkpoint: Callable[[], None],
):
    """Progress, per-epoch checkpoints, best weights and early stopping, in one callback."""
    import keras

    ckpt = model_dir / CHECKPOINT_DIR
    monitor = "val_loss" if state["has_validation"] else "loss"

    class TrainingMonitor(keras.callbacks.Callback):
        """Rates exclude the first step of an epoch (graph tracing and compilation)."""

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.epoch_started = time.perf_counter()
            self.first_step_end = self.last_step_end = self.epoch_started
            self.steps_done = 0
            self.epoch = epoch

        def rate_and_step_time(self) -> tuple[float, float]:
            if self.steps_done > 1:
                step_time = (self.last_step_end - self.first_step_end) / (self.steps_done - 1)
            else:
                step_time = self.last_step_end - self.epoch_started
            return config.batch_size / max(step_time, 1e-9), step_time

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.steps_done = done = batch + 1
            self.last_step_end = time.perf_counter()
            if done == 1:
                self.first_step_end = self.last_step_end
            if progress is None:
                return
            logs = logs or {}
            rate, step_time = self.rate_and_step_time()
            remaining_epochs = config.epochs - self.epoch - 1
            eta = step_time * (steps - done + remaining_epochs * steps)
            progress(
                TrainingProgress(
                    "train",
                    self.epoch + 1,
                    config.epochs,
                    done,
                    steps,
                    float(logs.get("loss", math.nan)),
                    {n: float(logs.get(f"{n}_accuracy", math.nan)) for n in spaces},
                    rate,
                    eta,
                )
            )

        def on_epoch_end(self, epoch, logs=None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            now = time.perf_counter()
            seconds = now - self.epoch_started
            entry = {"epoch": epoch + 1, "seconds": round(seconds, 2), **logs}
            entry["train_seconds"] = round(self.last_step_end - self.epoch_started, 2)
            entry["first_step_seconds"] = round(self.first_step_end - self.epoch_started, 2)
            entry["validation_seconds"] = round(now - self.last_step_end, 2)
            entry["images_per_second"] = round(self.rate_and_step_time()[0], 2)
            state["history"].append(entry)
            state["completed_epochs"] = epoch + 1
            value = logs.get(monitor, math.inf)
            if state["best"] is None or value < state["best"] - 1e-4:
                state["best"], state["best_epoch"], state["wait"] = value, epoch + 1, 0
                save_keras_weights(self.model, ckpt / BEST_CHECKPOINT)
            else:
                state["wait"] += 1
                if state["wait"] >= config.patience:
                    state["stopped_early"] = True
                    self.model.stop_training = True
            save_checkpoint()
            if progress is not None:
                progress(
                    TrainingProgress(
                        "epoch-end",
                        epoch + 1,
                        config.epochs,
                        steps,
                        steps,
                        logs.get("loss", math.nan),
                        {n: logs.get(f"{n}_accuracy", math.nan) for n in spaces},
                        entry["images_per_second"],
                        seconds * (config.epochs - epoch - 1),
                        logs.get("val_loss"),
                        {
                            n: logs[f"val_{n}_accuracy"]
                            for n in spaces
                            if f"val_{n}_accuracy" in logs
                        },
                    )
                )

    return TrainingMonitor()


# ------------------------------------------------------------------------------- train
def train(
    config: TrainingConfig,
    *,
    restart: bool = False,
    keep_checkpoint: bool = False,
    progress: Callable[[TrainingProgress], None] | None = None,
    notify: Callable[[str], None] | None = None,
    catalogue: Catalogue | None = None,
    extra_callbacks: Sequence = (),
) -> TrainingResult:
    """Fine-tune, export ``backbone.weights.h5`` + ``heads.npz`` + a report into ``config.out``.

    Rerunning with the same configuration resumes from ``out/checkpoint/``; Ctrl-C saves a
    checkpoint and raises :class:`TrainingInterruptedError`.
    """
    say = notify or (lambda message: None)
    if config.epochs < 1 or config.batch_size < 1:
        raise TrainingError("--epochs and --batch-size must be at least 1.")
    if not 0.0 <= config.val_fraction < 1.0:
        raise TrainingError("--val-fraction must lie in [0, 1).")
    out = Path(config.out).expanduser()
    state = _check_output_folder(out, restart)
    if state is not None:
        if state.get("structure") != config.structure_key():
            raise TrainingError(
                f"{out / CHECKPOINT_DIR} holds a run with other options "
                f"({json.dumps(state.get('structure'))}); rerun with those options to resume, or "
                "pass --restart to start again."
            )
        done = state["completed_epochs"] >= config.epochs or state.get("stopped_early")
        if state.get("finished") and done and (out / BACKBONE_FILE).is_file():
            report = _read_state(out / REPORT_FILE) or {}
            return TrainingResult(out, report, already_trained=True)
        if state.get("finished") and not (out / CHECKPOINT_DIR / MODEL_CHECKPOINT).is_file():
            raise TrainingError(
                f"{out} holds a finished run without its checkpoint; pass --restart to train "
                f"again, or --init {out} to continue from the trained model."
            )

    started = time.perf_counter()
    catalogue = catalogue if catalogue is not None else read_catalogue(config.catalogue)
    data = prepare_training_data(catalogue, config)
    if state is not None:  # the classes must be exactly those of the checkpoint
        saved = state.get("classes", {})
        current = {n: s.classes for n, s in data.spaces.items()}
        if saved != current:
            raise TrainingError(
                "The catalogue's classes changed since the checkpoint was written; pass "
                "--restart to train again on the current catalogue."
            )
    say(
        f"{len(data.train):,} training and {len(data.val):,} validation items"
        + (f"; {len(data.skipped)} unreadable images left out" if data.skipped else "")
        + (f"; {data.left_out:,} items not in the split" if data.left_out else "")
        + ". Classes: "
        + ", ".join(
            f"{n} {len(s.classes)}" + (f" ({len(s.merged)} merged into other)" if s.merged else "")
            for n, s in data.spaces.items()
        )
    )

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    previous_policy = keras.mixed_precision.global_policy().name
    policy = configure_precision(config.precision)
    try:
        return _train_with_keras(
            config, data, out, state, policy, started, keep_checkpoint, progress, say,
            extra_callbacks,
        )  # fmt: skip
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train_with_keras(
    config: TrainingConfig,
    data: TrainingData,
    out: Path,
    state: dict | None,
    policy: str,
    started: float,
    keep_checkpoint: bool,
    progress: Callable[[TrainingProgress], None] | None,
    say: Callable[[str], None],
    extra_callbacks: Sequence,
) -> TrainingResult:
    import keras

    ckpt = out / CHECKPOINT_DIR
    backbone = load_initial_backbone(config.init, config.seed)
    initial_fingerprint = weights_fingerprint(backbone.get_weights())
    trainable_params = freeze_stages(backbone, config.freeze_backbone)
    keras.utils.set_random_seed(config.seed)
    model = build_training_model(backbone, data.spaces, config)
    compile_training_model(model, data.spaces, config)
    warm = warm_start_heads(model, data.spaces, initial_heads(config.init))
    resumed_from = 0
    if state is None:
        state = {
            "structure": config.structure_key(),
            "classes": {n: s.classes for n, s in data.spaces.items()},
            "completed_epochs": 0,
            "history": [],
            "best": None,
            "best_epoch": 0,
            "wait": 0,
            "stopped_early": False,
            "finished": False,
            "has_validation": bool(data.val),
            "initial_fingerprint": initial_fingerprint,
            "interruptions": 0,
        }
    else:
        model.optimizer.build(model.trainable_variables)  # so its state loads too, unwarned
        model.load_weights(str(ckpt / MODEL_CHECKPOINT))
        restored = load_optimizer_state(
            model.optimizer, model.trainable_variables, ckpt / OPTIMIZER_CHECKPOINT
        )
        resumed_from = state["completed_epochs"]
        state["finished"] = False
        say(
            f"Resuming from the checkpoint after epoch {resumed_from}"
            + ("" if restored else " (optimizer state restarted)")
            + "."
        )

    def save_checkpoint() -> None:
        _sync_state(model)
        save_keras_weights(model, ckpt / MODEL_CHECKPOINT)
        if model.optimizer.built:
            save_optimizer_state(model.optimizer, ckpt / OPTIMIZER_CHECKPOINT)
        write_text_atomic(ckpt / STATE_FILE, json.dumps(state, indent=1))

    dataset_class = _dataset_class()
    projection_label = config.labels[0] if config.projection_dim > 0 else None
    train_set = dataset_class(
        data.train,
        data.train_labels,
        data.class_weights,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        epoch=resumed_from,
        projection_label=projection_label,
        photo_views=config.photo_views,
        workers=config.workers,
    )
    val_set = (
        dataset_class(
            data.val,
            data.val_labels,
            None,
            config.batch_size,
            shuffle=False,
            seed=config.seed,
            projection_label=projection_label,
            instance_output=config.photo_views > 0,  # clean only: no pairs, a zero term
            workers=config.workers,
        )
        if data.val
        else None
    )
    steps = min(len(train_set), config.steps_per_epoch or len(train_set))
    monitor = _monitor_callback(
        model_dir=out,
        state=state,
        config=config,
        spaces=data.spaces,
        steps=steps,
        progress=progress,
        save_checkpoint=save_checkpoint,
    )
    say(
        f"Training {trainable_params:,} backbone parameters (ResNet stages "
        f"{config.freeze_backbone + 1}-{RESNET_STAGES}) and {len(data.spaces)} heads"
        + (f" ({warm} classes warm-started)" if warm else "")
        + f" on {device_description()}, {policy}."
    )
    fit_started = time.perf_counter()
    if not state["stopped_early"] and state["completed_epochs"] < config.epochs:
        ckpt.mkdir(parents=True, exist_ok=True)
        write_text_atomic(ckpt / STATE_FILE, json.dumps(state, indent=1))
        try:
            model.fit(
                train_set,
                validation_data=val_set,
                epochs=config.epochs,
                initial_epoch=state["completed_epochs"],
                steps_per_epoch=steps,
                validation_steps=config.validation_steps,
                callbacks=[monitor, *extra_callbacks],
                verbose=0,
            )
        except KeyboardInterrupt:
            state["interruptions"] += 1
            save_checkpoint()
            raise TrainingInterruptedError(
                f"Interrupted during epoch {state['completed_epochs'] + 1}/{config.epochs}; a "
                f"checkpoint is saved in {ckpt}. Run the same command again to resume."
            ) from None
    fit_seconds = time.perf_counter() - fit_started
    optimizer_steps = int(np.asarray(model.optimizer.iterations.numpy()))

    if (ckpt / BEST_CHECKPOINT).is_file():
        model.load_weights(str(ckpt / BEST_CHECKPOINT))
    heads = export_heads(model, data.spaces)
    save_keras_weights(backbone, out / BACKBONE_FILE)
    heads.save(out / HEADS_FILE)
    say(export_trained_model(out))
    metrics = validation_metrics(model, val_set, data, config) if val_set is not None else {}
    report = {
        "format": "fashion-desktop-training/1",
        "config": asdict(config),
        "preprocessing": PREPROCESSING_ID,
        "backend": keras.backend.backend(),
        "device": device_description(),
        "dtype_policy": policy,
        "data": {
            "train_items": len(data.train),
            "val_items": len(data.val),
            "unreadable": [{"image": p, "reason": r} for p, r in data.skipped],
            "not_in_split": data.left_out,
            "classes": {n: s.classes for n, s in data.spaces.items()},
            "merged_into_other": {n: s.merged for n, s in data.spaces.items()},
        },
        "trainable_backbone_parameters": trainable_params,
        "warm_started_classes": warm,
        "resumed_from_epoch": resumed_from,
        "interruptions": state["interruptions"],
        "epochs_completed": state["completed_epochs"],
        "stopped_early": state["stopped_early"],
        "best_epoch": state["best_epoch"],
        "history": state["history"],
        "validation": metrics,
        "initial_fingerprint": state["initial_fingerprint"],
        "fingerprint": weights_fingerprint(backbone.get_weights()),
        "optimizer_steps": optimizer_steps,
        "fit_seconds_this_run": round(fit_seconds, 1),
        "total_seconds_this_run": round(time.perf_counter() - started, 1),
    }
    write_text_atomic(out / REPORT_FILE, json.dumps(report, indent=1))
    draw_training_curves(state["history"], list(data.spaces), out / CURVES_FILE)
    state["finished"] = True
    if keep_checkpoint:
        write_text_atomic(ckpt / STATE_FILE, json.dumps(state, indent=1))
    else:
        for name in (MODEL_CHECKPOINT, BEST_CHECKPOINT, OPTIMIZER_CHECKPOINT):
            (ckpt / name).unlink(missing_ok=True)
        write_text_atomic(ckpt / STATE_FILE, json.dumps(state, indent=1))
    return TrainingResult(out, report, backbone, heads)


def validation_metrics(model, val_set, data: TrainingData, config: TrainingConfig) -> dict:
    """Accuracy, macro precision and macro recall per head on the validation items."""
    steps = config.validation_steps or len(val_set)
    predictions: dict[str, list[np.ndarray]] = {name: [] for name in data.spaces}
    for step in range(min(steps, len(val_set))):
        images, _, _ = val_set[step]
        outputs = model.predict_on_batch(images)
        for name in data.spaces:
            predictions[name].append(np.argmax(np.asarray(outputs[name]), axis=1))
    metrics = {}
    for name, space in data.spaces.items():
        predicted = np.concatenate(predictions[name]) if predictions[name] else np.empty(0, int)
        truth = data.val_labels[name][: len(predicted)]
        metrics[name] = classification_metrics(truth, predicted, len(space.classes))
    return metrics


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro precision/recall over the classes present (labels -1 ignored)."""
    keep = truth >= 0
    truth, predicted = truth[keep], predicted[keep]
    if not len(truth):
        return {"items": 0, "accuracy": None, "precision": None, "recall": None}
    precisions, recalls = [], []
    for cls in range(n_classes):
        true_pos = int(np.sum((predicted == cls) & (truth == cls)))
        if np.any(truth == cls):
            recalls.append(true_pos / int(np.sum(truth == cls)))
            predicted_count = int(np.sum(predicted == cls))
            precisions.append(true_pos / predicted_count if predicted_count else 0.0)
    return {
        "items": len(truth),
        "accuracy": round(float(np.mean(truth == predicted)), 4),
        "precision": round(float(np.mean(precisions)), 4),
        "recall": round(float(np.mean(recalls)), 4),
    }
