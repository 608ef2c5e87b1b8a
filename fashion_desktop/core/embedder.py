"""ResNet50 embeddings: which model to run, its identity, and batched inference on LiteRT.

Queries, index builds and evaluation run a converted ``.tflite`` model on LiteRT
(:mod:`fashion_desktop.core.runtime`); TensorFlow is never imported for them.

Weights are resolved in this order:

1. an explicit path (``--weights`` or ``FASHION_DESKTOP_WEIGHTS``): a ``.tflite`` model, a model
   folder (``model.tflite``, or the Keras weights ``train`` writes), a ``.npz`` bundle or a Keras
   ``.weights.h5`` file; ``imagenet`` and ``random`` are also accepted;
2. the bundled fashion model in ``resources/models/``;
3. Keras's ImageNet weights, if already in the Keras cache (``--weights imagenet`` may download).

Keras weights (everything but a ``.tflite``) are converted to LiteRT once, on demand, and cached
(:func:`fashion_desktop.core.export.converted_model`); that step needs TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.garment_colour import (
    COLOUR_HEAD,
    GARMENT_COLOUR_FILE,
    GarmentColourModel,
    MeasuredColours,
)
from fashion_desktop.core.heads import ClassifierHeads, Predictions
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE, PREPROCESSING_ID
from fashion_desktop.core.keras_backbone import IMAGENET_NOTOP_FILE, keras_cache_dir
from fashion_desktop.core.runtime import LiteRTNetwork
from fashion_desktop.resources import bundled_heads_path, bundled_model_path, bundled_weights_path

EMBEDDING_DIM = 2048
#: Images per LiteRT call when embedding many (index build, evaluation): 8 measured the best
#: throughput on 2 cores (37.8 img/s against 37.1 at 16 and 34.1 at 32; BENCHMARKS.md).
DEFAULT_BATCH_SIZE = 8
WEIGHTS_ENV = "FASHION_DESKTOP_WEIGHTS"
LITERT_SUFFIX = ".tflite"
#: Names of a model folder's files: the LiteRT model first (``model export``, ``train``), then
#: the Keras weights ``train`` writes (converted on demand).
MODEL_DIR_LITERT = "model.tflite"
MODEL_DIR_WEIGHTS = ("backbone.weights.h5", "backbone.f16.npz")
HEADS_FILE_NAMES = ("heads.npz", "fashion_heads.npz")
#: Runtime and precision an identity records: "litert-float32" or "litert-int8".
RUNTIME_FLOAT = "litert-float32"
RUNTIME_INT8 = "litert-int8"


@dataclass(frozen=True)
class ModelIdentity:
    """What an index records about the model that built it.

    ``fingerprint`` is the SHA-256 of the Keras weights rounded to float16, so the original
    float32 file, the compact float16 bundle and a float32 LiteRT export whose embeddings agree
    with it (cosine ≥ 0.9999, checked at export) share one identity. An int8 model has its own.
    """

    fingerprint: str
    source: str
    preprocessing: str = PREPROCESSING_ID
    runtime: str = RUNTIME_FLOAT

    def to_json(self) -> dict[str, str]:
        return {
            "fingerprint": self.fingerprint,
            "source": self.source,
            "preprocessing": self.preprocessing,
            "runtime": self.runtime,
        }

    @classmethod
    def from_json(cls, data: dict) -> ModelIdentity:
        return cls(
            str(data["fingerprint"]),
            str(data["source"]),
            str(data.get("preprocessing", PREPROCESSING_ID)),
            str(data.get("runtime", RUNTIME_FLOAT)),
        )


@dataclass(frozen=True)
class WeightsChoice:
    kind: str  # "litert" | "file" (Keras weights) | "imagenet" | "random"
    path: Path | None
    heads: Path | None
    allow_download: bool = False


def resolve_weights(
    explicit: str | os.PathLike[str] | None = None, *, keras: bool = False
) -> WeightsChoice:
    """Decide which model to load, without importing TensorFlow or LiteRT.

    ``keras=True`` asks for Keras weights (training, export): a model folder's Keras weights
    rather than its ``model.tflite``, and the bundled model's float16 Keras bundle.
    """
    requested = explicit if explicit is not None else os.environ.get(WEIGHTS_ENV) or None
    if requested is not None:
        text = str(requested)
        if text.lower() == "imagenet":
            return WeightsChoice("imagenet", None, None, allow_download=True)
        if text.lower() == "random":
            return WeightsChoice("random", None, None)
        path = Path(text).expanduser()
        if path.is_dir():
            names = MODEL_DIR_WEIGHTS if keras else (MODEL_DIR_LITERT, *MODEL_DIR_WEIGHTS)
            found = next((path / n for n in names if (path / n).is_file()), None)
            if found is None:
                raise ModelError(
                    f"{path} is a folder without a model (expected {', '.join(names[:-1])} or "
                    f"{names[-1]})."
                )
            path = found
        elif not path.is_file():
            raise ModelError(f"Model weights not found: {path}")
        kind = "litert" if path.suffix == LITERT_SUFFIX else "file"
        return WeightsChoice(kind, path, _heads_beside(path))
    bundled = bundled_weights_path() if keras else bundled_model_path()
    if bundled.is_file():
        heads = bundled_heads_path()
        kind = "file" if keras else "litert"
        return WeightsChoice(kind, bundled, heads if heads.is_file() else None)
    cached = keras_cache_dir() / IMAGENET_NOTOP_FILE
    if cached.is_file():
        return WeightsChoice("imagenet", cached, None)
    raise ModelError(
        "No model available. Options: pass --weights PATH (a .tflite model, a model folder, a "
        f".weights.h5 file or a .npz bundle), set {WEIGHTS_ENV}, reinstall Fashion Desktop to "
        f"restore the bundled model ({bundled}), or use --weights imagenet to download Keras's "
        "ImageNet weights (needs a network connection once)."
    )


def _heads_beside(weights: Path) -> Path | None:
    return next(
        (weights.parent / n for n in HEADS_FILE_NAMES if (weights.parent / n).is_file()), None
    )


def identity_file(model: Path) -> Path:
    """Where a ``.tflite`` model's identity is kept: ``NAME.json`` beside ``NAME.tflite``."""
    return model.with_suffix(".json")


def read_identity(model: Path) -> ModelIdentity:
    """The identity recorded beside a ``.tflite`` model at export; without one, its own hash."""
    record = identity_file(model)
    if record.is_file():
        try:
            return ModelIdentity.from_json(json.loads(record.read_text("utf-8"))["identity"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelError(f"Cannot read the model identity {record.name}: {error}") from None
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    return ModelIdentity(f"tflite-sha256:{digest}", model.name)


class Embedder:
    """Turns prepared (224, 224, 3) uint8 images into raw 2048-d ResNet50 embeddings."""

    def __init__(
        self,
        network: LiteRTNetwork,
        identity: ModelIdentity,
        heads: ClassifierHeads | None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        garment_colour: GarmentColourModel | None = None,
    ) -> None:
        self.network = network
        self.identity = identity
        self.heads = heads
        self.batch_size = batch_size
        #: The garment-pixel colour model beside the heads (photos' colour), if the model has one.
        self.garment_colour = (
            garment_colour if heads is not None and COLOUR_HEAD in heads.heads else None
        )

    @classmethod
    def load(
        cls,
        weights: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        warm: bool = True,
    ) -> Embedder:
        """Resolve and load the model (converting Keras weights once; run it off the UI thread)."""
        choice = resolve_weights(weights)
        if choice.kind != "litert":
            from fashion_desktop.core.export import converted_model

            choice = converted_model(choice)
        assert choice.path is not None
        network = LiteRTNetwork(choice.path)
        identity = read_identity(choice.path)
        heads = ClassifierHeads.load(choice.heads) if choice.heads else None
        if heads is not None:
            for head in heads.heads.values():
                if head.kernel.shape[0] != EMBEDDING_DIM:
                    raise ModelError(f"Classifier head '{head.name}' does not fit ResNet50.")
        colour_file = choice.heads.parent / GARMENT_COLOUR_FILE if choice.heads else None
        garment_colour = (
            GarmentColourModel.load(colour_file)
            if colour_file is not None and colour_file.is_file()
            else None
        )
        embedder = cls(network, identity, heads, batch_size, garment_colour)
        if warm:
            embedder.embed_one(np.full((MODEL_INPUT_SIZE,) * 2 + (3,), 255, np.uint8))
        return embedder

    def embed_one(self, image: np.ndarray) -> np.ndarray:
        """One prepared image → its raw (2048,) embedding, on the batch-1 interpreter."""
        return self.network.embed(image[np.newaxis])[0].astype(np.float32)

    def embed_with_feature_map(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One prepared image → raw (2048,) embedding and its (7, 7, 2048) last feature map."""
        return self.network.embed_with_feature_map(image)

    def embed_batch(self, images: np.ndarray) -> np.ndarray:
        """Prepared images (n, 224, 224, 3) → raw (n, 2048) embeddings, in fixed-size batches."""
        count = len(images)
        if count == 1:
            return self.embed_one(images[0])[np.newaxis]
        out = np.empty((count, EMBEDDING_DIM), np.float32)
        size = self.batch_size
        for start in range(0, count, size):
            chunk = images[start : start + size]
            if len(chunk) < size:  # pad so the interpreter's shape never changes
                pad = np.full((size - len(chunk), *chunk.shape[1:]), 255, np.uint8)
                chunk = np.concatenate([chunk, pad])
            out[start : start + size] = self.network.embed(chunk)[: count - start]
        return out

    def predict(
        self, raw_embedding: np.ndarray, colours: MeasuredColours | None = None
    ) -> Predictions | None:
        """The heads' top classes of one embedding, with its measured garment colour fused
        into the colour head's (a photo's)."""
        if self.heads is None:
            return None
        return self.heads.predict(raw_embedding, colours=colours)
