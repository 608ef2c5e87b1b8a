"""Decoding images robustly and preparing them exactly as the model was trained.

Every image the application touches, catalogue or query, goes through :func:`decode_image`, so
EXIF orientation, transparency, exotic modes and hostile files are handled in one place.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fashion_desktop.core.errors import ImageError

MODEL_INPUT_SIZE = 224
#: Identifies the preprocessing below; recorded in every index manifest.
PREPROCESSING_ID = "rgb-exif-alpha_on_white|pad_square_white_centre|resize224_pil_bilinear|caffe"
#: A 48-megapixel phone photo is fine; a 20,000 × 20,000 "image" is a decompression bomb.
MAX_PIXELS = 80_000_000
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Larger sides are reduced before padding so a 10,000 × 50 strip cannot allocate a huge canvas.
MAX_PAD_SIDE = 4096
WHITE = (255, 255, 255)
ORIENTATION_TAG = 0x0112
SUPPORTED_FORMATS = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# Our own limit is checked before decoding; Pillow's warning would only duplicate it.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class CropBox:
    """A region of an image in fractions of its width and height (0..1), e.g. from a crop tool."""

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        values = (self.left, self.top, self.right, self.bottom)
        if not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"crop box coordinates must lie in 0..1, got {values}")
        if self.right - self.left < 1e-3 or self.bottom - self.top < 1e-3:
            raise ValueError("crop box is empty")

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        box = (
            round(self.left * width),
            round(self.top * height),
            round(self.right * width),
            round(self.bottom * height),
        )
        return box[0], box[1], max(box[2], box[0] + 1), max(box[3], box[1] + 1)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) fractions."""
        return self.left, self.top, self.right, self.bottom


@dataclass(frozen=True)
class QueryImage:
    """A decoded RGB image with where it came from and the hash of its original bytes."""

    image: Image.Image
    sha256: str
    label: str
    path: Path | None = None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_image_bytes(path: str | Path) -> bytes:
    """Read a file meant to be an image, turning OS errors into a clear :class:`ImageError`."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(f"{path} is a folder, not an image.")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path.name} is {size / 2**20:.0f} MB; images over "
                f"{MAX_FILE_BYTES // 2**20} MB are not accepted."
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"No such file: {path}") from None
    except PermissionError:
        raise ImageError(f"Cannot read {path}: permission denied.") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image.") from None
    except OSError as error:
        raise ImageError(f"Cannot read {path}: {error.strerror or error}.") from None
    if not data:
        raise ImageError(f"{path.name} is empty (0 bytes), not an image.")
    return data


def decode_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode bytes to an upright 8-bit RGB image (first frame, alpha composited on white)."""
    if not data:
        raise ImageError(f"{name} is empty (0 bytes), not an image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{name} is {width:,} × {height:,} pixels "
                    f"({width * height / 1e6:.0f} megapixels); the limit is "
                    f"{MAX_PIXELS / 1e6:.0f} megapixels. Resize it and try again."
                )
            if width < 1 or height < 1:
                raise ImageError(f"{name} has no pixels.")
            image.seek(0)  # animated images: the first frame
            image.load()
            return to_rgb(upright(image))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not an image Fashion Desktop can read (use {SUPPORTED_FORMATS})."
        ) from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name} is too large to decode safely.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(
            f"{name} is damaged or incomplete and cannot be decoded ({error})."
        ) from None
    except MemoryError:
        raise ImageError(f"{name} is too large to decode in the available memory.") from None
    except Exception as error:  # Pillow's decoders raise many other types on malformed files
        raise ImageError(
            f"{name} is damaged and cannot be decoded ({type(error).__name__}: {error})."
        ) from None


#: EXIF orientation → the transposition that makes the image upright.
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation. Unlike ``ImageOps.exif_transpose`` this never re-encodes the
    EXIF block, which raises arbitrary errors (struct.error, TypeError) on malformed tags."""
    method = _ORIENTATION_FIX.get(image.getexif().get(ORIENTATION_TAG, 1))
    return image.transpose(method) if method is not None else image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        array = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    has_alpha = mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return image
    return image.convert("RGB")


def load_image(path: str | Path) -> QueryImage:
    """Read and decode an image file; errors name the file and say what is wrong."""
    path = Path(path)
    data = read_image_bytes(path)
    return QueryImage(decode_image(data, path.name), sha256_bytes(data), str(path), path)


def image_from_bytes(data: bytes, label: str = "pasted image") -> QueryImage:
    """Decode image data that has no file (clipboard, a browser drag, a webcam frame)."""
    return QueryImage(decode_image(data, label), sha256_bytes(data), label, None)


def image_from_pil(image: Image.Image, label: str) -> QueryImage:
    """Wrap an in-memory image (e.g. a captured frame); its hash is that of its pixels."""
    rgb = to_rgb(image)
    return QueryImage(rgb, sha256_bytes(rgb.tobytes()), label, None)


def prepare_for_model(image: Image.Image, crop: CropBox | None = None) -> np.ndarray:
    """The exact training preprocessing up to the caffe step: (224, 224, 3) uint8 RGB.

    Pad to a white square of side ``max(w, h)`` with the image centred at
    ``((s - w) // 2, (s - h) // 2)``, then resize with Pillow BILINEAR. The caffe mean/BGR step
    runs inside the exported model's graph (see :mod:`fashion_desktop.core.runtime`).
    """
    if crop is not None:
        image = image.crop(crop.to_pixels(*image.size))
    width, height = image.size
    if max(width, height) > MAX_PAD_SIDE:
        scale = MAX_PAD_SIDE / max(width, height)
        image = image.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR
        )
        width, height = image.size
    side = max(width, height)
    if width != height:
        canvas = Image.new("RGB", (side, side), WHITE)
        canvas.paste(image, ((side - width) // 2, (side - height) // 2))
        image = canvas
    if image.size != (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE):
        image = image.resize((MODEL_INPUT_SIZE, MODEL_INPUT_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def load_model_input(path: str | Path) -> tuple[np.ndarray, str]:
    """Read, decode and prepare one catalogue image: the model input and the file's sha256."""
    path = Path(path)
    data = read_image_bytes(path)
    return prepare_for_model(decode_image(data, path.name)), sha256_bytes(data)
