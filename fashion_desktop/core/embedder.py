"""ResNet50 embeddings: weights resolution, the compact bundle format and fast inference.

TensorFlow/Keras are imported only inside :meth:`Embedder.load` (about 5 s), never at module
level, so the window and the CLI's argument parsing stay instant.

Weights are resolved in this order:

1. an explicit path (``--weights`` or ``FASHION_DESKTOP_WEIGHTS``): a ``.npz`` bundle, a Keras
   ``.weights.h5`` file or a trained model folder; ``imagenet`` and ``random`` are also accepted;
2. the bundled fashion model in ``resources/models/``;
3. Keras's ImageNet weights, if already in the Keras cache (``--weights imagenet`` may download).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.heads import ClassifierHeads, Predictions
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE, PREPROCESSING_ID
from fashion_desktop.resources import bundled_heads_path, bundled_weights_path

EMBEDDING_DIM = 2048
DEFAULT_BATCH_SIZE = 16
WEIGHTS_ENV = "FASHION_DESKTOP_WEIGHTS"
IMAGENET_NOTOP_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
BUNDLE_FORMAT = "fashion-desktop-resnet50-f16/1"
#: Names of a trained model folder's files (written by ``fashion-desktop train``).
MODEL_DIR_WEIGHTS = ("backbone.weights.h5", "backbone.f16.npz")
HEADS_FILE_NAMES = ("heads.npz", "fashion_heads.npz")


@dataclass(frozen=True)
class ModelIdentity:
    """What an index records about the model that built it.

    ``fingerprint`` is the SHA-256 of all weights rounded to float16, so the original float32
    file and the compact float16 bundle of the same model share one identity.
    """

    fingerprint: str
    source: str
    preprocessing: str = PREPROCESSING_ID

    def to_json(self) -> dict[str, str]:
        return {
            "fingerprint": self.fingerprint,
            "source": self.source,
            "preprocessing": self.preprocessing,
        }


@dataclass(frozen=True)
class WeightsChoice:
    kind: str  # "file" | "imagenet" | "random"
    path: Path | None
    heads: Path | None
    allow_download: bool = False


def resolve_weights(explicit: str | os.PathLike[str] | None = None) -> WeightsChoice:
    """Decide which weights to load, without importing TensorFlow."""
    requested = explicit if explicit is not None else os.environ.get(WEIGHTS_ENV) or None
    if requested is not None:
        text = str(requested)
        if text.lower() == "imagenet":
            return WeightsChoice("imagenet", None, None, allow_download=True)
        if text.lower() == "random":
            return WeightsChoice("random", None, None)
        path = Path(text).expanduser()
        if path.is_dir():
            weights = next((path / n for n in MODEL_DIR_WEIGHTS if (path / n).is_file()), None)
            if weights is None:
                raise ModelError(
                    f"{path} is a folder without model weights (expected "
                    f"{' or '.join(MODEL_DIR_WEIGHTS)})."
                )
            path = weights
        elif not path.is_file():
            raise ModelError(f"Model weights not found: {path}")
        return WeightsChoice("file", path, _heads_beside(path))
    bundled = bundled_weights_path()
    if bundled.is_file():
        heads = bundled_heads_path()
        return WeightsChoice("file", bundled, heads if heads.is_file() else None)
    cached = _keras_cache_dir() / IMAGENET_NOTOP_FILE
    if cached.is_file():
        return WeightsChoice("imagenet", cached, None)
    raise ModelError(
        "No model weights available. Options: pass --weights PATH (a .weights.h5 file, a .npz "
        f"bundle or a trained model folder), set {WEIGHTS_ENV}, reinstall Fashion Desktop to "
        f"restore the bundled model ({bundled}), or use --weights imagenet to download Keras's "
        "ImageNet weights (needs a network connection once)."
    )


def _heads_beside(weights: Path) -> Path | None:
    return next(
        (weights.parent / n for n in HEADS_FILE_NAMES if (weights.parent / n).is_file()), None
    )


def _keras_cache_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(base) / "models"


def weights_fingerprint(weights: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array, dtype=np.float16).tobytes())
    return digest.hexdigest()


def save_weights_bundle(model_weights: list[np.ndarray], names: list[str], path: Path) -> None:
    """Write the compact float16 bundle (``np.load(..., allow_pickle=False)``-safe)."""
    from fashion_desktop.core.atomic import atomic_file

    arrays = {f"w{i:04d}": np.asarray(w, dtype=np.float16) for i, w in enumerate(model_weights)}
    arrays["names"] = np.array(names, dtype=str)
    arrays["format"] = np.array(BUNDLE_FORMAT)
    with atomic_file(path, "wb") as handle:
        np.savez(handle, **arrays)


def _read_weights_bundle(path: Path, expected_names: list[str]) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "format" not in archive.files or str(archive["format"]) != BUNDLE_FORMAT:
                raise ModelError(f"{path.name} is not a Fashion Desktop weights bundle.")
            names = [str(n) for n in archive["names"]]
            if names != expected_names:
                raise ModelError(f"{path.name} holds weights for a different network layout.")
            return [archive[f"w{i:04d}"].astype(np.float32) for i in range(len(names))]
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ModelError(f"Cannot read weights bundle {path.name}: {error}") from None


def build_resnet50(weights: str | None = None):
    """The backbone every part of the product uses: ResNet50, no top, global average pooling."""
    import keras

    return keras.applications.ResNet50(
        weights=weights,
        include_top=False,
        input_shape=(MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3),
        pooling="avg",
    )


class Embedder:
    """Turns prepared (224, 224, 3) uint8 images into raw 2048-d ResNet50 embeddings."""

    def __init__(
        self,
        model,
        identity: ModelIdentity,
        heads: ClassifierHeads | None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.model = model
        self.identity = identity
        self.heads = heads
        self.batch_size = batch_size
        self._forward_one = self._compile(1)
        self._forward_batch: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def load(
        cls,
        weights: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        warm: bool = True,
    ) -> Embedder:
        """Resolve, build and warm the model (the expensive part: run it off the UI thread)."""
        choice = resolve_weights(weights)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        if choice.kind == "random":
            keras.utils.set_random_seed(0)
            model = build_resnet50(None)
            source = "random-init(seed=0)"
        elif choice.kind == "imagenet":
            model = _build_imagenet(choice)
            source = "imagenet"
        else:
            assert choice.path is not None
            model = build_resnet50(None)
            _load_weights_file(model, choice.path)
            source = choice.path.name
        identity = ModelIdentity(weights_fingerprint(model.get_weights()), source)
        heads = ClassifierHeads.load(choice.heads) if choice.heads else None
        if heads is not None:
            for head in heads.heads.values():
                if head.kernel.shape[0] != EMBEDDING_DIM:
                    raise ModelError(f"Classifier head '{head.name}' does not fit ResNet50.")
        embedder = cls(model, identity, heads, batch_size)
        if warm:
            embedder.embed_one(np.full((MODEL_INPUT_SIZE,) * 2 + (3,), 255, np.uint8))
        return embedder

    def _compile(self, batch: int) -> Callable[[np.ndarray], np.ndarray]:
        """A fixed-shape compiled forward pass including the caffe preprocessing."""
        import keras

        preprocess = keras.applications.resnet50.preprocess_input
        model = self.model
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            spec = tf.TensorSpec((batch, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), tf.uint8)

            @tf.function(input_signature=[spec], autograph=False, reduce_retracing=False)
            def forward(images):
                return model(preprocess(tf.cast(images, tf.float32)), training=False)

            return lambda images: forward(images).numpy()

        def forward_other(images: np.ndarray) -> np.ndarray:
            batch_input = preprocess(images.astype(np.float32))
            return np.asarray(model.predict_on_batch(batch_input))

        return forward_other

    def embed_one(self, image: np.ndarray) -> np.ndarray:
        """One prepared image → its raw (2048,) embedding, via the warmed batch-1 function."""
        return self._forward_one(image[np.newaxis])[0].astype(np.float32)

    def embed_batch(self, images: np.ndarray) -> np.ndarray:
        """Prepared images (n, 224, 224, 3) → raw (n, 2048) embeddings, in fixed-size batches."""
        count = len(images)
        if count == 1:
            return self.embed_one(images[0])[np.newaxis]
        if self._forward_batch is None:
            self._forward_batch = self._compile(self.batch_size)
        out = np.empty((count, EMBEDDING_DIM), np.float32)
        size = self.batch_size
        for start in range(0, count, size):
            chunk = images[start : start + size]
            if len(chunk) < size:  # pad so the compiled shape never changes
                pad = np.full((size - len(chunk), *chunk.shape[1:]), 255, np.uint8)
                chunk = np.concatenate([chunk, pad])
            out[start : start + size] = self._forward_batch(chunk)[: count - start]
        return out

    def predict(self, raw_embedding: np.ndarray) -> Predictions | None:
        return self.heads.predict(raw_embedding) if self.heads else None


def _build_imagenet(choice: WeightsChoice):
    if choice.path is None and not choice.allow_download:
        raise ModelError("ImageNet weights are not in the Keras cache.")
    try:
        return build_resnet50("imagenet")
    except Exception as error:
        raise ModelError(
            "Could not load Keras's ImageNet weights (they are downloaded once and then cached "
            f"in {_keras_cache_dir()}; this machine seems to be offline): {error}"
        ) from None


def _load_weights_file(model, path: Path) -> None:
    names = [w.path for w in model.weights]
    if path.suffix == ".npz":
        model.set_weights(_read_weights_bundle(path, names))
        return
    try:
        model.load_weights(str(path))
    except Exception as error:
        raise ModelError(
            f"{path.name} does not contain ResNet50 (no top, average pooling) weights: {error}"
        ) from None
