"""Constants, errors and the records a training run is described by: its configuration, each
head's label space, the prepared data, progress snapshots and the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_desktop.core import training_defaults as defaults
from fashion_desktop.core.catalogue import CatalogueItem
from fashion_desktop.core.embedder import MODEL_DIR_WEIGHTS
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.heads import OTHER_CLASS, ClassifierHeads

DEFAULT_LABELS = ("articleType", "baseColour", "gender")
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
