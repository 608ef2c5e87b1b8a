"""Synthetic photos of catalogue products: the yardstick for photo queries and a training view.

A catalogue image is a product on white. Shops and kiosks send something else: the garment on a
rail, on a person, held up to a webcam, lying on a bed, printed in a lookbook and photographed;
it fills only part of the frame, over a busy background, at an angle, under uneven light, blurred,
noisy and JPEG-compressed. :func:`simulate_photo` turns a product image into such a photo,
deterministically for a given random generator, and records where the garment ended up (its box
in the photo) so that localisation can be scored too.

NumPy and Pillow only (no model): the test-set script and photo-robust training both use it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashion_desktop.core.masks import touching_border

#: Scenes a photo can show. ``person``, ``rail`` and ``held`` suit clothes; the others suit any
#: product (shoes, bags, watches on a bed or a table, or printed in a lookbook).
SCENES = ("rail", "person", "held", "flat", "lookbook", "clutter")
ANY_PRODUCT_SCENES = ("held", "flat", "lookbook", "clutter")
#: How far (per channel) a pixel may be from the background colour and still be background:
#: JPEG backgrounds are rarely one exact value.
BACKGROUND_TOLERANCE = 10
SKIN_TONES = ((241, 194, 167), (224, 172, 138), (198, 134, 98), (141, 85, 54), (92, 58, 40))


@dataclass(frozen=True)
class SimulatedPhoto:
    """A simulated photo: the JPEG bytes, the decoded image and the garment's box in it."""

    data: bytes
    image: Image.Image
    box: tuple[float, float, float, float]  # left, top, right, bottom as fractions of the frame
    scene: str
    fraction: float  # the garment's larger side over the frame's, before camera effects


# ------------------------------------------------------------------------------- cut-out
def product_mask(image: Image.Image, tolerance: int = BACKGROUND_TOLERANCE) -> np.ndarray:
    """Foreground of a product on a plain background: everything except background-coloured
    pixels connected to the border.

    The background colour is the median of the border (white for nearly all catalogue images,
    sometimes a studio grey). A flood fill from the border (not a plain threshold) keeps parts
    inside the product that happen to match it, such as a white print on a T-shirt. Returns a
    bool array (h, w); all True when the border is not one plain colour.
    """
    # A 3 × 3 mean first: JPEG ringing and chroma noise near edges exceed any tight tolerance.
    smooth = image.convert("RGB").filter(ImageFilter.BoxBlur(1))
    rgb = np.asarray(smooth, dtype=np.int16)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    colour = np.median(border, axis=0)
    close = np.abs(rgb - colour).max(axis=2) <= tolerance
    border_close = np.concatenate([close[0], close[-1], close[:, 0], close[:, -1]])
    if border_close.mean() < 0.6:
        return np.ones(close.shape, dtype=bool)
    mask = ~touching_border(close)
    # Drop specks (JPEG noise on the background), close small gaps (a white sole, a pale seam)
    # and fill the holes they enclose; the padding keeps the filters from inventing foreground
    # at the border.
    pad = 4
    padded = Image.fromarray(np.pad(mask, pad).astype(np.uint8) * 255, "L")
    opened = padded.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    if np.asarray(opened).any():
        mask = np.asarray(opened)[pad:-pad, pad:-pad] == 255
        padded = opened
    closed = np.asarray(padded.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5)))
    closed = closed[pad:-pad, pad:-pad]
    open_space = closed == 0
    mask = mask | (open_space & ~touching_border(open_space)) | (closed == 255)
    if mask.sum() < 0.01 * mask.size:  # nothing left (e.g. a white product): keep everything
        mask = np.ones_like(mask)
    return mask


def cut_out(image: Image.Image) -> Image.Image:
    """The product as RGBA, cropped to its mask, with a slightly softened edge."""
    rgb = image.convert("RGB")
    mask = product_mask(rgb)
    rows, cols = np.nonzero(mask)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    alpha = Image.fromarray(mask.astype(np.uint8) * 255, "L").filter(ImageFilter.MinFilter(3))
    if np.asarray(alpha).max() == 0:  # erosion removed a thin product: keep the raw mask
        alpha = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    return rgba.crop(box)


# --------------------------------------------------------------------------- backgrounds
def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, 3))  # type: ignore[return-value]


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    """A plausible wall/furniture colour: a random hue, desaturated towards grey."""
    base = np.array(_colour(rng), dtype=np.float32)
    grey = base.mean()
    mix = rng.uniform(0.2, 0.8)
    level = rng.uniform(0.35, 1.15)
    return tuple(int(v) for v in np.clip((grey + (base - grey) * mix) * level, 0, 255))  # type: ignore[return-value]


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in 0..1, (h, w) float32: random values on a coarse grid, upsampled."""
    grid = rng.random((max(2, cells), max(2, cells))).astype(np.float32)
    return np.asarray(
        Image.fromarray(grid, "F").resize(size, Image.Resampling.BICUBIC), dtype=np.float32
    )


def _gradient(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    angle = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (x * math.cos(angle) + y * math.sin(angle)) / max(width, height)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    a = np.array(_muted(rng), np.float32)
    b = np.array(_muted(rng), np.float32)
    return a + (b - a) * t[..., None]


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A surface: plaster, wood grain, stripes, tiles or a printed fabric (h, w, 3 float32)."""
    width, height = size
    kind = rng.choice(["plaster", "wood", "stripes", "tiles", "fabric", "gradient"])
    base = np.array(_muted(rng), np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "plaster":
        noise = _smooth_noise(rng, size, int(rng.integers(3, 12))) - 0.5
        out = base + noise[..., None] * rng.uniform(20, 70)
    elif kind == "wood":
        warp = _smooth_noise(rng, size, 6) * rng.uniform(10, 40)
        period = rng.uniform(6, 25)
        grain = np.sin((y + warp) / period * 2 * math.pi) * 0.5 + 0.5
        dark = base * rng.uniform(0.5, 0.8)
        out = dark + (base - dark) * grain[..., None]
    elif kind == "stripes":
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(8, 60)
        t = (x * math.cos(angle) + y * math.sin(angle)) / period
        other = np.array(_muted(rng), np.float32)
        out = np.where((np.floor(t) % 2 == 0)[..., None], base, other)
    elif kind == "tiles":
        tile = rng.uniform(20, 80)
        grout = (np.minimum(x % tile, y % tile) < rng.uniform(1, 4))[..., None]
        shade = _smooth_noise(rng, size, 8)[..., None] * 30 - 15
        out = np.where(grout, base * 0.6, base + shade)
    elif kind == "fabric":
        period = rng.uniform(6, 24)
        other = np.array(_colour(rng, 40, 256), np.float32)
        dots = (np.sin(x / period * 2 * math.pi) * np.sin(y / period * 2 * math.pi)) > rng.uniform(
            0.3, 0.8
        )
        out = np.where(dots[..., None], other, base)
    else:
        out = _gradient(rng, size)
    grain = rng.normal(0, rng.uniform(1, 6), (height, width, 1)).astype(np.float32)
    return np.clip(out + grain, 0, 255)


def _clutter(rng: np.random.Generator, canvas: Image.Image, count: int) -> None:
    """Shapes of random colours: shelves, boxes, lamps, posters, blurred like a busy shop."""
    width, height = canvas.size
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        colour = (*_colour(rng), int(rng.integers(150, 256)))
        x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        w, h = rng.uniform(0.05, 0.45) * width, rng.uniform(0.05, 0.45) * height
        shape = rng.integers(0, 4)
        if shape == 0:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        elif shape == 1:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
        elif shape == 2:
            points = [
                (x0 + rng.uniform(0, w), y0 + rng.uniform(0, h)) for _ in range(rng.integers(3, 7))
            ]
            draw.polygon(points, fill=colour)
        else:
            draw.line((x0, y0, x0 + w, y0 + h), fill=colour, width=int(rng.integers(2, 12)))
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0, 4)))
    canvas.alpha_composite(layer)


def background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A procedural background (RGBA): a textured surface, sometimes cluttered or with bokeh."""
    canvas = Image.fromarray(_texture(rng, size).astype(np.uint8), "RGB").convert("RGBA")
    style = rng.random()
    if style < 0.45:
        _clutter(rng, canvas, int(rng.integers(4, 25)))
    elif style < 0.6:
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        for _ in range(int(rng.integers(10, 40))):
            r = rng.uniform(0.02, 0.08) * max(size)
            cx, cy = rng.uniform(0, size[0]), rng.uniform(0, size[1])
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*_colour(rng, 120), 110))
        canvas.alpha_composite(layer.filter(ImageFilter.GaussianBlur(rng.uniform(2, 8))))
    return canvas


# ---------------------------------------------------------------------------- geometry
def perspective_coefficients(
    source: Sequence[tuple[float, float]], target: Sequence[tuple[float, float]]
) -> list[float]:
    """Pillow PERSPECTIVE coefficients mapping output points ``target`` to input ``source``."""
    rows = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    matrix = np.array(rows, dtype=np.float64)
    values = np.array([c for point in source for c in point], dtype=np.float64)
    return list(np.linalg.solve(matrix, values))


def _warp(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """A random perspective (a camera not square to the subject) on an RGBA/L image."""
    width, height = image.size
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    jitter = [
        (
            x + rng.uniform(-strength, strength) * width,
            y + rng.uniform(-strength, strength) * height,
        )
        for x, y in corners
    ]
    xs, ys = [p[0] for p in jitter], [p[1] for p in jitter]
    shift = [(x - min(xs), y - min(ys)) for x, y in jitter]
    size = (max(1, round(max(xs) - min(xs))), max(1, round(max(ys) - min(ys))))
    coeffs = perspective_coefficients(corners, shift)
    return image.transform(size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)


def _garment_layer(product: Image.Image, rng: np.random.Generator, scene: str) -> Image.Image:
    """The cut-out product, warped and rotated for the scene (RGBA, tight crop)."""
    layer = cut_out(product)
    if rng.random() < 0.5:
        layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    # Upsample first so that warping and rotating a 60 × 80 image keeps its detail.
    scale = 4
    layer = layer.resize((layer.width * scale, layer.height * scale), Image.Resampling.BICUBIC)
    layer = _warp(layer, rng, rng.uniform(0.0, 0.12))
    max_angle = 35 if scene == "flat" else 15
    layer = layer.rotate(rng.uniform(-max_angle, max_angle), Image.Resampling.BICUBIC, expand=True)
    bbox = layer.getchannel("A").point(lambda a: 255 if a > 24 else 0).getbbox()
    return layer.crop(bbox) if bbox else layer


# ------------------------------------------------------------------------------ scenes
def _skin(rng: np.random.Generator) -> tuple[int, int, int]:
    tone = np.array(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], np.float32)
    return tuple(int(v) for v in np.clip(tone * rng.uniform(0.85, 1.1), 0, 255))  # type: ignore[return-value]


def _draw_person(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int]
) -> None:
    """A person-like silhouette whose torso the garment at ``box`` covers."""
    x0, y0, x1, y1 = box
    gw, gh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    skin, outfit = _skin(rng), _muted(rng)
    head = 0.2 * gw
    draw.rectangle((cx - 0.08 * gw, y0 - 0.25 * head, cx + 0.08 * gw, y0 + 0.1 * gh), fill=skin)
    draw.ellipse((cx - head, y0 - 2.1 * head, cx + head, y0 - 0.1 * head), fill=skin)
    hair = _colour(rng, 10, 120)
    draw.chord((cx - head, y0 - 2.15 * head, cx + head, y0 - 0.6 * head), 180, 360, fill=hair)
    arm = max(2, int(0.13 * gw))
    sleeve = skin if rng.random() < 0.5 else outfit
    for side in (-1, 1):
        sx = cx + side * 0.45 * gw
        hand = (sx + side * rng.uniform(0.05, 0.25) * gw, y0 + rng.uniform(0.7, 1.1) * gh)
        draw.line((sx, y0 + 0.08 * gh, *hand), fill=sleeve, width=arm)
        draw.ellipse((hand[0] - arm, hand[1] - arm, hand[0] + arm, hand[1] + arm), fill=skin)
    legs = outfit if rng.random() < 0.7 else _muted(rng)
    for side in (-1, 1):
        lx = cx + side * 0.2 * gw
        draw.rectangle((lx - 0.15 * gw, y1 - 0.1 * gh, lx + 0.15 * gw, y1 + 1.5 * gh), fill=legs)


def _draw_rail(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int], width: int
) -> int:
    """A clothes rail above ``box`` with a hanger; returns the rail's y."""
    x0, y0, x1, _ = box
    hook = max(4, int(0.12 * (x1 - x0)))
    rail_y = int(y0 - hook * rng.uniform(1.0, 1.8))
    metal = tuple(int(v) for v in np.full(3, rng.integers(90, 200)))
    draw.line((0, rail_y, width, rail_y), fill=metal, width=max(3, hook // 3))
    cx = (x0 + x1) / 2
    hanger = _colour(rng, 0, 256) if rng.random() < 0.4 else (60, 45, 30)
    draw.arc(
        (cx - hook / 2, rail_y - hook / 2, cx + hook / 2, rail_y + hook / 2), 180, 90, hanger, 2
    )
    draw.line((cx, rail_y + hook / 2, x0 + 0.1 * (x1 - x0), y0 + 2), fill=hanger, width=3)
    draw.line((cx, rail_y + hook / 2, x1 - 0.1 * (x1 - x0), y0 + 2), fill=hanger, width=3)
    return rail_y


def _shadow(canvas: Image.Image, layer: Image.Image, at: tuple[int, int], rng) -> None:
    alpha = layer.getchannel("A").point(lambda a: int(a * rng.uniform(0.25, 0.55)))
    shadow = Image.new("RGBA", layer.size, (0, 0, 0, 0))
    shadow.putalpha(alpha)
    shadow = shadow.filter(ImageFilter.GaussianBlur(rng.uniform(2, 8)))
    offset = (int(rng.uniform(-0.05, 0.08) * layer.width), int(rng.uniform(0, 0.08) * layer.height))
    canvas.alpha_composite(shadow, (at[0] + offset[0], at[1] + offset[1]))


def _paste_distractors(
    canvas: Image.Image,
    rng: np.random.Generator,
    distractors: Sequence[Image.Image],
    box: tuple[int, int, int, int],
) -> None:
    """Other products partly in frame, beside or behind the garment (a rail, a shop)."""
    x0, y0, x1, y1 = box
    for product in distractors:
        layer = cut_out(product)
        height = int((y1 - y0) * rng.uniform(0.6, 1.1))
        width = max(1, int(layer.width * height / max(1, layer.height)))
        layer = layer.resize((width, max(1, height)), Image.Resampling.BICUBIC)
        side = rng.choice([-1, 1])
        overlap = rng.uniform(0.0, 0.35) * width
        x = int(x0 - width + overlap) if side < 0 else int(x1 - overlap)
        canvas.alpha_composite(layer, (x, int(y0 + rng.uniform(-0.1, 0.2) * (y1 - y0))))


# ----------------------------------------------------------------------- camera effects
def _lighting(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven light: a gradient and blotches times a vignette, a colour cast, gamma."""
    height, width = pixels.shape[:2]
    gradient = _gradient(rng, (width, height)).mean(axis=2)
    gradient = (gradient - gradient.min()) / max(float(np.ptp(gradient)), 1e-6)
    low, high = rng.uniform(0.45, 0.9), rng.uniform(1.0, 1.3)
    field = low + (high - low) * gradient
    field *= 0.85 + 0.3 * _smooth_noise(rng, (width, height), 4)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((x / width - 0.5) ** 2 + (y / height - 0.5) ** 2) * 2
    field *= 1 - rng.uniform(0, 0.45) * r2
    cast = np.array([rng.uniform(0.82, 1.15), rng.uniform(0.9, 1.08), rng.uniform(0.8, 1.18)])
    out = pixels.astype(np.float32) * field[..., None] * cast
    out = 255 * np.clip(out / 255, 0, 1) ** rng.uniform(0.75, 1.35)
    contrast = rng.uniform(0.75, 1.15)
    return np.clip((out - 128) * contrast + 128 + rng.uniform(-15, 15), 0, 255)


def _motion_blur(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    length = int(rng.integers(3, 9))
    angle = rng.uniform(0, math.pi)
    dx, dy = math.cos(angle), math.sin(angle)
    pad = length
    padded = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = np.zeros_like(pixels, dtype=np.float32)
    height, width = pixels.shape[:2]
    for step in range(length):
        t = step - (length - 1) / 2
        ox, oy = round(t * dx), round(t * dy)
        out += padded[pad + oy : pad + oy + height, pad + ox : pad + ox + width]
    return out / length


def _camera(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, bool]:
    """Light, blur, sensor noise and low resolution; returns the image and whether it blurred."""
    pixels = _lighting(np.asarray(image, dtype=np.float32), rng)
    blur = rng.random()
    if blur < 0.3:
        pixels = _motion_blur(pixels, rng)
    elif blur < 0.75:
        radius = rng.uniform(0.5, 2.5)
        pixels = np.asarray(
            Image.fromarray(pixels.astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)),
            dtype=np.float32,
        )
    sigma = rng.uniform(1, 14) if rng.random() < 0.8 else 0.0
    if sigma:
        noise = rng.normal(0, sigma, (*pixels.shape[:2], 1)) * rng.uniform(0.3, 1.0)
        pixels = pixels + noise + rng.normal(0, sigma * 0.5, pixels.shape)
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.35:  # a low-resolution webcam, upscaled by the software
        factor = rng.uniform(0.3, 0.6)
        small = (max(16, int(out.width * factor)), max(16, int(out.height * factor)))
        out = out.resize(small, Image.Resampling.BILINEAR).resize(
            image.size, Image.Resampling.BILINEAR
        )
    return out, blur < 0.75


def _print_page(canvas: Image.Image, rng: np.random.Generator, box: tuple[int, int, int, int]):
    """A lookbook page: paper, a printed photo rectangle around ``box``, lines of text."""
    width, height = canvas.size
    x0, y0, x1, y1 = box
    paper = np.array([rng.uniform(225, 250)] * 3) * np.array([1, rng.uniform(0.96, 1), 0.93])
    grain = rng.normal(0, 3, (height, width, 1))
    page = Image.fromarray(np.clip(paper + grain, 0, 255).astype(np.uint8), "RGB").convert("RGBA")
    pad_x, pad_y = (x1 - x0) * rng.uniform(0.05, 0.3), (y1 - y0) * rng.uniform(0.05, 0.2)
    photo = (int(x0 - pad_x), int(y0 - pad_y), int(x1 + pad_x), int(y1 + pad_y))
    studio = Image.fromarray(
        np.clip(_gradient(rng, (width, height)) * 0.5 + 110, 0, 255).astype(np.uint8), "RGB"
    )
    if rng.random() < 0.5:
        studio = background(rng, (width, height)).convert("RGB")
    region = Image.new("L", (width, height), 0)
    ImageDraw.Draw(region).rectangle(photo, fill=255)
    page.paste(studio, (0, 0), region)
    draw = ImageDraw.Draw(page)
    ink = tuple(int(v) for v in rng.integers(20, 90, 3))
    line_h = max(3, int(height * rng.uniform(0.012, 0.025)))
    text_x = photo[2] + 10 if photo[2] < width * 0.7 else 10
    text_right = width - 10 if text_x > 10 else max(20, photo[0] - 10)
    for row in range(int(rng.integers(4, 18))):
        y = 15 + row * line_h * 2.2
        if photo[1] <= y <= photo[3] and text_x == 10 and text_right >= photo[0]:
            continue
        end = text_x + (text_right - text_x) * rng.uniform(0.4, 1.0)
        draw.rectangle((text_x, y, end, y + line_h), fill=ink)
    canvas.paste(page)


def simulate_photo(
    product: Image.Image,
    rng: np.random.Generator,
    *,
    scenes: Sequence[str] = SCENES,
    fraction: tuple[float, float] = (0.3, 0.9),
    distractors: Sequence[Image.Image] = (),
    jpeg_quality: tuple[int, int] = (30, 90),
) -> SimulatedPhoto:
    """A photo-like picture of ``product`` (a product on white), deterministic for ``rng``.

    ``fraction``: the garment's larger side relative to the frame's; ``distractors``: other
    product images that may appear partly in frame (rails, shops); ``scenes``: which settings may
    be drawn (see :data:`SCENES`).
    """
    scene = str(rng.choice(list(scenes)))
    long_side = int(rng.integers(360, 641))
    aspect = float(rng.choice([4 / 3, 3 / 4, 1.0, 16 / 9, 2 / 3]))
    size = (
        (long_side, int(long_side / aspect))
        if aspect >= 1
        else (int(long_side * aspect), long_side)
    )
    width, height = size
    layer = _garment_layer(product, rng, scene)
    share = float(rng.uniform(*fraction))
    scale = share * min(width / layer.width, height / layer.height)
    layer = layer.resize(
        (max(2, round(layer.width * scale)), max(2, round(layer.height * scale))),
        Image.Resampling.BICUBIC,
    )
    x = int(rng.uniform(0, max(1, width - layer.width)))
    y = int(rng.uniform(0, max(1, height - layer.height)))
    box = (x, y, x + layer.width, y + layer.height)

    canvas = background(rng, size)
    if scene == "lookbook":
        _print_page(canvas, rng, box)
    draw = ImageDraw.Draw(canvas)
    if scene == "person":
        _draw_person(draw, rng, box)
    elif scene == "rail":
        _draw_rail(draw, rng, box, width)
    if distractors and scene in {"rail", "clutter", "flat"}:
        _paste_distractors(canvas, rng, distractors, box)
    if scene in {"flat", "rail", "clutter"} or rng.random() < 0.3:
        _shadow(canvas, layer, box[:2], rng)
    canvas.alpha_composite(layer, box[:2])
    if scene == "held":
        skin = _skin(rng)
        r = max(4, int(0.1 * layer.width))
        for hx in (
            box[0] + rng.uniform(0, 0.2) * layer.width,
            box[2] - rng.uniform(0, 0.2) * layer.width,
        ):
            hy = box[1] + rng.uniform(-0.05, 0.15) * layer.height
            draw.ellipse((hx - r, hy - r * 1.3, hx + r, hy + r * 1.3), fill=skin)
            draw.line((hx, hy, hx + rng.uniform(-0.5, 0.5) * r * 4, -10), fill=skin, width=r)

    # The garment's mask follows the same camera geometry, so its box stays exact.
    mask = Image.new("L", size, 0)
    mask.paste(layer.getchannel("A"), box[:2])
    rgb = canvas.convert("RGB")
    if scene == "lookbook" or rng.random() < 0.5:
        strength = rng.uniform(0.02, 0.12 if scene == "lookbook" else 0.06)
        corners = [(0, 0), (width, 0), (width, height), (0, height)]
        moved = [
            (
                cx + rng.uniform(-strength, strength) * width,
                cy + rng.uniform(-strength, strength) * height,
            )
            for cx, cy in corners
        ]
        coeffs = perspective_coefficients(moved, corners)
        fill = tuple(int(v) for v in rng.integers(0, 120, 3))
        rgb = rgb.transform(
            size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=fill
        )
        mask = mask.transform(
            size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=0
        )
    if scene == "lookbook":  # halftone screen and print gamut: a faint moiré, less saturation
        pixels = np.asarray(rgb, dtype=np.float32)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        period = rng.uniform(2.5, 5)
        screen = np.sin(xx / period) * np.sin(yy / period) * rng.uniform(3, 10)
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = grey + (pixels - grey) * rng.uniform(0.7, 0.95) + screen[..., None]
        rgb = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    rgb, _ = _camera(rgb, rng)
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)))
    data = buffer.getvalue()
    image = Image.open(io.BytesIO(data))
    image.load()
    found = mask.point(lambda a: 255 if a > 127 else 0).getbbox() or (0, 0, width, height)
    frac_box = (found[0] / width, found[1] / height, found[2] / width, found[3] / height)
    return SimulatedPhoto(data, image.convert("RGB"), frac_box, scene, share)
