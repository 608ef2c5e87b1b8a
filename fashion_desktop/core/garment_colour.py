"""The garment's colour measured on its own pixels: a second colour signal beside the model's head.

The colour head reads colour from the embedding, and on photos it confuses dark neighbours and
is pulled by the room (a purple T-shirt against a white wall read as white). This module looks at
the pixels instead: the garment's pixels (the localised box, without the colours of the photo's
border, weighted towards the box's centre) are counted over a codebook of CIELAB colours, and a
linear model maps that histogram to the catalogue's colour names. Codebook and model are learnt
from the catalogue's product shots and their ``baseColour`` labels (:func:`fit_colour_model`,
``build/train_colour_model.py``), never from photos, and stored as a plain ``.npz`` (no pickle).

For queries that are photos, the colour head's distribution is fused with the pixels'
(:func:`fuse_colour`, a weighted geometric mean) before the query's label signature is made and
its predicted colour is shown; the weight is recorded in the model file (chosen on synthetic photos
of catalogue items, BENCHMARKS.md). Product shots keep the head's colour.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_desktop.core.atomic import write_bytes_atomic
from fashion_desktop.core.colour import srgb_to_lab
from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.probability import softmax

#: The head whose predictions the garment's pixels inform.
COLOUR_HEAD = "baseColour"
#: The model's file, beside the classifier heads (``resources/models/``, a model folder).
GARMENT_COLOUR_FILE = "garment_colour.npz"

#: The longest side garment pixels are counted at (a few thousand pixels: ~1 ms an image).
PIXEL_SIDE = 64
#: Share of the image's border ring whose colours are taken for the background's.
BORDER_RING = 0.06
#: A pixel within this CIELAB distance of a frequent border colour counts this much.
BACKGROUND_DISTANCE = 12.0
BACKGROUND_WEIGHT = 0.15
#: A border colour cluster is the background's when it covers this share of the ring.
BACKGROUND_SHARE = 0.15
#: The centre prior: a Gaussian of this many box sides.
CENTRE_SIGMA = 0.35
#: Plain product-shot backgrounds (near white) are dropped outright.
WHITE_DISTANCE = 8.0


def _small_rgb(image: Image.Image, side: int) -> np.ndarray:
    rgb = image.convert("RGB")
    if max(rgb.size) > side:
        rgb = rgb.copy()
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of each point's nearest centre (squared Euclidean distance)."""
    distances = (points**2).sum(1, keepdims=True) - 2 * points @ centres.T
    distances += (centres**2).sum(1)
    return np.argmin(distances, axis=1)


def _lloyd(points: np.ndarray, centres: np.ndarray, rounds: int) -> np.ndarray:
    """``rounds`` of Lloyd's k-means from ``centres`` (not changed); an empty cluster keeps its
    centre."""
    centres = centres.copy()
    for _ in range(rounds):
        assignment = _nearest(points, centres)
        for c in range(len(centres)):
            members = points[assignment == c]
            if len(members):
                centres[c] = members.mean(axis=0)
    return centres


def _border_colours(lab: np.ndarray) -> np.ndarray:
    """The frequent colours of an image's border ring: (m, 3) CIELAB cluster centres."""
    height, width = lab.shape[:2]
    ring = max(1, round(BORDER_RING * min(height, width)))
    mask = np.zeros((height, width), dtype=bool)
    mask[:ring] = mask[-ring:] = True
    mask[:, :ring] = mask[:, -ring:] = True
    border = lab[mask]
    # a few rounds of k-means (k = 4) from evenly spaced starting pixels: cheap and seedless
    centres = _lloyd(border, border[np.linspace(0, len(border) - 1, 4).astype(int)], 5)
    shares = np.bincount(_nearest(border, centres), minlength=len(centres)) / len(border)
    return centres[shares >= BACKGROUND_SHARE]


def garment_pixels(
    image: Image.Image, box: CropBox | None = None, *, photo: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The garment's pixels as (n, 3) CIELAB colours and (n,) weights.

    A product shot (``photo`` false) keeps every pixel not of its plain near-white background. A
    photo keeps the pixels of ``box`` (the localised garment; the whole image without one),
    weighted towards the box's centre, with the colours that fill the photo's border (the wall,
    the bed, the floor) counted far less.
    """
    rgb = _small_rgb(image, PIXEL_SIDE * 2 if box is not None else PIXEL_SIDE)
    lab = srgb_to_lab(rgb)
    height, width = lab.shape[:2]
    if not photo:
        border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
        background = np.median(border, axis=0)
        keep = np.sqrt(((lab - background) ** 2).sum(-1)) > WHITE_DISTANCE
        pixels = lab[keep] if keep.sum() >= 16 else lab.reshape(-1, 3)
        return pixels, np.ones(len(pixels), dtype=np.float32)
    backgrounds = _border_colours(lab)
    left, top, right, bottom = (box or CropBox(0.0, 0.0, 1.0, 1.0)).to_pixels(width, height)
    region = lab[top:bottom, left:right]
    ys, xs = np.mgrid[0 : region.shape[0], 0 : region.shape[1]].astype(np.float32)
    dy = (ys + 0.5) / region.shape[0] - 0.5
    dx = (xs + 0.5) / region.shape[1] - 0.5
    weights = np.exp(-(dx**2 + dy**2) / (2 * CENTRE_SIGMA**2))
    if len(backgrounds):
        distance = np.sqrt(((region[..., None, :] - backgrounds) ** 2).sum(-1)).min(-1)
        weights = np.where(distance < BACKGROUND_DISTANCE, weights * BACKGROUND_WEIGHT, weights)
    return region.reshape(-1, 3), weights.reshape(-1).astype(np.float32)


@dataclass(frozen=True)
class GarmentColourModel:
    """Codebook of CIELAB colours and a linear model from a garment's histogram to colour names."""

    centres: np.ndarray  # (K, 3) CIELAB
    kernel: np.ndarray  # (K, C)
    bias: np.ndarray  # (C,)
    classes: tuple[str, ...]
    #: How much a photo's colour follows the pixels against the head (0: the head alone).
    photo_weight: float

    def histogram(self, pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted share of the pixels nearest each codebook colour, square-rooted (Hellinger)."""
        nearest = _nearest(pixels, self.centres)
        counts = np.bincount(nearest, weights=weights, minlength=len(self.centres))
        total = counts.sum()
        return np.sqrt(counts / total if total > 0 else counts).astype(np.float32)

    def probabilities_of_histograms(self, histograms: np.ndarray) -> np.ndarray:
        return softmax(np.atleast_2d(histograms) @ self.kernel + self.bias)

    def probabilities(
        self, image: Image.Image, box: CropBox | None = None, *, photo: bool = True
    ) -> np.ndarray:
        """(C,) probabilities of the garment's colour over :attr:`classes`."""
        pixels, weights = garment_pixels(image, box, photo=photo)
        return self.probabilities_of_histograms(self.histogram(pixels, weights)[None])[0]

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            centres=self.centres.astype(np.float32),
            kernel=self.kernel.astype(np.float32),
            bias=self.bias.astype(np.float32),
            classes=np.array(self.classes, dtype=str),
            photo_weight=np.float32(self.photo_weight),
        )
        write_bytes_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> GarmentColourModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                model = cls(
                    np.asarray(data["centres"], np.float32),
                    np.asarray(data["kernel"], np.float32),
                    np.asarray(data["bias"], np.float32),
                    tuple(str(c) for c in data["classes"]),
                    float(data["photo_weight"]),
                )
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise ModelError(f"The garment colour model {path} cannot be read ({error}).") from None
        k, c = model.kernel.shape
        if model.centres.shape != (k, 3) or model.bias.shape != (c,) or len(model.classes) != c:
            raise ModelError(f"The garment colour model {path} is inconsistent.")
        return model


def fuse_colour(
    head: np.ndarray,
    pixels: np.ndarray,
    weight: float,
    head_classes: Sequence[str],
    pixel_classes: Sequence[str],
) -> np.ndarray:
    """The head's colour distribution and the pixels', fused as a weighted geometric mean
    (a product of experts) over the head's classes; classes the pixel model lacks keep the
    head's share."""
    index = {name: n for n, name in enumerate(pixel_classes)}
    aligned = np.array([pixels[index[c]] if c in index else np.nan for c in head_classes])
    aligned = np.where(np.isnan(aligned), head, aligned)
    logs = (1 - weight) * np.log(np.maximum(head, 1e-8)) + weight * np.log(
        np.maximum(aligned, 1e-8)
    )
    return softmax(logs).astype(np.float32)


@dataclass(frozen=True)
class MeasuredColours:
    """Garment-pixel colour distributions of a batch of queries (None: not measured, e.g. a
    product shot, whose colour the head reads well) and the model that measured them."""

    model: GarmentColourModel
    rows: Sequence[np.ndarray | None]

    @classmethod
    def of(
        cls, model: GarmentColourModel | None, rows: Sequence[np.ndarray | None]
    ) -> MeasuredColours | None:
        """The measured colours of queries, or None when nothing was measured (no model, or
        no query a photo): the heads' colour stands."""
        if model is None or all(row is None for row in rows):
            return None
        return cls(model, rows)

    def fused(
        self, probabilities: dict[str, np.ndarray], head_classes: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """The heads' ``probabilities`` with the colour head's rows fused with the pixels'."""
        colour = probabilities.get(COLOUR_HEAD)
        if colour is None:
            return probabilities
        colour = colour.copy()
        for n, measured in enumerate(self.rows):
            if measured is not None:
                colour[n] = fuse_colour(
                    colour[n],
                    measured,
                    self.model.photo_weight,
                    head_classes,
                    self.model.classes,
                )
        return probabilities | {COLOUR_HEAD: colour}


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 25) -> np.ndarray:
    """Lloyd's k-means from a k-means++ start (seeded): (k, d) centres."""
    centres = [points[rng.integers(len(points))]]
    nearest = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        centres.append(points[rng.choice(len(points), p=nearest / nearest.sum())])
        nearest = np.minimum(nearest, ((points - centres[-1]) ** 2).sum(1))
    return _lloyd(points, np.stack(centres), rounds).astype(np.float32)


def _softmax_regression(
    features: np.ndarray, targets: np.ndarray, classes: int, l2: float, steps: int = 600
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch Adam: (d, classes) kernel and bias."""
    n, d = features.shape
    kernel = np.zeros((d, classes), np.float64)
    bias = np.zeros(classes, np.float64)
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), targets] = 1.0
    parameters = [kernel, bias]
    first = [np.zeros_like(kernel), np.zeros_like(bias)]
    second = [np.zeros_like(kernel), np.zeros_like(bias)]
    rate, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, steps + 1):
        error = (softmax(features @ kernel + bias) - onehot) / n
        gradients = (features.T @ error + l2 * kernel, error.sum(axis=0))
        for p, gradient in enumerate(gradients):
            first[p] = beta1 * first[p] + (1 - beta1) * gradient
            second[p] = beta2 * second[p] + (1 - beta2) * gradient * gradient
            corrected = first[p] / (1 - beta1**step)
            parameters[p] -= rate * corrected / (np.sqrt(second[p] / (1 - beta2**step)) + 1e-8)
    return kernel.astype(np.float32), bias.astype(np.float32)


def with_lighting_variation(
    garments: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[str],
    *,
    seed: int = 0,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    """The garments plus one copy of each under other light: lightness ×0.75–1.1 and a small
    colour cast (σ 2 in a*, b*), as photos are lit, with the same labels (the labels discount
    the light)."""
    rng = np.random.default_rng(seed)
    varied = []
    for pixels, weights in garments:
        changed = pixels.copy()
        changed[:, 0] *= rng.uniform(0.75, 1.1)
        changed[:, 1:] += rng.normal(0.0, 2.0, 2)
        varied.append((changed, weights))
    return [*garments, *varied], [*labels, *labels]


def fit_colour_model(
    garments: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    codebook_size: int = 128,
    photo_weight: float = 0.5,
    l2: float = 1e-3,
    seed: int = 0,
) -> GarmentColourModel:
    """Learn the codebook (k-means of the pixels) and the linear model (multinomial logistic
    regression of the histograms) from garments' ``(pixels, weights)`` and their colour names.

    ``classes`` are the colour head's classes: a label outside them counts as ``other`` when the
    head has that class and is left out otherwise. Classes without a training garment get a
    large negative bias (never predicted).
    """
    classes = list(classes)
    fallback = "other" if "other" in classes else None
    targets = [label if label in classes else fallback for label in labels]
    rows = [n for n, target in enumerate(targets) if target is not None]
    rng = np.random.default_rng(seed)
    sample = np.concatenate(
        [
            garments[n][0][rng.choice(len(garments[n][0]), min(len(garments[n][0]), 16))]
            for n in rows
        ]
    )
    sample = sample[rng.choice(len(sample), min(len(sample), 100_000), replace=False)]
    centres = _kmeans(sample, codebook_size, rng)
    empty = GarmentColourModel(
        centres,
        np.zeros((codebook_size, len(classes)), np.float32),
        np.zeros(len(classes), np.float32),
        tuple(classes),
        photo_weight,
    )
    features = np.stack([empty.histogram(*garments[n]) for n in rows]).astype(np.float64)
    y = np.array([classes.index(str(targets[n])) for n in rows])
    kernel, bias = _softmax_regression(features, y, len(classes), l2)
    unseen = np.bincount(y, minlength=len(classes)) == 0
    bias[unseen] = -30.0
    return GarmentColourModel(centres, kernel, bias, tuple(classes), photo_weight)
