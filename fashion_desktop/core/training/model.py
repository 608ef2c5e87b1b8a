"""The training network: ResNet stages to freeze, heads (and the optional projection), losses,
initial weights and warm-started heads, the exported heads, weights files, precision and device.

Keras is imported inside functions only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fashion_desktop.core.embedder import EMBEDDING_DIM
from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE
from fashion_desktop.core.training.config import (
    INSTANCE_OUTPUT,
    PROJECTION_OUTPUT,
    RESNET_STAGES,
    LabelSpace,
    TrainingConfig,
    TrainingError,
)


def _resnet_stage(layer_name: str) -> int:
    """1-5 for ResNet50's layers (conv1/pool1 → 1, convK_* → K); 0 for anything else."""
    if layer_name.startswith(("conv1_", "pool1_")):
        return 1
    if layer_name.startswith("conv") and layer_name[4:5].isdigit() and layer_name[5:6] == "_":
        return int(layer_name[4])
    return 0


def freeze_stages(backbone, frozen_stages: int) -> int:
    """Freeze the first ``frozen_stages`` ResNet stages and every BatchNorm; count trainables."""
    import keras

    if not 0 <= frozen_stages <= RESNET_STAGES:
        raise TrainingError(f"--freeze-backbone must be 0 to {RESNET_STAGES} (ResNet50 stages).")
    for layer in backbone.layers:
        stage = _resnet_stage(layer.name)
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not is_bn and stage > frozen_stages
    return sum(int(np.prod(v.shape)) for v in backbone.trainable_weights)


def _supervised_contrastive_loss(temperature: float = 0.1):
    """SupCon over the batch: items with the same label pull together (Khosla et al. 2020)."""
    from keras import ops

    def loss(y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        z = ops.cast(y_pred, "float32")
        n = ops.shape(z)[0]
        eye = ops.eye(n, dtype="float32")
        logits = ops.matmul(z, ops.transpose(z)) / temperature - 1e9 * eye
        log_prob = logits - ops.logsumexp(logits, axis=1, keepdims=True)
        valid = ops.cast(labels >= 0, "float32")
        same = ops.cast(ops.equal(labels[:, None], labels[None, :]), "float32")
        positives = same * (1.0 - eye) * valid[:, None] * valid[None, :]
        count = ops.sum(positives, axis=1)
        per_anchor = -ops.sum(positives * log_prob, axis=1) / ops.maximum(count, 1.0)
        return per_anchor * ops.cast(count > 0, "float32")

    return loss


def build_training_model(backbone, spaces: dict[str, LabelSpace], config: TrainingConfig):
    """uint8 images → augmentation → caffe preprocessing → backbone → heads (+ projection)."""
    import keras
    from keras import ops

    inputs = keras.Input((MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), dtype="uint8", name="image")
    x = ops.cast(inputs, "float32")
    if config.augment:
        white = {"fill_mode": "constant", "fill_value": 255.0, "dtype": "float32"}
        augment = keras.Sequential(
            [
                keras.layers.RandomFlip("horizontal", dtype="float32"),
                keras.layers.RandomRotation(0.03, **white),  # about ±11°
                keras.layers.RandomZoom((-0.15, 0.1), **white),  # crop in up to 15 %
                keras.layers.RandomTranslation(0.06, 0.06, **white),
            ],
            name="augment",
        )
        x = augment(x)
    x = keras.applications.resnet50.preprocess_input(x)
    embedding = backbone(x)
    outputs = {
        name: keras.layers.Dense(
            len(space.classes), activation="softmax", dtype="float32", name=name
        )(embedding)
        for name, space in spaces.items()
    }
    if config.projection_dim > 0:
        projected = keras.layers.Dense(config.projection_dim, dtype="float32", name="proj")(
            embedding
        )
        outputs[PROJECTION_OUTPUT] = keras.layers.UnitNormalization(
            dtype="float32", name=PROJECTION_OUTPUT
        )(projected)
    if config.photo_views > 0:  # the search's own space: the L2-normalised embedding
        outputs[INSTANCE_OUTPUT] = keras.layers.UnitNormalization(
            dtype="float32", name=INSTANCE_OUTPUT
        )(embedding)
    return keras.Model(inputs, outputs, name="fashion_training")


def compile_training_model(model, spaces: dict[str, LabelSpace], config: TrainingConfig) -> None:
    import keras

    losses: dict[str, object] = {name: "sparse_categorical_crossentropy" for name in spaces}
    weights = {name: 1.0 for name in spaces}
    metrics: dict[str, list] = {name: ["accuracy"] for name in spaces}
    if config.projection_dim > 0:
        losses[PROJECTION_OUTPUT] = _supervised_contrastive_loss()
        weights[PROJECTION_OUTPUT] = config.projection_weight
    if config.photo_views > 0:  # labels are item numbers: a clean and a photo view pair up
        losses[INSTANCE_OUTPUT] = _supervised_contrastive_loss()
        weights[INSTANCE_OUTPUT] = config.instance_weight
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=losses,
        loss_weights=weights,
        metrics=metrics,
    )


def initial_heads(init: str) -> ClassifierHeads | None:
    """The heads that come with the initial weights, used to start matching classes warm."""
    from fashion_desktop.core.embedder import resolve_weights
    from fashion_desktop.resources import bundled_heads_path

    if init == "bundled":
        path = bundled_heads_path()
        return ClassifierHeads.load(path) if path.is_file() else None
    if init in ("imagenet", "random"):
        return None
    choice = resolve_weights(init, keras=True)
    return ClassifierHeads.load(choice.heads) if choice.heads else None


def load_initial_backbone(init: str, seed: int):
    """Build the backbone with the ``--init`` weights: bundled, imagenet, random or a path."""
    import keras

    from fashion_desktop.core.embedder import resolve_weights
    from fashion_desktop.core.keras_backbone import (
        build_imagenet,
        build_resnet50,
        load_weights_file,
    )
    from fashion_desktop.resources import bundled_weights_path

    if init == "random":
        keras.utils.set_random_seed(seed)
        return build_resnet50(None)
    if init == "bundled":
        path = bundled_weights_path()
        if not path.is_file():
            raise ModelError(
                f"The bundled model is missing ({path}); use --init imagenet, random or a path."
            )
    else:
        choice = resolve_weights(init, keras=True)
        if choice.kind == "imagenet":
            return build_imagenet(choice.path, choice.allow_download)
        if choice.kind == "random":
            keras.utils.set_random_seed(seed)
            return build_resnet50(None)
        assert choice.path is not None
        path = choice.path
    if path.suffix == ".tflite":
        raise ModelError(
            f"{path.name} is a LiteRT model; training starts from Keras weights (a .weights.h5 "
            "file, a .npz bundle, a trained model folder, bundled, imagenet or random)."
        )
    backbone = build_resnet50(None)
    load_weights_file(backbone, path)
    return backbone


def warm_start_heads(model, spaces: dict[str, LabelSpace], heads: ClassifierHeads | None) -> int:
    """Copy the columns of classes the initial heads already know; returns how many."""
    if heads is None:
        return 0
    copied = 0
    for name, space in spaces.items():
        known = heads.heads.get(name)
        if known is None or known.kernel.shape[0] != EMBEDDING_DIM:
            continue
        layer = model.get_layer(name)
        kernel, bias = (np.array(w) for w in layer.get_weights())
        for column, cls in enumerate(space.classes):
            if cls in known.classes:
                source = known.classes.index(cls)
                kernel[:, column] = known.kernel[:, source]
                bias[column] = known.bias[source]
                copied += 1
        layer.set_weights([kernel, bias])
    return copied


def export_heads(model, spaces: dict[str, LabelSpace]) -> ClassifierHeads:
    heads = []
    for name, space in spaces.items():
        kernel, bias = model.get_layer(name).get_weights()
        heads.append(
            ClassifierHead(
                name,
                np.asarray(kernel, np.float32),
                np.asarray(bias, np.float32),
                tuple(space.classes),
            )
        )
    return ClassifierHeads(heads)


def save_keras_weights(model, path: Path) -> None:
    """``model.save_weights`` through a temporary name, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name[: -len('.weights.h5')]}.tmp.weights.h5")
    model.save_weights(str(tmp))
    os.replace(tmp, path)


def configure_precision(precision: str, mixed_policy: str = "mixed_float16") -> str:
    """Set the global dtype policy: ``mixed_policy`` on a GPU with ``auto`` (or with ``mixed``),
    float32 otherwise; returns its name."""
    import keras

    if precision not in ("auto", "float32", "mixed"):
        raise TrainingError("--precision must be auto, float32 or mixed.")
    mixed = precision == "mixed" or (precision == "auto" and accelerator_present())
    policy = mixed_policy if mixed else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def accelerator_present() -> bool:
    """Whether the active Keras backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:
        return False
    return False


def device_description() -> str:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return f"jax {jax.devices()[0].platform}: {jax.devices()[0].device_kind}"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return f"tensorflow {'gpu' if gpus else 'cpu'} ({os.cpu_count()} cores)"
    except Exception:
        pass
    return backend
