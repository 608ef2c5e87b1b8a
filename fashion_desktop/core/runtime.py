"""The network at query and build time: a converted ``.tflite`` ResNet50 run on LiteRT.

The application only ever runs one fixed forward pass, so it runs the converted model on LiteRT
(TensorFlow Lite's runtime: ~0.2 s to load, no TensorFlow). The graph takes uint8 images
(n, 224, 224, 3) prepared by :func:`fashion_desktop.core.imaging.prepare_for_model` and does the
caffe preprocessing itself; it has two outputs, the pooled 2048-d ``embedding`` and the last
``feature_map`` (7, 7, 2048) that garment localisation reads.

An interpreter has a fixed batch size and is not thread-safe: :class:`LiteRTNetwork` keeps one
per batch size, each behind its own lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE

EMBEDDING_OUTPUT = "embedding"
FEATURE_MAP_OUTPUT = "feature_map"
IMAGE_INPUT = "image"
#: Threads per interpreter: every core (measured on 2 cores: 2 threads 28 ms per image against
#: 44 ms with 1; BENCHMARKS.md), at most 8 (beyond that XNNPACK gains little on ResNet50).
MAX_THREADS = 8
THREADS_ENV = "FASHION_DESKTOP_THREADS"


def default_threads() -> int:
    override = os.environ.get(THREADS_ENV, "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[list[str]]:
    """Silence what native code prints on file descriptor 2 (LiteRT's "Created TensorFlow Lite
    XNNPACK delegate" line, TensorFlow's converter chatter) while the block runs.

    The captured lines are yielded so a caller can add them to an error message.
    """
    captured: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (a windowed frozen app): nothing to hide
        yield captured
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            captured.extend(line for line in text.splitlines() if line.strip())


@dataclass(frozen=True)
class _Slots:
    image: int
    embedding: int
    feature_map: int


class _Interpreter:
    """One LiteRT interpreter at one batch size, serialised by a lock."""

    def __init__(self, model: bytes, batch: int, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native_stderr() as native:
            try:
                interpreter = Interpreter(model_content=model, num_threads=threads)
                slots = _find_slots(interpreter)
                if batch != 1:
                    interpreter.resize_tensor_input(
                        slots.image, [batch, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3], strict=False
                    )
                interpreter.allocate_tensors()
            except ModelError:
                raise
            except (ValueError, RuntimeError) as error:
                detail = "; ".join(native[-3:])
                raise ModelError(
                    f"LiteRT cannot run this model: {error}{f' ({detail})' if detail else ''}"
                ) from None
        self.batch = batch
        self._interpreter = interpreter
        self._slots = slots
        self._lock = threading.Lock()

    def run(self, images: np.ndarray, feature_map: bool) -> tuple[np.ndarray, np.ndarray | None]:
        with self._lock:
            self._interpreter.set_tensor(self._slots.image, images)
            self._interpreter.invoke()
            embedding = self._interpreter.get_tensor(self._slots.embedding).copy()
            features = (
                self._interpreter.get_tensor(self._slots.feature_map).copy()
                if feature_map
                else None
            )
        return embedding, features


def _find_slots(interpreter) -> _Slots:
    """The tensor indices of the image input and the two outputs, by signature name."""
    try:
        signature = interpreter.get_signature_list()["serving_default"]
        runner_inputs = interpreter._get_full_signature_list()["serving_default"]
        inputs, outputs = runner_inputs["inputs"], runner_inputs["outputs"]
        if signature["inputs"] != [IMAGE_INPUT] or set(signature["outputs"]) != {
            EMBEDDING_OUTPUT,
            FEATURE_MAP_OUTPUT,
        }:
            raise KeyError
        return _Slots(inputs[IMAGE_INPUT], outputs[EMBEDDING_OUTPUT], outputs[FEATURE_MAP_OUTPUT])
    except (KeyError, AttributeError, TypeError):
        raise ModelError(
            "This .tflite file is not a Fashion Desktop model (expected a uint8 'image' input and "
            "'embedding' and 'feature_map' outputs; make one with `fashion-desktop model export`)."
        ) from None


class LiteRTNetwork:
    """A Fashion Desktop ``.tflite`` model: uint8 images → raw embeddings and feature maps."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        try:
            self._model = path.read_bytes()
        except OSError as error:
            raise ModelError(f"Cannot read the model {path}: {error.strerror}") from None
        self.path = path
        self.threads = threads or default_threads()
        self._interpreters: dict[int, _Interpreter] = {}
        self._create_lock = threading.Lock()
        self.interpreter(1)  # validates the file now, not at the first query

    def interpreter(self, batch: int) -> _Interpreter:
        with self._create_lock:
            if batch not in self._interpreters:
                self._interpreters[batch] = _Interpreter(self._model, batch, self.threads)
            return self._interpreters[batch]

    def embed(self, images: np.ndarray) -> np.ndarray:
        """(batch, 224, 224, 3) uint8 → (batch, 2048) raw embeddings (batch: a size in use)."""
        return self.interpreter(len(images)).run(_as_input(images), feature_map=False)[0]

    def embed_with_feature_map(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One (224, 224, 3) uint8 image → its raw (2048,) embedding and (7, 7, 2048) map."""
        embedding, features = self.interpreter(1).run(
            _as_input(image[np.newaxis]), feature_map=True
        )
        assert features is not None
        return embedding[0], features[0]


def _as_input(images: np.ndarray) -> np.ndarray:
    if images.dtype != np.uint8 or images.shape[1:] != (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3):
        raise ValueError(f"expected (n, 224, 224, 3) uint8 images, got {images.shape}")
    return np.ascontiguousarray(images)
