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

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.imaging import MODEL_INPUT_SIZE, CropBox, prepare_for_model

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
        small.thumbnail((128, 128), Image.BILINEAR)
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
        Image.fromarray(cam, "F").resize((grid, grid), Image.BILINEAR), dtype=np.float32
    )
    above = upsampled >= threshold
    if peak_only and above.any():
        peak_y, peak_x = np.unravel_index(int(np.argmax(upsampled)), upsampled.shape)
        regions = Image.fromarray(above.astype(np.uint8) * 255, "L").copy()
        ImageDraw.floodfill(regions, (int(peak_x), int(peak_y)), 128)
        above = np.asarray(regions) == 128
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
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
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


#: When to localise: ``auto`` only for images that are not a product shot.
LOCALISE_MODES = ("auto", "always", "never")


def should_localise(mode: str, product_shot: bool) -> bool:
    """Whether ``mode`` (auto/always/never) crops an image to its garment: ``auto`` only when
    the image is not a product shot (:func:`looks_like_product_shot`)."""
    if mode not in LOCALISE_MODES:
        raise ValueError(f"localise mode must be one of {LOCALISE_MODES}, not {mode!r}")
    return mode == "always" or (mode == "auto" and not product_shot)


@dataclass(frozen=True)
class LocalisedEmbedding:
    """A query's raw embedding, the box that was searched (None: the whole image) and whether it
    looked like a product shot."""

    raw: np.ndarray
    box: CropBox | None
    product_shot: bool


def embed_query(
    image: Image.Image,
    embedder: Embedder,
    locator: GarmentLocator | None,
    mode: str = "auto",
    *,
    fuse: bool = False,
) -> LocalisedEmbedding:
    """Embed one query image, localising the garment first when ``mode`` asks for it.

    ``fuse`` averages the crop's and the whole frame's normalised embeddings instead of using
    the crop alone.
    """
    product_shot = looks_like_product_shot(image)
    if not should_localise(mode, product_shot) or locator is None:
        return LocalisedEmbedding(embedder.embed_one(prepare_for_model(image)), None, product_shot)
    found = locator.locate(image)
    crop = embedder.embed_one(prepare_for_model(image, found.box))
    if fuse:
        unit = lambda v: v / max(float(np.linalg.norm(v)), 1e-12)  # noqa: E731
        crop = unit(unit(crop) + unit(found.frame_embedding))
    return LocalisedEmbedding(crop.astype(np.float32), found.box, product_shot)
