"""The mixed trainer's inputs: catalogue items and labelled real photos decoded once, their
labels (partial article-type labels for photos), and the augmentation and caffe step that run
on the accelerator.

JAX is imported inside functions only.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from fashion_desktop.core.catalogue import Catalogue, read_catalogue
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE, load_model_input
from fashion_desktop.core.training.config import DEFAULT_LABELS, OTHER_CLASS

TYPE_HEAD = "articleType"
#: The heads the mixed trainer fine-tunes: those the catalogue trainer learns by default.
HEADS = DEFAULT_LABELS
#: Caffe preprocessing (keras.applications.resnet50.preprocess_input): BGR minus ImageNet means.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class PhotoTrainingError(FashionDesktopError):
    """Bad input for mixed catalogue + photo training."""


@dataclass
class DomainData:
    """Decoded images and integer labels of one domain (-1 where a label is missing)."""

    ids: list[str]
    images: np.ndarray  # (n, 224, 224, 3) uint8
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    allowed_types: np.ndarray | None = None  # (n, n_types) bool, photos only


# ------------------------------------------------------------------------------------ data
def decode_all(catalogue: Catalogue, threads: int = 16) -> tuple[list[str], np.ndarray]:
    """Every readable item through the product's exact preprocessing; unreadable ones dropped."""

    def load(item):
        try:
            return load_model_input(item.image_path)[0]
        except FashionDesktopError:
            return None

    with ThreadPoolExecutor(threads) as pool:
        pixels = list(pool.map(load, catalogue.items, chunksize=64))
    keep = [i for i, p in enumerate(pixels) if p is not None]
    ids = [catalogue.items[i].item_id for i in keep]
    images = np.stack([pixels[i] for i in keep]) if keep else np.empty((0, 224, 224, 3), np.uint8)
    return ids, images


def head_class_index(classes: Sequence[str], value: str) -> int:
    """A label's column in a head: the class itself, else ``other`` if the head has it, else -1."""
    if not value:
        return -1
    if value in classes:
        return classes.index(value)
    return classes.index(OTHER_CLASS) if OTHER_CLASS in classes else -1


def allowed_type_sets(
    photos: Catalogue, catalogue: Catalogue, type_classes: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each photo's partial label: the head's article types consistent with its labels.

    A photo labelled ``articleType`` allows that type; one with only ``subCategory`` (and
    ``masterCategory``) allows every type the catalogue files under them.
    """
    by_group: dict[tuple[str, str], set[int]] = {}
    for item in catalogue.items:
        meta = item.metadata
        column = head_class_index(type_classes, meta.get(TYPE_HEAD, ""))
        if column >= 0:
            key = (meta.get("masterCategory", ""), meta.get("subCategory", ""))
            by_group.setdefault(key, set()).add(column)
            by_group.setdefault(("", meta.get("subCategory", "")), set()).add(column)
            by_group.setdefault((meta.get("masterCategory", ""), ""), set()).add(column)
    sets: dict[str, np.ndarray] = {}
    for item in photos.items:
        meta = item.metadata
        mask = np.zeros(len(type_classes), bool)
        column = head_class_index(type_classes, meta.get(TYPE_HEAD, ""))
        if column >= 0:
            mask[column] = True
        else:
            key = (meta.get("masterCategory", ""), meta.get("subCategory", ""))
            for candidate in (key, ("", key[1]), (key[0], "")):
                if candidate != ("", "") and candidate in by_group:
                    mask[list(by_group[candidate])] = True
                    break
        if mask.any():
            sets[item.item_id] = mask
    return sets


def load_domains(
    catalogue_path: str | os.PathLike[str],
    photos_path: str | os.PathLike[str],
    heads: ClassifierHeads,
    *,
    split: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[DomainData, DomainData]:
    """Decode the catalogue's training items and the training photos, with their labels."""
    catalogue = read_catalogue(catalogue_path)
    photos = read_catalogue(photos_path)
    if "split" in photos.fields:
        photos = photos.subset(
            item.item_id for item in photos.items if item.metadata.get("split") == "train"
        )
    if split is not None:
        catalogue_train = catalogue.subset(i for i, s in split.items() if s == "train")
    else:
        catalogue_train = catalogue
    missing = [name for name in HEADS if name not in heads.heads]
    if missing:
        raise PhotoTrainingError(f"The initial heads lack {', '.join(missing)}.")
    type_classes = heads.heads[TYPE_HEAD].classes
    allowed = allowed_type_sets(photos, catalogue, type_classes)
    photos = photos.subset(allowed)
    if not photos.items:
        raise PhotoTrainingError(
            "No photo has a label that maps to the catalogue's article types "
            "(columns masterCategory, subCategory, articleType)."
        )
    started = time.perf_counter()
    cat_ids, cat_images = decode_all(catalogue_train)
    photo_ids, photo_images = decode_all(photos)
    if not cat_ids or not photo_ids:
        raise PhotoTrainingError(
            "Nothing to train on: no readable "
            + ("catalogue item of the split's train rows." if not cat_ids else "training photo.")
        )
    log(
        f"decoded {len(cat_ids):,} catalogue items and {len(photo_ids):,} photos in "
        f"{time.perf_counter() - started:.1f} s"
    )
    meta = {item.item_id: item.metadata for item in catalogue_train.items}
    labels = {
        name: np.array(
            [head_class_index(heads.heads[name].classes, meta[i].get(name, "")) for i in cat_ids],
            np.int32,
        )
        for name in HEADS
    }
    cat = DomainData(cat_ids, cat_images, labels)
    photo = DomainData(
        photo_ids, photo_images, allowed_types=np.stack([allowed[i] for i in photo_ids])
    )
    return cat, photo


# ---------------------------------------------------------------------------- augmentation
def _affine_sample(images, matrices, offsets, fill: float = 255.0):
    """Resample (B, S, S, 3) images: output point p in [-1, 1]² reads source ``A p + t``."""
    import jax
    import jax.numpy as jnp

    size = images.shape[1]
    grid = (jnp.arange(MODEL_INPUT_SIZE, dtype=jnp.float32) + 0.5) / MODEL_INPUT_SIZE * 2 - 1
    gy, gx = jnp.meshgrid(grid, grid, indexing="ij")
    points = jnp.stack([gx, gy], axis=-1)  # (H, W, 2) as (x, y)

    def one(image, matrix, offset):
        src = jnp.einsum("ij,hwj->hwi", matrix, points) + offset
        px = (src[..., 0] + 1) / 2 * size - 0.5
        py = (src[..., 1] + 1) / 2 * size - 0.5
        x0 = jnp.floor(px)
        y0 = jnp.floor(py)
        wx = px - x0
        wy = py - y0
        image = image.astype(jnp.float32)

        def tap(yy, xx):
            inside = (xx >= 0) & (xx <= size - 1) & (yy >= 0) & (yy <= size - 1)
            yi = jnp.clip(yy, 0, size - 1).astype(jnp.int32)
            xi = jnp.clip(xx, 0, size - 1).astype(jnp.int32)
            return jnp.where(inside[..., None], image[yi, xi], fill)

        top = tap(y0, x0) * (1 - wx)[..., None] + tap(y0, x0 + 1) * wx[..., None]
        bottom = tap(y0 + 1, x0) * (1 - wx)[..., None] + tap(y0 + 1, x0 + 1) * wx[..., None]
        return top * (1 - wy)[..., None] + bottom * wy[..., None]

    return jax.vmap(one)(images, matrices, offsets)


def _rotation(angle, sx, sy):
    import jax.numpy as jnp

    cos, sin = jnp.cos(angle), jnp.sin(angle)
    return jnp.stack(
        [jnp.stack([cos * sx, -sin * sy], -1), jnp.stack([sin * sx, cos * sy], -1)], -2
    )


def augment_catalogue(key, images):
    """Flip, ±11° rotation, ±15% zoom, ±6% shift, white fill (float32 0-255 out)."""
    import jax
    import jax.numpy as jnp

    n = images.shape[0]
    k1, k2, k3, k4 = jax.random.split(key, 4)
    flip = jnp.where(jax.random.bernoulli(k1, 0.5, (n,)), -1.0, 1.0)
    angle = jax.random.uniform(k2, (n,), minval=-0.19, maxval=0.19)
    zoom = jnp.exp(jax.random.uniform(k3, (n,), minval=math.log(0.87), maxval=math.log(1.15)))
    shift = jax.random.uniform(k4, (n, 2), minval=-0.12, maxval=0.12)
    matrices = _rotation(angle, flip / zoom, 1.0 / zoom)
    return _affine_sample(images, matrices, shift)


def augment_photos(key, images, low_resolution_share: float, low_resolution_side: int):
    """Random resized crop, flip, ±10° rotation, brightness/contrast, some at low resolution."""
    import jax
    import jax.numpy as jnp

    n = images.shape[0]
    keys = jax.random.split(key, 8)
    area = jax.random.uniform(keys[0], (n,), minval=0.35, maxval=1.0)
    ratio = jnp.exp(
        jax.random.uniform(keys[1], (n,), minval=math.log(3 / 4), maxval=math.log(4 / 3))
    )
    width = jnp.minimum(jnp.sqrt(area * ratio), 1.0)
    height = jnp.minimum(jnp.sqrt(area / ratio), 1.0)
    centre = jax.random.uniform(keys[2], (n, 2), minval=-1.0, maxval=1.0) * jnp.stack(
        [1 - width, 1 - height], -1
    )
    flip = jnp.where(jax.random.bernoulli(keys[3], 0.5, (n,)), -1.0, 1.0)
    angle = jax.random.uniform(keys[4], (n,), minval=-0.17, maxval=0.17)
    out = _affine_sample(images, _rotation(angle, flip * width, height), centre)
    brightness = jax.random.uniform(keys[5], (n, 1, 1, 1), minval=-20.0, maxval=20.0)
    contrast = jax.random.uniform(keys[6], (n, 1, 1, 1), minval=0.85, maxval=1.15)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = jnp.clip((out - mean) * contrast + mean + brightness, 0, 255)
    side = low_resolution_side
    small = jax.image.resize(out, (n, side, side, 3), "linear", antialias=True)
    coarse = jax.image.resize(small, out.shape, "linear")
    low = jax.random.bernoulli(keys[7], low_resolution_share, (n, 1, 1, 1))
    return jnp.where(low, jnp.round(coarse), out)


def caffe(images):
    """RGB 0-255 → the caffe input ResNet50's weights expect (BGR, ImageNet means removed)."""
    import jax.numpy as jnp

    bgr = images[..., ::-1]
    return bgr - jnp.asarray(CAFFE_MEAN_BGR, jnp.float32)
