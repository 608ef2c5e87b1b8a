"""The catalogue as training data: split file or hash split, label checks, unreadable images,
rare classes merged into ``other``, class weights.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from fashion_desktop.core.catalogue import Catalogue, CatalogueItem
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.imaging import decode_image, read_image_bytes
from fashion_desktop.core.training.config import (
    DECODE_THREADS,
    OTHER_CLASS,
    LabelSpace,
    TrainingConfig,
    TrainingData,
    TrainingError,
)


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
