"""Colour-aware scoring: a colour signature of the garment and a re-ranking that uses it.

The embedding of a photo-robust model is partly colour-blind (it was trained to ignore light and
white balance). A query's colour is put back by re-ranking the embedding's top candidates with

    score = cosine + weight × colour similarity

where the colour similarity is either the Bhattacharyya coefficient of two CIELAB histograms of
the garment's pixels (:func:`colour_histogram`: the product mask for a product on white, the
localised box for a photo), or the agreement of the colour head's probabilities
(:func:`probability_agreement`). NumPy and Pillow only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

#: Histogram bins over CIELAB lightness, a* and b* (a*, b* clipped to ±LAB_AB_RANGE).
LAB_BINS = (4, 7, 7)
LAB_AB_RANGE = 60.0
SIGNATURE_SIDE = 64


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB → (..., 3) float32 CIELAB (D65)."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        dtype=np.float32,
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )
    return lab.astype(np.float32)


def colour_histogram(image: Image.Image, weights: np.ndarray | None = None) -> np.ndarray:
    """A normalised CIELAB histogram (flattened ``LAB_BINS``) of ``image``'s pixels.

    ``weights`` (h, w) in 0..1, e.g. a foreground mask, weights each pixel; the image is first
    reduced to at most ``SIGNATURE_SIDE`` pixels a side (colour needs no detail).
    """
    rgb = image.convert("RGB")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float32)
        if weights.shape != (rgb.height, rgb.width):
            raise ValueError("weights must have the image's shape (h, w)")
    if max(rgb.size) > SIGNATURE_SIDE:
        scale = SIGNATURE_SIDE / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR)
        if weights is not None:
            weights = np.asarray(
                Image.fromarray(weights, "F").resize(size, Image.Resampling.BILINEAR),
                dtype=np.float32,
            )
    lab = srgb_to_lab(np.asarray(rgb)).reshape(-1, 3)
    w = np.ones(len(lab), np.float32) if weights is None else weights.reshape(-1)
    bins_l, bins_a, bins_b = LAB_BINS
    li = np.clip((lab[:, 0] / 100.0 * bins_l).astype(int), 0, bins_l - 1)
    ab = np.clip((lab[:, 1:] + LAB_AB_RANGE) / (2 * LAB_AB_RANGE), 0, 1 - 1e-6)
    ai = (ab[:, 0] * bins_a).astype(int)
    bi = (ab[:, 1] * bins_b).astype(int)
    flat = (li * bins_a + ai) * bins_b + bi
    hist = np.bincount(flat, weights=w, minlength=bins_l * bins_a * bins_b).astype(np.float32)
    total = hist.sum()
    return hist / total if total > 0 else np.full_like(hist, 1.0 / len(hist))


def histogram_similarity(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Bhattacharyya coefficients (1 = same distribution) of one histogram against many."""
    return np.sqrt(np.clip(candidates, 0, None)) @ np.sqrt(np.clip(query, 0, None))


def probability_agreement(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Bhattacharyya coefficients of class-probability vectors (the colour head's outputs)."""
    return histogram_similarity(query, candidates)


def rerank(
    hits: Sequence[tuple[int, float]], colour_similarity: np.ndarray, weight: float, k: int
) -> list[tuple[int, float]]:
    """Re-order ``hits`` (row, cosine) by cosine + weight × the rows' colour similarity."""
    if weight == 0 or not hits:
        return list(hits[:k])
    rows = np.array([row for row, _ in hits])
    scores = np.array([score for _, score in hits], dtype=np.float32)
    combined = scores + weight * colour_similarity[rows]
    order = np.argsort(-combined, kind="stable")[:k]
    return [(int(rows[i]), float(combined[i])) for i in order]
