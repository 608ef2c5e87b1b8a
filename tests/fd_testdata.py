"""Generated test data shared by the test modules and conftest (no binary fixtures in git)."""

from __future__ import annotations

import csv
import functools
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


# ------------------------------------------------------------------- toy indexes, no model
#: The made-up model toy indexes are "built with" (no network behind it).
TOY_FINGERPRINT = "7e" * 32
TOY_SOURCE = "toy-model.tflite"
EMBEDDING_WIDTH = 2048  # fashion_desktop.core.embedder.EMBEDDING_DIM, without importing it here


def toy_identity(fingerprint: str = TOY_FINGERPRINT, source: str = TOY_SOURCE):
    """A ``ModelIdentity`` made up for tests (the current preprocessing and runtime)."""
    from fashion_desktop.core.embedder import ModelIdentity

    return ModelIdentity(fingerprint, source)


def toy_embeddings(count: int, seed: int = 0) -> np.ndarray:
    """``count`` random non-negative (count, 2048) float32 "embeddings" (like pooled ReLUs)."""
    rng = np.random.default_rng(seed)
    return rng.gamma(1.0, 0.5, size=(count, EMBEDDING_WIDTH)).astype(np.float32)


class ToyEmbedder:
    """What :class:`SearchEngine` needs of an ``Embedder``, without a network.

    The "embedding" is a fixed random projection (``seed``) of the prepared image's 8 × 8
    colour thumbnail: the same pixels always give the same vector and different garments give
    different ones. ``heads`` (a ``ClassifierHeads``) make it predict like a fashion model.
    ``embedded`` counts the images it was asked to embed.
    """

    batch_size = 8

    def __init__(self, identity=None, heads=None, seed: int = 0, garment_colour=None) -> None:
        self.identity = identity if identity is not None else toy_identity()
        self.heads = heads
        self.garment_colour = garment_colour
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((8 * 8 * 3, EMBEDDING_WIDTH)).astype(np.float32)
        self.embedded = 0

    def embed_batch(self, images: np.ndarray) -> np.ndarray:
        pixels = np.asarray(images, dtype=np.float32)
        count, height, width, _ = pixels.shape
        thumbs = pixels.reshape(count, 8, height // 8, 8, width // 8, 3).mean(axis=(2, 4))
        self.embedded += count
        return (thumbs.reshape(count, -1) / 255.0 - 0.5) @ self._projection

    def embed_one(self, image: np.ndarray) -> np.ndarray:
        return self.embed_batch(image[np.newaxis])[0]

    def embed_files(self, paths: Sequence[Path]) -> np.ndarray:
        """Embeddings of image files, prepared exactly as a query image is."""
        from fashion_desktop.core.imaging import load_image, prepare_for_model

        return self.embed_batch(np.stack([prepare_for_model(load_image(p).image) for p in paths]))

    def predict(self, raw_embedding: np.ndarray, colours=None):
        return self.heads.predict(raw_embedding, colours=colours) if self.heads else None


def write_toy_index(
    directory: Path,
    embeddings: np.ndarray,
    metadata: Sequence[dict[str, str]],
    heads=None,
    dim: int | None = None,
    *,
    images: Sequence[Path] | None = None,
    catalogue: Path | None = None,
    fields: Sequence[str] | None = None,
    identity=None,
    ann: str = "auto",
    ann_settings=None,
) -> Path:
    """Write an index straight with ``write_index`` from toy ``embeddings``: no model, no build.

    Row ``i`` is ``metadata[i]`` (its ``id`` is the item id) with ``embeddings[i]`` (narrower
    than 2048 columns: zero-padded). Its image is ``images[i]`` when given, otherwise
    ``garment_image(i)`` is written to ``catalogue/images/<id>.jpg``; the catalogue folder
    defaults to ``directory.parent / "catalog"``, so index and catalogue can move together.
    ``fields`` default to the first row's keys, ``identity`` to :func:`toy_identity`; ``heads``
    store label signatures and ``dim`` a PCA projection; ``ann`` (auto, on, off) and
    ``ann_settings`` decide its ANN structure (:mod:`fashion_desktop.core.ann`). Returns
    ``directory``.
    """
    from fashion_desktop.core.index import ItemRecord, file_sha256, write_index

    catalogue = catalogue if catalogue is not None else directory.parent / "catalog"
    raw = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    if raw.shape[1] < EMBEDDING_WIDTH:
        raw = np.pad(raw, ((0, 0), (0, EMBEDDING_WIDTH - raw.shape[1])))
    if len(raw) != len(metadata) or (images is not None and len(images) != len(metadata)):
        raise ValueError("one embedding (and one image) per metadata row is needed")
    if images is None:
        (catalogue / "images").mkdir(parents=True, exist_ok=True)
        images = []
        for row, meta in enumerate(metadata):
            path = catalogue / "images" / f"{meta['id']}.jpg"
            garment_image(row).save(path, quality=92)
            images.append(path)
    records = []
    for meta, path in zip(metadata, images, strict=True):
        stat = Path(path).stat()
        records.append(
            ItemRecord(
                meta["id"],
                Path(path),
                file_sha256(Path(path)),
                stat.st_size,
                stat.st_mtime_ns,
                dict(meta),
            )
        )
    write_index(
        directory,
        records=records,
        raw_embeddings=raw,
        identity=identity if identity is not None else toy_identity(),
        catalogue_root=catalogue,
        fields=list(fields) if fields is not None else list(metadata[0]),
        dim=dim,
        heads=heads,
        ann=ann,
        ann_settings=ann_settings,
    )
    return directory


def toy_heads(seed: int = 0, sharpness: float = 0.1):
    """Random linear ``ClassifierHeads`` over 2048-d embeddings for the three fashion fields
    (article type, colour, gender), with the generated garments' classes; ``sharpness`` scales
    the kernels (larger: more confident predictions)."""
    from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads

    rng = np.random.default_rng(seed)
    classes = {
        "articleType": tuple(ARTICLE_TYPES),
        "baseColour": tuple(name for name, _ in COLOURS),
        "gender": ("Men", "Women"),
    }
    return ClassifierHeads(
        [
            ClassifierHead(
                name,
                (sharpness * rng.standard_normal((EMBEDDING_WIDTH, len(names)))).astype(np.float32),
                np.zeros(len(names), np.float32),
                names,
            )
            for name, names in classes.items()
        ]
    )


# ---------------------------------------------------------------- the bundled demo catalogue
@functools.cache
def _demo_images() -> tuple[Path, ...]:
    from fashion_desktop.resources import demo_catalogue_path

    return tuple(sorted((demo_catalogue_path() / "images").glob("*.jpg")))


def demo_image(index: int = 0) -> Path:
    """The ``index``-th demo catalogue image (listed once: tests call this from UI timers)."""
    return _demo_images()[index]


@functools.cache
def demo_item_count() -> int:
    """Items of the bundled demo catalogue (and so of the demo index)."""
    from fashion_desktop.resources import demo_catalogue_path

    with (demo_catalogue_path() / "styles.csv").open(encoding="utf-8", newline="") as styles:
        return sum(1 for _ in csv.DictReader(styles))


class CountingEmbedder:
    """Wraps a real embedder and counts model runs (filters must not re-run the model)."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.identity = embedder.identity
        self.heads = embedder.heads
        self.garment_colour = embedder.garment_colour
        self.batches = 0

    def embed_batch(self, images):
        self.batches += 1
        return self._embedder.embed_batch(images)

    def embed_with_feature_map(self, image):  # the garment localiser's pass
        return self._embedder.embed_with_feature_map(image)

    def predict(self, raw, colours=None):
        return self._embedder.predict(raw, colours)
