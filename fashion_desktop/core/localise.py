"""Finding the garment in a photo, so that the model sees the product and not the room.

A catalogue-style query (a product on a plain background) is searched as it is. A photo (a
garment on a rail, on a person, held up to a webcam) is first localised: one forward pass gives
both the image's embedding (the average of the last ResNet feature map) and a class-activation
map (CAM) of the article-type head on that feature map; the box around the strongest activations
is cropped and embedded again. The crop's embedding is what is searched, optionally fused with the
whole frame's.

The feature map is the embedder's own second output: no second model is loaded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE, CropBox, prepare_for_model
from fashion_desktop.core.masks import connected_to
from fashion_desktop.core.probability import softmax

#: A border this uniform (share of border pixels near its median colour) is a product shot.
PLAIN_BORDER_SHARE = 0.85
PLAIN_BORDER_TOLERANCE = 14
#: CAM box: activations above this share of the maximum, in the region around the peak,
#: widened by this share of the box (chosen on development photos; see bench_photos.py --sweep).
CAM_THRESHOLD = 0.2
CAM_MARGIN = 0.1
CAM_PEAK_ONLY = True


def looks_like_product_shot(image: Image.Image) -> bool:
    """True for a product on a plain (usually white) background: its border is one colour.

    Cheap (a thumbnail's border), so it runs on every query to decide whether to localise.
    """
    small = image.convert("RGB")
    if max(small.size) > 128:
        small = small.copy()
        small.thumbnail((128, 128), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.int16)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    colour = np.median(border, axis=0)
    near = np.abs(border - colour).max(axis=1) <= PLAIN_BORDER_TOLERANCE
    return float(near.mean()) >= PLAIN_BORDER_SHARE


@dataclass(frozen=True)
class Localisation:
    """Where the garment is (a crop box of the original image) and the whole frame's embedding."""

    box: CropBox
    frame_embedding: np.ndarray  # raw (2048,) of the whole image
    activation: np.ndarray  # (7, 7) CAM over the padded square, 0..1


def cam_box(
    activation: np.ndarray,
    size: tuple[int, int],
    *,
    threshold: float = CAM_THRESHOLD,
    margin: float = CAM_MARGIN,
    min_side: float = 0.2,
    peak_only: bool = CAM_PEAK_ONLY,
) -> CropBox:
    """The box (fractions of the original image) around activations above ``threshold``.

    ``activation`` covers the white-padded square the model saw; it is upsampled, thresholded
    relative to its maximum, mapped back to the unpadded image, widened by ``margin`` of its
    size and made at least ``min_side`` of the image on each side. With ``peak_only`` only the
    connected region around the strongest activation counts (not a second object elsewhere).
    """
    width, height = size
    side = max(width, height)
    grid = MODEL_INPUT_SIZE
    cam = np.asarray(activation, dtype=np.float32)
    cam = cam - cam.min()
    cam = cam / cam.max() if cam.max() > 0 else np.ones_like(cam)
    upsampled = np.asarray(
        Image.fromarray(cam, "F").resize((grid, grid), Image.Resampling.BILINEAR), dtype=np.float32
    )
    above = upsampled >= threshold
    if peak_only and above.any():
        peak_y, peak_x = np.unravel_index(int(np.argmax(upsampled)), upsampled.shape)
        peak = np.zeros_like(above)
        peak[peak_y, peak_x] = True
        above = connected_to(above, peak)
    rows, cols = np.nonzero(above)
    if len(rows) == 0:
        return CropBox(0.0, 0.0, 1.0, 1.0)
    scale = side / grid
    offset_x, offset_y = (side - width) // 2, (side - height) // 2
    left = cols.min() * scale - offset_x
    right = (cols.max() + 1) * scale - offset_x
    top = rows.min() * scale - offset_y
    bottom = (rows.max() + 1) * scale - offset_y
    box = np.array([left / width, top / height, right / width, bottom / height])
    pad_x, pad_y = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    box += np.array([-pad_x, -pad_y, pad_x, pad_y])
    for low, high in ((0, 2), (1, 3)):
        if box[high] - box[low] < min_side:
            centre = (box[low] + box[high]) / 2
            box[low], box[high] = centre - min_side / 2, centre + min_side / 2
    box = np.clip(box, 0.0, 1.0)
    return CropBox(*(float(v) for v in box))


class GarmentLocator:
    """CAM localisation with the embedder's network and its article-type head."""

    def __init__(
        self,
        embedder: Embedder,
        head: str = "articleType",
        *,
        top_classes: int = 3,
        threshold: float = CAM_THRESHOLD,
        margin: float = CAM_MARGIN,
        peak_only: bool = CAM_PEAK_ONLY,
    ) -> None:
        if embedder.heads is None or head not in embedder.heads.heads:
            raise ValueError(f"localisation needs the model's '{head}' classifier head")
        self.embedder = embedder
        self.head = embedder.heads.heads[head]
        self.top_classes = top_classes
        self.threshold = threshold
        self.margin = margin
        self.peak_only = peak_only

    @staticmethod
    def supports(embedder: Embedder, head: str = "articleType") -> bool:
        """Whether ``embedder`` has the classifier head localisation needs."""
        return embedder.heads is not None and head in embedder.heads.heads

    def locate(self, image: Image.Image) -> Localisation:
        frame, features = self.embedder.embed_with_feature_map(prepare_for_model(image))
        logits = frame @ self.head.kernel + self.head.bias
        probs = softmax(logits)
        top = np.argsort(probs)[::-1][: self.top_classes]
        weights = self.head.kernel[:, top] @ probs[top]
        activation = features @ weights
        box = cam_box(
            activation,
            image.size,
            threshold=self.threshold,
            margin=self.margin,
            peak_only=self.peak_only,
        )
        lo, hi = activation.min(), activation.max()
        scaled = (activation - lo) / (hi - lo) if hi > lo else np.ones_like(activation)
        return Localisation(box, frame.astype(np.float32), scaled.astype(np.float32))


class LocalisationError(FashionDesktopError):
    """Localisation was asked for with a model that cannot localise."""


#: When to localise: ``auto`` only for images that are not a product shot.
LOCALISE_MODES = ("auto", "always", "never")
#: Photos are searched on their garment's CAM box (product shots whole): with the catalogue's
#: labels in the items' signatures and the photos' tempered ranking, the box found a synthetic
#: photo's own item more often at every real-photo goal (BENCHMARKS.md, "The catalogue's own
#: labels"); ``--localise never`` (and the window's Whole image) searches the whole photo.
DEFAULT_LOCALISE = "auto"


def should_localise(mode: str, product_shot: bool) -> bool:
    """Whether ``mode`` (auto/always/never) crops an image to its garment: ``auto`` only when
    the image is not a product shot (:func:`looks_like_product_shot`)."""
    if mode not in LOCALISE_MODES:
        raise ValueError(f"localise mode must be one of {LOCALISE_MODES}, not {mode!r}")
    return mode == "always" or (mode == "auto" and not product_shot)


@dataclass(frozen=True)
class EmbeddedQuery:
    """A query image's raw embedding, the box localisation searched (None: the image as given)
    and its kind: a photo, or a product on a plain background (what its ranking weights
    depend on)."""

    raw: np.ndarray
    box: CropBox | None
    photo: bool
    #: A photo's garment colour measured on its pixels (the model's
    #: :class:`~fashion_desktop.core.garment_colour.GarmentColourModel` classes); None for a
    #: product shot or a model without that colour model.
    colour: np.ndarray | None = None


@dataclass(frozen=True)
class EmbeddedBatch:
    queries: list[EmbeddedQuery]
    #: Milliseconds per image spent localising, preparing pixels and running the model.
    timings_ms: dict[str, float]


def embed_query_images(
    images: Sequence[Image.Image],
    embedder: Embedder,
    locator: GarmentLocator | None,
    mode: str = "auto",
    crop: CropBox | None = None,
) -> EmbeddedBatch:
    """Embed query images as the search does — the one place that decides what the model sees.

    A user's ``crop`` applies to every image and turns localisation off; otherwise ``mode``
    (auto/always/never, :func:`should_localise`) crops images to the garment found by
    ``locator`` (None: a model that cannot localise, images are embedded whole). The model runs
    once over the whole batch. A photo's garment colour is measured on the pixels the model
    sees (the user's crop, the localised box or the whole photo) when the model has a garment
    colour model.
    """
    if not images:
        return EmbeddedBatch([], {})
    if mode == "always" and crop is None and locator is None:
        raise LocalisationError(
            "Cannot localise garments: the model has no article-type classifier head."
        )
    t0 = time.perf_counter()
    photos = [not looks_like_product_shot(image) for image in images]
    found: list[CropBox | None] = [
        locator.locate(image).box
        if crop is None and locator is not None and should_localise(mode, not photo)
        else None
        for image, photo in zip(images, photos, strict=True)
    ]
    boxes = [crop] * len(images) if crop is not None else found
    t1 = time.perf_counter()
    pixels = np.stack(
        [prepare_for_model(image, box) for image, box in zip(images, boxes, strict=True)]
    )
    t2 = time.perf_counter()
    raw = embedder.embed_batch(pixels)
    t3 = time.perf_counter()
    colour_model = embedder.garment_colour
    colours = [
        colour_model.probabilities(image, box, photo=True)
        if colour_model is not None and photo
        else None
        for image, box, photo in zip(images, boxes, photos, strict=True)
    ]
    t4 = time.perf_counter()
    per_image = 1000 / len(images)
    timings = {"prepare": (t2 - t1) * per_image, "embed": (t3 - t2) * per_image}
    if any(colour is not None for colour in colours):
        timings["colour"] = (t4 - t3) * per_image
    if any(box is not None for box in found):
        timings = {"localise": (t1 - t0) * per_image} | timings
    return EmbeddedBatch(
        [
            EmbeddedQuery(np.asarray(r, np.float32), box, photo, colour)
            for r, box, photo, colour in zip(raw, found, photos, colours, strict=True)
        ],
        timings,
    )
