"""Fine-tuning the ResNet50 backbone and its classifier heads on a store's own catalogue.

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

import csv
import hashlib
import itertools
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fashion_desktop.core import training_defaults as defaults
from fashion_desktop.core.atomic import atomic_file, write_text_atomic
from fashion_desktop.core.catalogue import Catalogue, CatalogueItem, read_catalogue
from fashion_desktop.core.embedder import EMBEDDING_DIM, MODEL_DIR_WEIGHTS
from fashion_desktop.core.errors import FashionDesktopError, ModelError
from fashion_desktop.core.export import export_trained_model
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.imaging import (
    MODEL_INPUT_SIZE,
    PREPROCESSING_ID,
    decode_image,
    prepare_for_model,
    read_image_bytes,
)
from fashion_desktop.core.keras_backbone import weights_fingerprint
from fashion_desktop.core.photosim import simulate_photo

DEFAULT_LABELS = ("articleType", "baseColour", "gender")
OTHER_CLASS = "other"
BACKBONE_FILE = MODEL_DIR_WEIGHTS[0]  # "backbone.weights.h5": what Embedder.load(MODEL_DIR) reads
HEADS_FILE = "heads.npz"
REPORT_FILE = "training_report.json"
CURVES_FILE = "training_curves.png"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
MODEL_CHECKPOINT = "training.weights.h5"
BEST_CHECKPOINT = "best.weights.h5"
OPTIMIZER_CHECKPOINT = "optimizer.npz"
PROJECTION_OUTPUT = "projection"
INSTANCE_OUTPUT = "instance"
#: ResNet50 has five stages: conv1 (+pool1), conv2_x, conv3_x, conv4_x, conv5_x.
RESNET_STAGES = 5
DECODE_THREADS = 2


class TrainingError(FashionDesktopError):
    """The catalogue, labels or options cannot be trained on (the message says why)."""


class TrainingInterruptedError(FashionDesktopError):
    """Ctrl-C during training: a checkpoint was saved and the same command resumes."""


@dataclass
class TrainingConfig:
    """Everything that defines a training run (recorded in the report and the checkpoint)."""

    catalogue: str
    out: str
    init: str = "bundled"  # bundled | imagenet | random | PATH (weights file or model folder)
    labels: tuple[str, ...] = DEFAULT_LABELS
    split: str | None = None  # CSV id,split (train/val); else a deterministic hash split
    val_fraction: float = 0.1
    epochs: int = 5
    batch_size: int = defaults.BATCH_SIZE
    freeze_backbone: int = defaults.FROZEN_STAGES  # ResNet stages kept frozen (of 5)
    learning_rate: float = defaults.LEARNING_RATE
    min_class_count: int = 10  # rarer classes are merged into "other"
    class_weighting: str = "sqrt"  # none | sqrt | balanced
    patience: int = 2
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    augment: bool = True
    projection_dim: int = 0  # >0: a projection head trained with a supervised contrastive loss
    projection_weight: float = 0.5
    #: Photo-robust training: this share of each batch's items is shown twice, clean and as a
    #: simulated photo (heads learn both), and an instance-level contrastive term of this
    #: weight pulls the two views' embeddings together.
    photo_views: float = 0.0
    instance_weight: float = 0.5
    precision: str = "auto"  # auto (mixed_float16 on a GPU) | float32 | mixed
    seed: int = 0
    workers: int = 2

    def structure_key(self) -> dict:
        """What a checkpoint must share with this run for resuming to make sense."""
        return {
            "init": self.init,
            "labels": list(self.labels),
            "freeze_backbone": self.freeze_backbone,
            "projection_dim": self.projection_dim,
            "photo_robust": self.photo_views > 0,
            "min_class_count": self.min_class_count,
            "split": self.split,
            "val_fraction": self.val_fraction,
            "seed": self.seed,
        }


@dataclass
class LabelSpace:
    """One head's classes (sorted, ``other`` included if rare classes were merged)."""

    name: str
    classes: list[str]
    merged: list[str] = field(default_factory=list)

    def encode(self, value: str) -> int:
        """Class index of a raw label value; -1 when missing or unknown."""
        if not value:
            return -1
        try:
            return self.classes.index(value)
        except ValueError:
            return self.classes.index(OTHER_CLASS) if OTHER_CLASS in self.classes else -1


@dataclass
class TrainingData:
    """Items split into train/val with integer labels per head (-1 = missing)."""

    train: list[CatalogueItem]
    val: list[CatalogueItem]
    spaces: dict[str, LabelSpace]
    train_labels: dict[str, np.ndarray]
    val_labels: dict[str, np.ndarray]
    class_weights: dict[str, np.ndarray]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    left_out: int = 0  # items the split file does not assign to train or val


@dataclass
class TrainingProgress:
    """A progress snapshot: per batch during an epoch (``phase="train"``) and at epoch end."""

    phase: str  # "train" | "epoch-end"
    epoch: int  # 1-based
    epochs: int
    step: int
    steps: int
    loss: float
    accuracy: dict[str, float]
    images_per_second: float
    eta_s: float
    val_loss: float | None = None
    val_accuracy: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainingResult:
    model_dir: Path
    report: dict
    backbone: object = None  # the trained Keras backbone (in memory)
    heads: ClassifierHeads | None = None
    already_trained: bool = False


# --------------------------------------------------------------------------------- data
def read_split_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``id,split`` CSV → {id: "train" | "val" | other}."""
    path = Path(path).expanduser()
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"id", "split"} <= set(reader.fieldnames):
                raise TrainingError(f"Split file {path.name} needs the columns id,split.")
            return {row["id"].strip(): (row["split"] or "").strip().lower() for row in reader}
    except FileNotFoundError:
        raise TrainingError(f"Split file not found: {path}") from None
    except (OSError, csv.Error) as error:
        raise TrainingError(f"Cannot read split file {path}: {error}") from None


def hash_split(item_id: str, val_fraction: float, seed: int = 0) -> str:
    """A deterministic split that does not change when items are added or removed."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def check_labels(catalogue: Catalogue, labels: Sequence[str]) -> None:
    missing = [label for label in labels if label not in catalogue.fields]
    if missing:
        raise TrainingError(
            f"The catalogue {catalogue.csv_path.name} has no column {', '.join(missing)} to learn "
            f"from; its columns are: {', '.join(catalogue.fields)}. Choose --labels among them."
        )
    for label in labels:
        if not any(item.metadata.get(label, "") for item in catalogue.items):
            raise TrainingError(f"The label column '{label}' is empty for every item.")


def find_unreadable(items: Sequence[CatalogueItem]) -> list[tuple[str, str]]:
    """Items whose image cannot be decoded, as (path, reason): they are left out of training."""

    def check(item: CatalogueItem) -> tuple[str, str] | None:
        try:
            decode_image(read_image_bytes(item.image_path), item.image_path.name)
        except FashionDesktopError as error:
            return str(item.image_path), str(error)
        return None

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        return [problem for problem in pool.map(check, items) if problem is not None]


def build_label_space(name: str, values: Sequence[str], min_count: int) -> LabelSpace:
    """Sorted classes of ``values``; classes with fewer than ``min_count`` examples → other."""
    counts = Counter(v for v in values if v)
    kept = sorted(c for c, n in counts.items() if n >= min_count and c != OTHER_CLASS)
    merged = sorted(c for c, n in counts.items() if n < min_count and c != OTHER_CLASS)
    classes = kept + ([OTHER_CLASS] if merged or OTHER_CLASS in counts else [])
    classes.sort()
    if len(classes) < 2:
        only = classes[0] if classes else "none"
        raise TrainingError(
            f"The label '{name}' has a single class ('{only}') among the training items"
            + (f" once classes with fewer than {min_count} examples are merged" if merged else "")
            + "; a classifier needs at least two. Leave it out of --labels"
            + (" or lower --min-class-count." if merged else ".")
        )
    return LabelSpace(name, classes, merged)


def class_weight_vector(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray:
    """Per-class weights, normalised to a mean of 1 over the labelled training samples."""
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    if mode == "none":
        weights = np.ones(n_classes)
    elif mode in ("sqrt", "balanced"):
        total = counts.sum()
        weights = total / (n_classes * np.maximum(counts, 1.0))
        if mode == "sqrt":
            weights = np.sqrt(weights)
    else:
        raise TrainingError(f"Unknown class weighting '{mode}' (use none, sqrt or balanced).")
    mean = float((weights * counts).sum() / max(counts.sum(), 1.0))
    return (weights / mean).astype(np.float32)


def prepare_training_data(catalogue: Catalogue, config: TrainingConfig) -> TrainingData:
    """Check the labels, drop unreadable images, split, merge rare classes, weight classes."""
    check_labels(catalogue, config.labels)
    skipped = find_unreadable(catalogue.items)
    bad = {path for path, _ in skipped}
    items = [item for item in catalogue.items if str(item.image_path) not in bad]
    if not items:
        raise TrainingError(
            f"None of the {len(catalogue.items)} images of the catalogue could be read "
            f"(first: {skipped[0][1] if skipped else 'none'})."
        )
    if config.split:
        assignment = read_split_file(config.split)
        train = [i for i in items if assignment.get(i.item_id) == "train"]
        val = [i for i in items if assignment.get(i.item_id) == "val"]
    else:
        train, val = [], []
        for item in items:
            chosen = hash_split(item.item_id, config.val_fraction, config.seed)
            (val if chosen == "val" else train).append(item)
    left_out = len(items) - len(train) - len(val)
    if len(train) < 2:
        raise TrainingError(
            f"Only {len(train)} readable training item(s)"
            + (f" in the split file {config.split}" if config.split else "")
            + "; training needs more."
        )
    spaces = {
        name: build_label_space(
            name, [i.metadata.get(name, "") for i in train], config.min_class_count
        )
        for name in config.labels
    }

    def encode(subset: list[CatalogueItem]) -> dict[str, np.ndarray]:
        return {
            name: np.array([space.encode(i.metadata.get(name, "")) for i in subset], np.int32)
            for name, space in spaces.items()
        }

    train_labels, val_labels = encode(train), encode(val)
    weights = {
        name: class_weight_vector(train_labels[name], len(space.classes), config.class_weighting)
        for name, space in spaces.items()
    }
    return TrainingData(train, val, spaces, train_labels, val_labels, weights, skipped, left_out)


# -------------------------------------------------------------------------------- model
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


def configure_precision(precision: str) -> str:
    """Set the global dtype policy: mixed_float16 on a GPU with ``auto``; returns its name."""
    import keras

    if precision not in ("auto", "float32", "mixed"):
        raise TrainingError("--precision must be auto, float32 or mixed.")
    mixed = precision == "mixed" or (precision == "auto" and accelerator_present())
    policy = "mixed_float16" if mixed else "float32"
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


# ------------------------------------------------------------------------------ dataset
def _dataset_class():
    """``keras.utils.PyDataset`` over catalogue items, decoding with the project's imaging."""
    import keras

    class CatalogueDataset(keras.utils.PyDataset):
        def __init__(
            self,
            items: list[CatalogueItem],
            labels: dict[str, np.ndarray],
            class_weights: dict[str, np.ndarray] | None,
            batch_size: int,
            *,
            shuffle: bool,
            seed: int,
            epoch: int = 0,
            projection_label: str | None = None,
            photo_views: float = 0.0,
            instance_output: bool = False,
            workers: int = 1,
        ) -> None:
            super().__init__(workers=workers, use_multiprocessing=False)
            self.items = items
            self.labels = labels
            self.class_weights = class_weights
            self.batch_size = batch_size
            self.shuffle = shuffle
            self.seed = seed
            self.epoch = epoch
            self.projection_label = projection_label
            self.photo_views = photo_views
            self.instance_output = instance_output or photo_views > 0
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not self.shuffle:
                return np.arange(len(self.items))
            return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.items))

        def __len__(self) -> int:
            return math.ceil(len(self.items) / self.batch_size)

        def __getitem__(self, index: int):
            rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
            views = round(len(rows) * self.photo_views) if self.photo_views > 0 else 0
            count = len(rows) + views
            images = np.empty((count, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), np.uint8)
            readable = np.ones(len(rows), np.float32)
            rng = np.random.default_rng((self.seed, self.epoch, index))
            products = []
            for slot, row in enumerate(rows):
                item = self.items[row]
                try:
                    data = read_image_bytes(item.image_path)
                    product = decode_image(data, item.image_path.name)
                    images[slot] = prepare_for_model(product)
                except FashionDesktopError:  # vanished or changed since the check: weight 0
                    images[slot] = 255
                    readable[slot] = 0.0
                    product = None
                products.append(product)
            for view in range(views):  # the batch's first items again, photographed
                product = products[view]
                if product is None:
                    images[len(rows) + view] = 255
                    continue
                others = [p for p in products if p is not None and p is not product][:2]
                photo = simulate_photo(product.convert("RGB"), rng, distractors=others)
                images[len(rows) + view] = prepare_for_model(photo.image)
            paired = np.concatenate([np.arange(len(rows)), np.arange(views)])
            weight_of_view = readable[paired]
            targets, weights = {}, {}
            for name, labels in self.labels.items():
                y = labels[rows][paired]
                w = (y >= 0).astype(np.float32) * weight_of_view
                if self.class_weights is not None:
                    w *= self.class_weights[name][np.maximum(y, 0)]
                targets[name] = np.maximum(y, 0)
                weights[name] = w
            if self.projection_label is not None:
                y = self.labels[self.projection_label][rows][paired]
                targets[PROJECTION_OUTPUT] = np.where(weight_of_view > 0, y, -1).astype(np.int32)
                weights[PROJECTION_OUTPUT] = weight_of_view.copy()
            if self.instance_output:
                targets[INSTANCE_OUTPUT] = np.where(weight_of_view > 0, paired, -1).astype(np.int32)
                weights[INSTANCE_OUTPUT] = weight_of_view.copy()
            return images, targets, weights

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return CatalogueDataset


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


# ------------------------------------------------------------------------ checkpointing
def _sync_state(model) -> None:
    """On JAX, Keras keeps the live training state outside the variables until synced."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def save_optimizer_state(optimizer, path: Path) -> None:
    arrays = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
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
    predictions = {name: [] for name in data.spaces}
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


# ------------------------------------------------------------------------------- curves
def draw_training_curves(
    history: list[dict], heads: list[str], path: Path, *, axis: str = "epoch"
) -> None:
    """Loss and accuracy per ``axis`` (epoch or step; train solid, validation dashed; one colour
    per head)."""
    from PIL import Image, ImageDraw

    width, height, margin = 960, 400, 48
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    palette = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
    epochs = [entry[axis] for entry in history]
    panels = [
        ("loss", [("loss", "train"), ("val_loss", "val")]),
        (
            "accuracy",
            [(f"{h}_accuracy", f"{h} train") for h in heads]
            + [(f"val_{h}_accuracy", f"{h} val") for h in heads],
        ),
    ]
    panel_width = (width - margin) // 2
    for panel, (title, series) in enumerate(panels):
        left = margin + panel * panel_width
        right, top, bottom = left + panel_width - margin, margin, height - margin
        draw.rectangle((left, top, right, bottom), outline=(120, 120, 120))
        draw.text((left, 12), title, fill="black")
        values = [e[k] for e in history for k, _ in series if isinstance(e.get(k), float)]
        values = [v for v in values if math.isfinite(v)]
        if not values or not epochs:
            draw.text((left + 10, top + 10), "no data", fill="black")
            continue
        low, high = (0.0, 1.0) if title == "accuracy" else (min(values), max(values))
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        first, last = min(epochs), max(epochs)
        span = max(last - first, 1)

        def point(
            epoch: float,
            value: float,
            box=(left, top, right, bottom),
            scale=(first, span, low, high),
        ) -> tuple[float, float]:
            start, length, lo, hi = scale
            x = box[0] + 10 + (epoch - start) / length * (box[2] - box[0] - 20)
            y = box[3] - (value - lo) / (hi - lo) * (box[3] - box[1])
            return x, y

        draw.text((left + 4, top + 2), f"{high:.3g}", fill=(90, 90, 90))
        draw.text((left + 4, bottom - 14), f"{low:.3g}", fill=(90, 90, 90))
        draw.text((right - 80, bottom + 6), f"{axis} {first}-{last}", fill=(90, 90, 90))
        for number, (key, label) in enumerate(series):
            colour = palette[(number % max(len(series) // 2, 1)) % len(palette)]
            dashed = key.startswith("val_")
            points = [point(e[axis], e[key]) for e in history if isinstance(e.get(key), float)]
            if not points:
                continue
            for a, b in itertools.pairwise(points):
                _draw_line(draw, a, b, colour, dashed=dashed)
            for x, y in points:
                r = 2 if dashed else 3
                draw.ellipse(
                    (x - r, y - r, x + r, y + r), outline=colour, fill=None if dashed else colour
                )
            # Loss falls and accuracy rises: the legend goes where the curves are not.
            legend_top = top + 16 if title == "loss" else bottom - 8 - 14 * len(series)
            legend_y = legend_top + 14 * number
            sample = ((right - 124, legend_y + 6), (right - 104, legend_y + 6))
            _draw_line(draw, *sample, colour, dashed=dashed)
            draw.text((right - 100, legend_y), label, fill="black")
    with atomic_file(path, "wb") as handle:
        image.save(handle, format="PNG")


def _draw_line(draw, a: tuple[float, float], b: tuple[float, float], colour, *, dashed: bool):
    """A 2-px line from ``a`` to ``b``, in 5-px dashes for validation series."""
    if not dashed:
        draw.line((a, b), fill=colour, width=2)
        return
    length = math.dist(a, b)
    steps = max(int(length // 5), 1)
    for i in range(0, steps, 2):
        t0, t1 = i / steps, min((i + 1) / steps, 1.0)
        start = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
        end = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
        draw.line((start, end), fill=colour, width=2)
