"""Classifier heads over the pooled embedding: what the model thinks a query is.

``softmax(raw_embedding @ kernel + bias)`` per head (article type, colour, gender). Pure NumPy,
loaded with ``allow_pickle=False``: a heads file a user is handed cannot execute code.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.garment_colour import COLOUR_HEAD, MeasuredColours
from fashion_desktop.core.probability import softmax

#: The class rare labels are merged into when heads are trained (not a label to trust).
OTHER_CLASS = "other"

#: Predictions the user sees, as (class, probability), most likely first.
Predictions = dict[str, list[tuple[str, float]]]


@dataclass(frozen=True)
class ClassifierHead:
    name: str
    kernel: np.ndarray  # (embedding_dim, n_classes) float32
    bias: np.ndarray  # (n_classes,) float32
    classes: tuple[str, ...]


class ClassifierHeads:
    """A set of linear softmax heads keyed by the metadata field they predict."""

    def __init__(self, heads: list[ClassifierHead]) -> None:
        self.heads = {head.name: head for head in heads}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.heads)

    @classmethod
    def load(cls, path: str | Path) -> ClassifierHeads:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except FileNotFoundError:
            raise ModelError(f"Classifier heads not found: {path}") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ModelError(f"Cannot read classifier heads {path.name}: {error}") from None
        names = sorted({key.split("/", 1)[0] for key in arrays if "/" in key})
        heads = []
        for name in names:
            try:
                kernel = arrays[f"{name}/kernel"].astype(np.float32)
                bias = arrays[f"{name}/bias"].astype(np.float32)
                classes = tuple(str(c) for c in arrays[f"{name}/classes"])
            except KeyError as missing:
                raise ModelError(f"{path.name}: head '{name}' lacks {missing}.") from None
            if not (
                kernel.ndim == 2
                and bias.ndim == 1
                and kernel.shape[1] == bias.shape[0] == len(classes)
            ):
                raise ModelError(f"{path.name}: head '{name}' has inconsistent shapes.")
            heads.append(ClassifierHead(name, kernel, bias, classes))
        if not heads:
            raise ModelError(f"{path.name} contains no classifier heads.")
        return cls(heads)

    def save(self, path: str | Path) -> None:
        from fashion_desktop.core.atomic import atomic_file

        arrays: dict[str, Any] = {}  # np.savez's stubs reject ndarray kwargs
        for head in self.heads.values():
            arrays[f"{head.name}/kernel"] = head.kernel
            arrays[f"{head.name}/bias"] = head.bias
            arrays[f"{head.name}/classes"] = np.array(head.classes, dtype=str)
        with atomic_file(path, "wb") as handle:
            np.savez(handle, **arrays)

    def probabilities(
        self, raw_embeddings: np.ndarray, colours: MeasuredColours | None = None
    ) -> dict[str, np.ndarray]:
        """Per head, an (n, n_classes) array of class probabilities; with the queries' measured
        garment ``colours`` the colour head's rows are fused with them."""
        x = np.atleast_2d(np.asarray(raw_embeddings, dtype=np.float32))
        out = {}
        for name, head in self.heads.items():
            out[name] = softmax(x @ head.kernel + head.bias)
        if colours is not None and COLOUR_HEAD in self.heads:
            out = colours.fused(out, self.heads[COLOUR_HEAD].classes)
        return out

    def predict(
        self, raw_embedding: np.ndarray, top: int = 3, colours: MeasuredColours | None = None
    ) -> Predictions:
        """The ``top`` most likely classes of each head for one embedding."""
        result: Predictions = {}
        for name, probs in self.probabilities(raw_embedding, colours).items():
            order = np.argsort(probs[0])[::-1][:top]
            classes = self.heads[name].classes
            result[name] = [(classes[i], round(float(probs[0, i]), 4)) for i in order]
        return result
