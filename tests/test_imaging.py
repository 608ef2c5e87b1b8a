"""Decoding and preparing images: hostile files, exotic modes, and the exact model preprocessing.

Every hostile input is generated here in a temporary folder; no binary fixture is committed.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import huge_png_header, write_hostile_corpus
from PIL import Image, ImageFile

from fashion_desktop.core.errors import ImageError
from fashion_desktop.core.imaging import (
    MAX_PIXELS,
    CropBox,
    decode_image,
    image_from_bytes,
    image_from_pil,
    load_image,
    load_model_input,
    prepare_for_model,
    sha256_bytes,
)


def reference_preparation(image: Image.Image) -> np.ndarray:
    """The preprocessing spelled out in ../shared/README.md, written independently."""
    w, h = image.size
    s = max(w, h)
    canvas = Image.new("RGB", (s, s), (255, 255, 255))
    canvas.paste(image, ((s - w) // 2, (s - h) // 2))
    return np.asarray(canvas.resize((224, 224), Image.BILINEAR), dtype=np.uint8)


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def assert_human_message(error: pytest.ExceptionInfo, name: str, *fragments: str) -> None:
    message = str(error.value)
    assert name in message, f"message should name the file: {message!r}"
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message


# ------------------------------------------------------------------------ hostile files
def test_truncated_jpeg_is_reported_as_damaged(tmp_path: Path) -> None:
    data = jpeg_bytes(Image.effect_noise((64, 64), 60).convert("RGB"))
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_human_message(error, "truncated.jpg", "damaged or incomplete")


def test_zero_byte_file_is_reported_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_human_message(error, "empty.jpg", "empty (0 bytes)")


def test_zero_bytes_without_a_file_are_reported_as_empty() -> None:
    with pytest.raises(ImageError, match=r"pasted image is empty \(0 bytes\)"):
        image_from_bytes(b"")


def test_text_file_named_jpg_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("id,name\n1,shirt\n", encoding="utf-8")
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_human_message(error, "notes.jpg", "not an image", "JPEG, PNG")


def test_decompression_bomb_is_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def spying_load(image: ImageFile.ImageFile):
        decoded.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    small = tmp_path / "small.png"
    Image.new("RGB", (6, 4), "red").save(small)
    load_image(small)
    assert set(decoded) == {(6, 4)}  # the spy sees pixel data being decoded
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png_header(30_000, 30_000))
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_human_message(error, "bomb.png", "30,000 × 30,000", "900 megapixels", "limit")
    assert f"{MAX_PIXELS / 1e6:.0f} megapixels" in str(error.value)
    assert set(decoded) == {(6, 4)}, "the 900-megapixel image must be refused before decoding"


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    folder = tmp_path / "photos.jpg"
    folder.mkdir()
    with pytest.raises(ImageError) as error:
        load_image(folder)
    assert_human_message(error, "photos.jpg", "is a folder")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as error:
        load_image(tmp_path / "nowhere.jpg")
    assert_human_message(error, "nowhere.jpg", "no such file")


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_permission_denied_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "secret.jpg"
    path.write_bytes(jpeg_bytes(Image.new("RGB", (8, 8), "red")))
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running with privileges that read any file (root)")
        with pytest.raises(ImageError) as error:
            load_image(path)
        assert_human_message(error, "secret.jpg", "permission denied")
    finally:
        path.chmod(0o644)


def test_permission_error_message_even_when_running_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(jpeg_bytes(Image.new("RGB", (8, 8), "red")))

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_human_message(error, "locked.jpg", "permission denied")


def test_corrupted_bytes_inside_a_valid_header(tmp_path: Path) -> None:
    data = bytearray(
        Image.new("RGB", (40, 40), "blue").tobytes()
    )  # raw pixels behind a PNG signature
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(data[:200]))
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert "garbage.png" in str(error.value)


def tiff_with_text_strip_offsets() -> bytes:
    """A TIFF whose StripOffsets tag holds text: Pillow's loader raises TypeError on it."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<HHI", data, entry, 273, 2, 4)  # → ASCII, 4 bytes
            data[entry + 8 : entry + 12] = b"abc\x00"
    return bytes(data)


def test_malformed_tiff_is_an_image_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "scan.tif"
    path.write_bytes(tiff_with_text_strip_offsets())
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_human_message(error, "scan.tif", "damaged")


# --------------------------------------------------------------------------- exotic modes
def test_cmyk_jpeg_becomes_rgb_with_the_right_colour(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path, quality=95)  # pure red
    image = load_image(path).image
    assert image.mode == "RGB"
    r, g, b = np.asarray(image)[16, 16].astype(int)
    assert r > 200 and g < 60 and b < 60, (r, g, b)


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 16384, 32768, 49152, 65535]], dtype=np.uint16)
    path = tmp_path / "depth16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_image(path).image)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 6, 3)
    grey = pixels[0, :, 0].astype(int)
    assert (pixels[0, :, 0] == pixels[0, :, 1]).all() and (pixels[0, :, 1] == pixels[0, :, 2]).all()
    np.testing.assert_allclose(grey, [0, 4, 64, 128, 191, 255], atol=1)


def test_dark_16_bit_image_stays_dark(tmp_path: Path) -> None:
    # All values ≤ 255 out of 65535: nearly black, and must not be mistaken for 8-bit data.
    values = np.full((4, 4), 200, dtype=np.uint16)
    path = tmp_path / "dark16.png"
    Image.fromarray(values).save(path)
    assert np.asarray(load_image(path).image).max() <= 1


def test_rgba_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((10, 20, 4), dtype=np.uint8)  # fully transparent black
    rgba[:, 10:] = (0, 0, 255, 255)  # opaque blue on the right
    rgba[:, 5] = (255, 0, 0, 128)  # half-transparent red column
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = np.asarray(load_image(path).image).astype(int)
    assert tuple(pixels[5, 0]) == (255, 255, 255)
    assert tuple(pixels[5, 15]) == (0, 0, 255)
    r, g, b = pixels[5, 5]
    assert r == 255 and 120 <= g <= 135 and 120 <= b <= 135


def test_palette_transparency_is_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.paste(1, (4, 0, 8, 8))
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    assert Image.open(path).mode == "P"
    pixels = np.asarray(load_image(path).image)
    assert tuple(pixels[0, 0]) == (255, 255, 255)  # transparent index → white, not black
    assert tuple(pixels[0, 6]) == (0, 200, 0)


def test_la_greyscale_with_alpha(tmp_path: Path) -> None:
    path = tmp_path / "la.png"
    Image.new("LA", (4, 4), (0, 0)).save(path)
    assert tuple(np.asarray(load_image(path).image)[0, 0]) == (255, 255, 255)


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue", "green")]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert getattr(Image.open(path), "n_frames", 1) == 3
    r, g, b = np.asarray(load_image(path).image)[8, 8].astype(int)
    assert r > 200 and g < 50 and b < 50


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), "blue")
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    image = load_image(path).image
    assert image.size == (20, 40)  # upright: width and height swapped
    pixels = np.asarray(image).astype(int)
    top, bottom = pixels[5, 10], pixels[35, 10]
    assert top[0] > 200 and top[2] < 60, "the stored left side must end up on top"
    assert bottom[2] > 200 and bottom[0] < 60


def malformed_exif(orientation: int) -> bytes:
    """EXIF whose XResolution (a RATIONAL tag) holds text: Pillow cannot re-encode it."""
    entries = [
        (0x0112, 3, 1, struct.pack("<HH", orientation, 0)),  # Orientation, SHORT
        (0x011A, 2, 4, b"abc\x00"),  # XResolution stored as ASCII
    ]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHI", tag, kind, n) + value for tag, kind, n, value in entries)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def test_malformed_exif_still_decodes_upright(tmp_path: Path) -> None:
    # ImageOps.exif_transpose raises TypeError here (it re-encodes the EXIF block); a photo
    # with one odd tag must still be readable, and a build must not crash on it.
    stored = Image.new("RGB", (40, 20), "blue")
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    path = tmp_path / "odd exif.jpg"
    stored.save(path, quality=95, exif=malformed_exif(6))
    assert Image.open(path).getexif().get(0x011A) == "abc"
    image = load_image(path).image
    assert image.size == (20, 40)
    assert np.asarray(image)[5, 10, 0] > 200


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(1, (255, 0, 0)), (2, (0, 0, 255)), (3, (0, 0, 255)), (4, (255, 0, 0)), (8, (0, 0, 255))],
)
def test_every_exif_orientation(tmp_path: Path, orientation: int, corner: tuple) -> None:
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    stored.save(path, exif=exif.tobytes())
    image = load_image(path).image
    assert image.size == ((40, 20) if orientation <= 4 else (20, 40))
    assert tuple(np.asarray(image)[1, 1]) == corner


def test_unicode_and_spaces_in_path(tmp_path: Path) -> None:
    folder = tmp_path / "Collection été 2024"
    folder.mkdir()
    path = folder / "été dress 01.jpg"
    data = jpeg_bytes(Image.new("RGB", (12, 18), "green"))
    path.write_bytes(data)
    query = load_image(path)
    assert query.image.size == (12, 18)
    assert query.sha256 == sha256_bytes(data)
    assert query.label == str(path)
    pixels, sha = load_model_input(path)
    assert pixels.shape == (224, 224, 3) and sha == sha256_bytes(data)
    broken = folder / "robe cassée ü.jpg"
    broken.write_bytes(data[:40])
    with pytest.raises(ImageError) as error:
        load_image(broken)
    assert "robe cassée ü.jpg" in str(error.value)


# ---------------------------------------------------------------------- preparing pixels
@pytest.mark.parametrize("size", [(60, 80), (80, 60), (33, 47), (224, 224), (300, 120)])
def test_prepare_for_model_follows_the_shared_preprocessing_spec(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    prepared = prepare_for_model(image)
    assert prepared.shape == (224, 224, 3) and prepared.dtype == np.uint8
    np.testing.assert_array_equal(prepared, reference_preparation(image))


def test_padding_is_white_and_centred() -> None:
    image = Image.new("RGB", (50, 100), (0, 0, 0))  # tall: white bands left and right
    prepared = prepare_for_model(image)
    assert (prepared[:, :50] == 255).all() and (prepared[:, -50:] == 255).all()
    assert (prepared[:, 60:164] == 0).all()


def test_extreme_aspect_strip_is_prepared_without_a_huge_canvas() -> None:
    strip = Image.new("RGB", (10_000, 5), (200, 0, 0))
    prepared = prepare_for_model(strip)
    assert prepared.shape == (224, 224, 3)
    assert (prepared[:100] == 255).all() and (prepared[-100:] == 255).all()
    centre = prepared[110:114, 10:214].astype(int)  # a faint red line across the middle
    assert (centre[..., 1].min(axis=0) < 250).all()
    assert (centre[..., 0] >= centre[..., 1]).all()


def test_long_strip_matches_the_spec_closely() -> None:
    # Above 4096 px a side is first reduced (no giant canvas); the result stays within a few
    # grey levels of the exact spec.
    strip = Image.new("RGB", (6000, 40), (200, 0, 0))
    difference = prepare_for_model(strip).astype(int) - reference_preparation(strip)
    assert np.abs(difference).max() <= 10


def test_one_pixel_image_fills_the_input() -> None:
    prepared = prepare_for_model(Image.new("RGB", (1, 1), (10, 20, 30)))
    assert prepared.shape == (224, 224, 3)
    assert (prepared == np.array([10, 20, 30], np.uint8)).all()


def test_one_pixel_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    pixels, _ = load_model_input(path)
    assert (pixels == np.array([10, 20, 30], np.uint8)).all()


def test_crop_box_selects_a_region() -> None:
    image = Image.new("RGB", (100, 100), (0, 0, 255))
    image.paste((255, 0, 0), (50, 0, 100, 100))  # right half red
    prepared = prepare_for_model(image, CropBox(0.5, 0.0, 1.0, 1.0))
    np.testing.assert_array_equal(prepared, reference_preparation(image.crop((50, 0, 100, 100))))
    assert (prepared[:, 70:150, 0] > 200).all() and (prepared[:, 70:150, 2] < 50).all()


@pytest.mark.parametrize(
    "box", [(-0.1, 0, 1, 1), (0, 0, 1.5, 1), (0.5, 0.5, 0.5, 0.9), (0.2, 0.6, 0.8, 0.6)]
)
def test_invalid_crop_boxes_are_rejected(box: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        CropBox(*box)


def test_image_from_pil_converts_and_hashes_pixels() -> None:
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    query = image_from_pil(rgba, "webcam")
    assert query.image.mode == "RGB" and tuple(np.asarray(query.image)[0, 0]) == (255, 255, 255)
    assert query.sha256 == sha256_bytes(query.image.tobytes())
    assert query.path is None and query.label == "webcam"


def test_decode_image_names_the_source_label() -> None:
    with pytest.raises(ImageError, match="clipboard image is not an image"):
        decode_image(b"hello world", "clipboard image")


def test_hostile_corpus_each_file_reads_or_fails_clearly(tmp_path: Path) -> None:
    expected = write_hostile_corpus(tmp_path)
    for name, fragment in expected.items():
        if fragment is None:
            pixels, _ = load_model_input(tmp_path / name)
            assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8, name
        else:
            with pytest.raises(ImageError) as error:
                load_model_input(tmp_path / name)
            assert name in str(error.value) and fragment in str(error.value)
