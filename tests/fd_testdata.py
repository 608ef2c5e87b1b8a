"""Generated test data shared by the test modules and conftest (no binary fixtures in git)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
SHARED_CATALOG = SHARED_DIR / "catalog"

STYLES_FIELDS = ["id", "gender", "articleType", "baseColour", "productDisplayName"]

#: Colours of the generated garments, with the name recorded in the catalogue's baseColour.
COLOURS: list[tuple[str, tuple[int, int, int]]] = [
    ("Red", (200, 30, 30)),
    ("Blue", (30, 40, 190)),
    ("Green", (30, 160, 60)),
    ("Black", (20, 20, 20)),
    ("Yellow", (230, 210, 40)),
]
ARTICLE_TYPES = ["Tshirts", "Jeans", "Watches", "Shirts"]


# ------------------------------------------------------------------------------- images
def garment_image(index: int, size: tuple[int, int] = (30, 40)) -> Image.Image:
    """A small product-like picture: white background, one coloured shape that depends on
    ``index`` (colour ``COLOURS[index % 5]``, shape ``ARTICLE_TYPES[index % 4]``)."""
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    colour = np.array(COLOURS[index % len(COLOURS)][1], dtype=np.int16)
    rng = np.random.default_rng(index)
    pixels = np.asarray(image).copy()
    shape = index % len(ARTICLE_TYPES)
    top, left = height // 6, width // 6
    if shape == 0:  # a wide block
        pixels[top : height - top, left : width - left] = colour
    elif shape == 1:  # two legs
        pixels[top : height - 2, left : width // 2 - 2] = colour
        pixels[top : height - 2, width // 2 + 2 : width - left] = colour
    elif shape == 2:  # a small disc-ish square
        pixels[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = colour
    else:  # a tall block
        pixels[2:-2, width // 3 : 2 * width // 3] = colour
    noise = rng.integers(-12, 13, pixels.shape, dtype=np.int16)
    mask = pixels.sum(axis=2, keepdims=True) < 700
    pixels = np.where(mask, np.clip(pixels.astype(np.int16) + noise, 0, 255), pixels)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def item_metadata(index: int) -> dict[str, str]:
    colour = COLOURS[index % len(COLOURS)][0]
    article = ARTICLE_TYPES[index % len(ARTICLE_TYPES)]
    gender = "Women" if index % 2 else "Men"
    return {
        "id": str(1000 + index),
        "gender": gender,
        "articleType": article,
        "baseColour": colour,
        "productDisplayName": f"{gender} {colour} {article} {index}",
    }


def write_styles_catalogue(folder: Path, indices: Sequence[int]) -> Path:
    """A ``styles`` layout catalogue (styles.csv + images/<id>.jpg) of generated garments."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in indices:
        meta = item_metadata(index)
        garment_image(index).save(images / f"{meta['id']}.jpg", quality=92)
        rows.append(meta)
    with (folder / "styles.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, STYLES_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def snapshot_tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``root`` with its bytes and mtime: to prove nothing was touched."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# ------------------------------------------------------------------------ hostile inputs
def png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def huge_png_header(width: int, height: int) -> bytes:
    """A PNG that *claims* width × height pixels but holds a few bytes (a decompression bomb)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def write_hostile_corpus(folder: Path) -> dict[str, str | None]:
    """Files a catalogue or a user may hand over: name → expected error fragment (None: usable)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = garment_image(2, (40, 60))
    good_jpeg = folder / "good.jpg"
    good.save(good_jpeg, quality=90)
    data = good_jpeg.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a picture\n", encoding="utf-8")
    (folder / "bomb.png").write_bytes(huge_png_header(30_000, 30_000))
    Image.new("CMYK", (20, 30), (0, 200, 200, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.full((20, 30), 40_000, np.uint16)).save(folder / "depth16.png")
    rgba = Image.new("RGBA", (20, 30), (0, 0, 0, 0))
    rgba.paste((0, 0, 200, 255), (5, 5, 15, 25))
    rgba.save(folder / "alpha.png")
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6
    good.save(folder / "rotated.jpg", exif=exif.tobytes())
    good.save(folder / "été dress 01.jpg")
    Image.new("RGB", (10_000, 5), "red").save(folder / "strip.png")
    Image.new("RGB", (1, 1), "red").save(folder / "dot.png")
    return {
        "good.jpg": None,
        "truncated.jpg": "damaged or incomplete",
        "zero.jpg": "empty (0 bytes)",
        "text.jpg": "not an image",
        "bomb.png": "megapixels",
        "cmyk.jpg": None,
        "depth16.png": None,
        "alpha.png": None,
        "animated.gif": None,
        "rotated.jpg": None,
        "été dress 01.jpg": None,
        "strip.png": None,
        "dot.png": None,
    }
