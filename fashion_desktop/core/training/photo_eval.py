"""Measuring a mixed-trained model: photo and catalogue-style P@5 against the whole catalogue
(float32 arithmetic, float16-rounded weights as the bundle ships), and the type head on photos.

Keras and JAX are imported inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.training.photo_data import HEADS, TYPE_HEAD, DomainData, caffe, decode_all


def float32_twin(backbone):
    """A float32 copy of ``backbone`` with its weights rounded to float16, as the bundle ships."""
    import keras

    from fashion_desktop.core.keras_backbone import build_resnet50

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = build_resnet50(None)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    twin.set_weights([np.asarray(w, np.float16).astype(np.float32) for w in backbone.get_weights()])
    return twin


def embed_all(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Raw 2048-d embeddings of prepared uint8 images, float32 arithmetic throughout."""
    import jax
    import jax.numpy as jnp

    batch = max(1, min(batch, len(images)))  # a small set is not padded to a large batch
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def forward(x):
        with jax.default_matmul_precision("highest"):
            out, _ = model.stateless_call(trainable, frozen, caffe(x.astype(jnp.float32)))
        return out

    out = np.empty((len(images), 2048), np.float32)
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        size = len(chunk)
        if size < batch:
            chunk = np.concatenate(
                [chunk, np.full((batch - size, *chunk.shape[1:]), 255, np.uint8)]
            )
        out[start : start + size] = np.asarray(forward(chunk))[:size]
    return out


def low_resolution(images: np.ndarray, side: int) -> np.ndarray:
    """Photos downscaled to a catalogue-like ``side`` and back (query-time handling to measure)."""
    from PIL import Image

    out = np.empty_like(images)
    for i, image in enumerate(images):
        small = Image.fromarray(image).resize(
            (side, side), Image.Resampling.BILINEAR, reducing_gap=None
        )
        out[i] = np.asarray(small.resize(image.shape[:2][::-1], Image.Resampling.BILINEAR))
    return out


def precision_at_k(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_labels: dict[str, list[str]],
    gallery_labels: dict[str, list[str]],
    k: int = 5,
) -> dict[str, float]:
    """Mean share of the top-k (cosine) whose field equals the query's, per labelled field."""
    import jax
    import jax.numpy as jnp

    q = jnp.asarray(queries / np.linalg.norm(queries, axis=1, keepdims=True))
    g = jnp.asarray(gallery / np.linalg.norm(gallery, axis=1, keepdims=True))
    top_k = jax.jit(
        lambda block, gal: jax.lax.top_k(jnp.matmul(block, gal.T, precision="highest"), k)[1]
    )
    top = np.concatenate(
        [np.asarray(top_k(q[start : start + 1024], g)) for start in range(0, len(q), 1024)]
    )
    result = {}
    for name, values in query_labels.items():
        column = np.array(gallery_labels[name], dtype=object)
        hits = [float(np.mean(column[top[i]] == value)) for i, value in enumerate(values) if value]
        if hits:
            result[name] = round(float(np.mean(hits)), 4)
    return result


@dataclass
class EvaluationSet:
    """Held-out queries and the gallery they are searched against (whole catalogue)."""

    photo_images: np.ndarray
    photo_labels: dict[str, list[str]]
    val_ids: list[str]
    val_images: np.ndarray
    val_labels: dict[str, list[str]]
    train_labels: dict[str, list[str]]
    train_images: np.ndarray  # the training catalogue's decoded images (shared, not copied)


PHOTO_FIELDS = ("masterCategory", "subCategory", "articleType")


def load_evaluation_set(
    catalogue_path, photos_path, split: dict[str, str], cat: DomainData
) -> EvaluationSet:
    catalogue = read_catalogue(catalogue_path)
    meta = {item.item_id: item.metadata for item in catalogue.items}
    val_ids, val_images = decode_all(catalogue.subset(i for i, s in split.items() if s == "val"))
    photos = read_catalogue(photos_path)
    photos = photos.subset(
        item.item_id for item in photos.items if item.metadata.get("split") == "val"
    )
    photo_ids, photo_images = decode_all(photos)
    photo_meta = {item.item_id: item.metadata for item in photos.items}

    def fields(ids, source, names):
        return {name: [source[i].get(name, "") for i in ids] for name in names}

    gallery_fields = (*HEADS, *PHOTO_FIELDS[:2])
    return EvaluationSet(
        photo_images,
        fields(photo_ids, photo_meta, PHOTO_FIELDS),
        val_ids,
        val_images,
        fields(val_ids, meta, gallery_fields),
        fields(cat.ids, meta, gallery_fields),
        cat.images,
    )


def evaluate_model(
    backbone, heads: ClassifierHeads, data: EvaluationSet, low_side: int
) -> tuple[dict, np.ndarray]:
    """Photo and catalogue-style P@5 (cosine, whole catalogue as gallery), the type head on
    photos, and the whole catalogue's raw embeddings (training items, then ``val_ids``)."""
    twin = float32_twin(backbone)
    train = embed_all(twin, data.train_images)
    val = embed_all(twin, data.val_images)
    photos = embed_all(twin, data.photo_images)
    photos_low = embed_all(twin, low_resolution(data.photo_images, low_side))
    gallery = np.concatenate([train, val])
    gallery_labels = {
        name: data.train_labels[name] + data.val_labels[name] for name in data.train_labels
    }
    type_head = heads.heads[TYPE_HEAD]
    predicted = (photos @ type_head.kernel + type_head.bias).argmax(1)
    truth = data.photo_labels[TYPE_HEAD]
    labelled = [i for i, t in enumerate(truth) if t]
    metrics = {
        "photos": precision_at_k(photos, gallery, data.photo_labels, gallery_labels),
        "photos_low_resolution": precision_at_k(
            photos_low, gallery, data.photo_labels, gallery_labels
        ),
        "photo_type_top1": round(
            float(np.mean([type_head.classes[predicted[i]] == truth[i] for i in labelled])), 4
        ),
        "catalogue": precision_at_k(
            val, train, {n: data.val_labels[n] for n in HEADS}, data.train_labels
        ),
    }
    return metrics, gallery


def selection_score(metrics: dict) -> float:
    """Photos and catalogue weighed together, so neither is traded away silently."""
    photos, catalogue = metrics["photos"], metrics["catalogue"]
    return (
        photos.get("masterCategory", 0)
        + photos.get("subCategory", 0)
        + photos.get("articleType", 0)
        + catalogue.get("articleType", 0)
        + catalogue.get("baseColour", 0)
    )
