"""Exporting the Keras backbone to LiteRT: ``fashion-desktop model export`` and on-demand
conversion of Keras weights. The only module besides training that imports TensorFlow.

The exported graph takes uint8 images and does the caffe preprocessing itself, so the runtime
needs nothing but the prepared pixels (:mod:`fashion_desktop.core.runtime`). A float32 export
stores its weights in float16 (the bundle's own precision: the Keras model is already rounded to
float16, so nothing is lost) and shares its Keras original's identity only if their embeddings
agree, cosine ≥ :data:`IDENTITY_MIN_COSINE` on every probe image. An int8 export (full-integer,
per-channel weights, calibrated on catalogue shots and simulated photos, optionally keeping the
layers that lose most in float) gets an identity of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fashion_desktop.core.atomic import atomic_file, write_text_atomic
from fashion_desktop.core.embedder import (
    HEADS_FILE_NAMES,
    MODEL_DIR_LITERT,
    RUNTIME_FLOAT,
    RUNTIME_INT8,
    ModelIdentity,
    WeightsChoice,
    identity_file,
)
from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE
from fashion_desktop.core.keras_backbone import (
    FEATURE_LAYER,
    build_imagenet,
    build_resnet50,
    load_weights_file,
    require_tensorflow,
    weights_fingerprint,
)
from fashion_desktop.core.runtime import (
    EMBEDDING_OUTPUT,
    FEATURE_MAP_OUTPUT,
    IMAGE_INPUT,
    LiteRTNetwork,
    quiet_native_stderr,
)
from fashion_desktop.resources import user_cache_dir

IDENTITY_MIN_COSINE = 0.9999
#: Bumped when the exported graph changes, so cached conversions are made again.
EXPORT_FORMAT = "fashion-desktop-litert/1"
#: Calibration images for int8 when a catalogue is given (half shown as simulated photos).
DEFAULT_CALIBRATION_IMAGES = 300


@dataclass
class ExportReport:
    """What an export wrote and measured (also saved in ``NAME.json`` beside the model)."""

    identity: ModelIdentity
    model: Path
    precision: str
    size_bytes: int
    seconds: float
    agreement_min_cosine: float
    agreement_images: int
    float_layers: list[str] = field(default_factory=list)
    calibration_images: int = 0
    #: The Keras weights' fingerprint (an int8 identity differs from it; this ties the two).
    keras_fingerprint: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["identity"] = self.identity.to_json()
        data["model"] = self.model.name
        data["format"] = EXPORT_FORMAT
        return data


# ------------------------------------------------------------------------------ keras side
def load_keras_backbone(choice: WeightsChoice, seed: int = 0):
    """Build the Keras ResNet50 of a weights choice; returns (model, source description)."""
    require_tensorflow()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import keras

    if choice.kind == "litert":
        raise ModelError(
            f"{choice.path} is already a LiteRT model; export and training need Keras weights "
            "(a .weights.h5 file, a .npz bundle or a trained model folder)."
        )
    with quiet_native_stderr():
        if choice.kind == "random":
            keras.utils.set_random_seed(seed)
            return build_resnet50(None), f"random-init(seed={seed})"
        if choice.kind == "imagenet":
            return build_imagenet(choice.path, choice.allow_download), "imagenet"
        assert choice.path is not None
        model = build_resnet50(None)
        load_weights_file(model, choice.path)
        return model, choice.path.name


def _litert_graph(backbone):
    """uint8 images → caffe preprocessing → backbone → {embedding, feature_map}."""
    import keras

    features = keras.Model(backbone.inputs, backbone.get_layer(FEATURE_LAYER).output)
    image = keras.Input(
        (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), batch_size=1, dtype="uint8", name=IMAGE_INPUT
    )
    x = keras.applications.resnet50.preprocess_input(keras.ops.cast(image, "float32"))
    feature_map = features(x)
    embedding = keras.layers.GlobalAveragePooling2D()(feature_map)
    return keras.Model(image, {EMBEDDING_OUTPUT: embedding, FEATURE_MAP_OUTPUT: feature_map})


@contextlib.contextmanager
def _quiet_tensorflow() -> Iterator[list[str]]:
    """The converter prints pages of progress on stdout and stderr: keep them off the terminal."""
    with quiet_native_stderr() as native, contextlib.redirect_stdout(io.StringIO()):
        import absl.logging

        level = absl.logging.get_verbosity()
        absl.logging.set_verbosity(absl.logging.ERROR)
        try:
            yield native
        finally:
            absl.logging.set_verbosity(level)


def _converter(graph):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(graph)


def convert_float(graph) -> bytes:
    """float32 compute, weights stored as float16 (dequantised once when LiteRT loads them)."""
    import tensorflow as tf

    with _quiet_tensorflow() as native:
        converter = _converter(graph)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        try:
            return bytes(converter.convert())
        except Exception as error:
            raise ModelError(f"Converting to LiteRT failed: {error} {native[-3:]}") from None


def _int8_converter(graph, calibration: Sequence[np.ndarray]):
    """A converter set up for int8 (per-channel weights by default) and its calibration data."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [image[np.newaxis]]

    converter = _converter(graph)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    return converter, representative


def convert_int8(
    graph, calibration: Sequence[np.ndarray], float_layers: Sequence[str] = ()
) -> bytes:
    """Full-integer int8 with per-channel weights, calibrated on ``calibration`` images; the
    ``float_layers`` (node names from the quantisation debugger) stay in float."""
    import tensorflow as tf

    with _quiet_tensorflow() as native:
        converter, representative = _int8_converter(graph, calibration)
        try:
            if not float_layers:
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                return bytes(converter.convert())
            options = tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=list(float_layers)
            )
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=representative, debug_options=options
            )
            return bytes(debugger.get_nondebug_quantized_model())
        except Exception as error:
            raise ModelError(f"int8 conversion failed: {error} {native[-3:]}") from None


def most_sensitive_layers(graph, calibration: Sequence[np.ndarray], count: int) -> list[str]:
    """The ``count`` quantised layers whose int8 outputs differ most from float (RMSE relative
    to the quantisation step, LiteRT's quantisation debugger)."""
    import tensorflow as tf

    if count <= 0:
        return []
    with _quiet_tensorflow():
        converter, representative = _int8_converter(graph, calibration)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative
        )
        debugger.run()
        buffer = io.StringIO()
        debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    import csv

    rows = list(csv.DictReader(buffer))
    scored = []
    for row in rows:
        try:
            scale = float(row["scale"])
            rmse = float(row["mean_squared_error"]) ** 0.5
        except (KeyError, ValueError):
            continue
        if scale > 0:
            scored.append((rmse / scale, row["tensor_name"]))
    scored.sort(reverse=True)
    return [name for _, name in scored[:count]]


def calibration_images(
    catalogues: Sequence[Path], count: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0
) -> list[np.ndarray]:
    """Representative int8 calibration: ``count`` images drawn at random, evenly from each
    catalogue (e.g. the store's products and labelled real photos). Every other product shot is
    shown as a simulated photo, since real queries are both kinds."""
    from fashion_desktop.core.catalogue import read_catalogue
    from fashion_desktop.core.errors import ImageError
    from fashion_desktop.core.imaging import load_image, prepare_for_model
    from fashion_desktop.core.localise import looks_like_product_shot
    from fashion_desktop.core.photosim import simulate_photo

    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    for number, catalogue in enumerate(catalogues):
        items = read_catalogue(catalogue).items
        wanted = len(images) + (count - len(images)) // (len(catalogues) - number)
        for position in rng.permutation(len(items)):
            item = items[int(position)]
            try:
                picture = load_image(item.image_path).image
            except ImageError:
                continue
            if len(images) % 2 and looks_like_product_shot(picture):
                picture = simulate_photo(picture.convert("RGB"), rng).image
            images.append(prepare_for_model(picture))
            if len(images) >= wanted:
                break
    if not images:
        raise ModelError("No readable calibration images in " + ", ".join(map(str, catalogues)))
    return images


# ------------------------------------------------------------------------------- agreement
def probe_images(extra: Sequence[np.ndarray] = ()) -> list[np.ndarray]:
    """Deterministic images to compare a conversion with its original: smooth colour shapes on
    white (product-shot-like), textured noise (photo-like), plus any ``extra`` real images."""
    rng = np.random.default_rng(2024)
    size = MODEL_INPUT_SIZE
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for k in range(4):
        image = np.full((size, size, 3), 255, np.uint8)
        mask = ((xx - 0.5) ** 2 / (0.1 + 0.05 * k) + (yy - 0.5) ** 2 / 0.2) < 1
        colour = rng.integers(0, 255, 3)
        shade = (0.6 + 0.4 * yy[..., None]) * colour
        image[mask] = shade[mask].astype(np.uint8)
        images.append(image)
    for _ in range(4):
        noise = rng.normal(128, 60, (size // 8, size // 8, 3)).clip(0, 255)
        images.append(np.kron(noise, np.ones((8, 8, 1))).astype(np.uint8))
    return images + [np.asarray(i, np.uint8) for i in extra]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def keras_embeddings(backbone, images: Sequence[np.ndarray]) -> np.ndarray:
    import keras

    batch = keras.applications.resnet50.preprocess_input(np.stack(images).astype(np.float32))
    with quiet_native_stderr():
        return np.asarray(backbone.predict_on_batch(batch), np.float32)


def litert_embeddings(model: Path, images: Sequence[np.ndarray]) -> np.ndarray:
    network = LiteRTNetwork(model)
    return np.stack([network.embed(image[np.newaxis])[0] for image in images])


# ---------------------------------------------------------------------------------- export
def export_model(
    choice: WeightsChoice,
    out_dir: Path,
    *,
    int8: bool = False,
    calibration: Sequence[np.ndarray] = (),
    keep_float: int = 0,
    probes: Sequence[np.ndarray] = (),
    name: str = MODEL_DIR_LITERT,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Write ``out_dir/NAME.tflite``, its identity ``NAME.json`` and the heads beside it."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    say("building the Keras model")
    backbone, source = load_keras_backbone(choice)
    fingerprint = weights_fingerprint(backbone.get_weights())
    graph = _litert_graph(backbone)
    float_layers: list[str] = []
    if int8:
        if not calibration:
            raise ModelError("int8 export needs calibration images (--calibration CATALOG).")
        if keep_float:
            say(f"finding the {keep_float} layers int8 hurts most (quantisation debugger)")
            float_layers = most_sensitive_layers(graph, calibration, keep_float)
        say("converting to LiteRT int8")
        content = convert_int8(graph, calibration, float_layers)
    else:
        say("converting to LiteRT")
        content = convert_float(graph)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / name
    with atomic_file(model_path, "wb") as handle:
        handle.write(content)
    say("checking the conversion against Keras")
    images = probe_images(probes)
    cosine = float(
        _cosines(keras_embeddings(backbone, images), litert_embeddings(model_path, images)).min()
    )
    if int8:
        digest = hashlib.sha256(f"{fingerprint}:{RUNTIME_INT8}:".encode() + content).hexdigest()
        identity = ModelIdentity(f"int8:{digest}", f"{source} (int8)", runtime=RUNTIME_INT8)
    elif cosine >= IDENTITY_MIN_COSINE:
        identity = ModelIdentity(fingerprint, source, runtime=RUNTIME_FLOAT)
    else:
        model_path.unlink(missing_ok=True)
        raise ModelError(
            f"The LiteRT conversion of {source} disagrees with Keras (cosine {cosine:.5f} < "
            f"{IDENTITY_MIN_COSINE}); nothing was written."
        )
    _copy_heads(choice, out_dir)
    report = ExportReport(
        identity=identity,
        model=model_path,
        precision="int8" if int8 else "float32",
        size_bytes=len(content),
        seconds=round(time.perf_counter() - started, 1),
        agreement_min_cosine=round(cosine, 6),
        agreement_images=len(images),
        float_layers=float_layers,
        calibration_images=len(calibration),
        keras_fingerprint=fingerprint,
    )
    write_text_atomic(identity_file(model_path), json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _copy_heads(choice: WeightsChoice, out_dir: Path) -> None:
    if choice.heads is None or choice.heads.parent.resolve() == out_dir.resolve():
        return
    target = out_dir / HEADS_FILE_NAMES[0]
    if choice.heads.resolve() != target.resolve():
        with atomic_file(target, "wb") as handle, choice.heads.open("rb") as source:
            shutil.copyfileobj(source, handle)


# --------------------------------------------------------------------- on-demand conversion
def conversion_cache_dir() -> Path:
    return user_cache_dir() / "models"


def _cache_key(choice: WeightsChoice) -> str:
    digest = hashlib.sha256(EXPORT_FORMAT.encode())
    digest.update(choice.kind.encode())
    if choice.path is not None:
        with choice.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:24]


def converted_model(choice: WeightsChoice) -> WeightsChoice:
    """The LiteRT model of Keras weights: converted once (a minute), then read from the cache."""
    if choice.kind == "litert":
        return choice
    require_tensorflow()
    folder = conversion_cache_dir() / _cache_key(choice)
    model = folder / MODEL_DIR_LITERT
    if not (model.is_file() and identity_file(model).is_file()):
        export_model(choice, folder)
    heads = choice.heads
    return WeightsChoice("litert", model, heads)


# ------------------------------------------------------------------------- after training
def export_trained_model(model_dir: Path) -> str:
    """``train``'s last step: write ``MODEL_DIR/model.tflite`` from the Keras weights it saved.

    In this process when Keras runs on TensorFlow; after training on another backend (JAX on a
    GPU) in a child process on TensorFlow. Returns a line for the user: training has succeeded
    either way, and a failed export can be run again with ``model export``.
    """
    import importlib.util
    import subprocess
    import sys

    retry = f"`fashion-desktop model export {model_dir} --out {model_dir}`"
    if importlib.util.find_spec("tensorflow") is None:
        return f"TensorFlow is not installed, so no LiteRT model was exported; run {retry} later."
    import keras

    from fashion_desktop.core.embedder import resolve_weights

    if keras.backend.backend() == "tensorflow":
        try:
            report = export_model(resolve_weights(model_dir, keras=True), model_dir)
        except ModelError as error:
            return f"LiteRT export failed ({error}); run {retry} to try again."
        return (
            f"LiteRT model written: {report.model} (agreement with Keras: cosine "
            f"{report.agreement_min_cosine:.5f})."
        )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "fashion_desktop", "model", "export", str(model_dir)]
    completed = subprocess.run(
        [*command, "--out", str(model_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["no message"]
        return f"LiteRT export failed ({tail[0]}); run {retry} to try again."
    return completed.stdout.strip().splitlines()[-1]
