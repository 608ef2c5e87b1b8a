"""The garment colour measured on its pixels, and its fusion with the colour head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fd_testdata import ToyEmbedder, toy_heads
from PIL import Image, ImageDraw

from fashion_desktop.core.colour import srgb_to_lab
from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.garment_colour import (
    COLOUR_HEAD,
    GarmentColourModel,
    MeasuredColours,
    fit_colour_model,
    fuse_colour,
    garment_pixels,
    with_lighting_variation,
)
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.localise import embed_query_images

RGB = {"Red": (200, 30, 40), "Blue": (30, 60, 190), "Green": (40, 150, 60), "Black": (20, 20, 20)}


def product_shot(colour: tuple[int, int, int], rng: np.random.Generator) -> Image.Image:
    """A garment of ``colour`` (with some shading) on a white background."""
    image = Image.new("RGB", (60, 80), (255, 255, 255))
    garment = np.clip(np.array(colour) + rng.normal(0, 12, (50, 36, 3)), 0, 255).astype(np.uint8)
    image.paste(Image.fromarray(garment), (12, 15))
    return image


def photo(colour: tuple[int, int, int], wall: tuple[int, int, int]) -> Image.Image:
    """A garment of ``colour`` in the middle of a room: a ``wall`` and a darker floor."""
    image = Image.new("RGB", (300, 400), wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 280, 300, 400), fill=tuple(c // 2 for c in wall))
    draw.rectangle((90, 110, 210, 300), fill=colour)
    return image


@pytest.fixture(scope="module")
def colour_model() -> GarmentColourModel:
    rng = np.random.default_rng(0)
    garments, labels = [], []
    for name, rgb in RGB.items():
        for _ in range(12):
            garments.append(garment_pixels(product_shot(rgb, rng), photo=False))
            labels.append(name)
    garments, labels = with_lighting_variation(garments, labels)
    return fit_colour_model(garments, labels, [*RGB, "other"], codebook_size=16)


def test_a_product_shot_keeps_its_garment_and_drops_the_white() -> None:
    pixels, weights = garment_pixels(
        product_shot(RGB["Red"], np.random.default_rng(1)), photo=False
    )
    red = srgb_to_lab(np.array([RGB["Red"]], np.uint8))[0]
    assert np.median(np.linalg.norm(pixels - red, axis=1)) < 15
    assert len(pixels) < 60 * 80 and np.all(weights == 1)


def test_a_photo_weighs_the_garment_above_the_wall() -> None:
    pixels, weights = garment_pixels(photo(RGB["Blue"], (230, 225, 210)))
    blue = srgb_to_lab(np.array([RGB["Blue"]], np.uint8))[0]
    on_garment = np.linalg.norm(pixels - blue, axis=1) < 5
    assert on_garment.mean() < 0.25  # a fifth of the photo...
    assert weights[on_garment].sum() / weights.sum() > 0.6  # ...most of the colour evidence


def test_the_model_reads_garments_it_has_not_seen(colour_model) -> None:
    rng = np.random.default_rng(7)
    for name, rgb in RGB.items():
        shot = colour_model.probabilities(product_shot(rgb, rng), photo=False)
        assert colour_model.classes[int(np.argmax(shot))] == name
        in_a_room = colour_model.probabilities(photo(rgb, (235, 230, 220)))
        assert colour_model.classes[int(np.argmax(in_a_room))] == name
    # no training garment was "other": it is never predicted
    assert colour_model.probabilities(photo(RGB["Red"], (0, 0, 0)))[-1] < 1e-6


def test_the_localised_box_is_what_is_measured(colour_model) -> None:
    image = Image.new("RGB", (400, 200), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 40, 180, 160), fill=RGB["Red"])
    draw.rectangle((220, 40, 380, 160), fill=RGB["Green"])
    left = colour_model.probabilities(image, CropBox(0.0, 0.0, 0.5, 1.0))
    right = colour_model.probabilities(image, CropBox(0.5, 0.0, 1.0, 1.0))
    assert colour_model.classes[int(np.argmax(left))] == "Red"
    assert colour_model.classes[int(np.argmax(right))] == "Green"


def test_save_and_load_without_pickle(colour_model, tmp_path: Path) -> None:
    path = tmp_path / "garment_colour.npz"
    colour_model.save(path)
    loaded = GarmentColourModel.load(path)
    assert loaded.classes == colour_model.classes
    assert loaded.photo_weight == colour_model.photo_weight
    np.testing.assert_array_equal(loaded.kernel, colour_model.kernel)
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert set(data.files) == {"centres", "kernel", "bias", "classes", "photo_weight"}


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_an_unreadable_model_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garment_colour.npz"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="garment colour model"):
        GarmentColourModel.load(path)


def test_fusion_is_a_weighted_geometric_mean_over_the_heads_classes() -> None:
    head = np.array([0.7, 0.2, 0.1])
    pixels = np.array([0.1, 0.8])  # over ("Red", "Blue"): no "Green"
    classes, pixel_classes = ["Red", "Blue", "Green"], ["Red", "Blue"]
    assert fuse_colour(head, pixels, 0.0, classes, pixel_classes) == pytest.approx(head)
    fused = fuse_colour(head, pixels, 0.5, classes, pixel_classes)
    expected = np.sqrt(head * np.array([0.1, 0.8, 0.1]))  # Green keeps the head's share
    assert fused == pytest.approx(expected / expected.sum())
    assert fused.sum() == pytest.approx(1.0)
    assert np.argmax(fuse_colour(head, pixels, 0.9, classes, pixel_classes)) == 1


def test_only_measured_rows_are_fused(colour_model) -> None:
    classes = colour_model.classes
    probabilities = {
        COLOUR_HEAD: np.full((2, len(classes)), 1 / len(classes)),
        "gender": np.array([[0.5, 0.5], [0.9, 0.1]]),
    }
    blue = np.eye(len(classes))[classes.index("Blue")] * 0.9 + 0.1 / len(classes)
    fused = MeasuredColours(colour_model, [None, blue]).fused(probabilities, classes)
    assert fused[COLOUR_HEAD][0] == pytest.approx(probabilities[COLOUR_HEAD][0])
    assert classes[int(np.argmax(fused[COLOUR_HEAD][1]))] == "Blue"
    assert fused["gender"] is probabilities["gender"]
    # nothing measured (no colour model, or no photo among the queries): the heads' colour stands
    assert MeasuredColours.of(None, [blue]) is None
    assert MeasuredColours.of(colour_model, [None, None]) is None
    assert MeasuredColours.of(colour_model, [None, blue]) is not None


def test_the_search_measures_photos_but_not_product_shots(colour_model) -> None:
    heads = toy_heads(3)
    embedder = ToyEmbedder(heads=heads, garment_colour=colour_model)
    shot = product_shot(RGB["Green"], np.random.default_rng(3))
    batch = embed_query_images([shot, photo(RGB["Red"], (90, 90, 120))], embedder, None, "never")
    product, picture = batch.queries
    assert not product.photo and product.colour is None
    assert picture.photo and picture.colour is not None
    assert colour_model.classes[int(np.argmax(picture.colour))] == "Red"
    assert "colour" in batch.timings_ms
    without = embed_query_images([photo(RGB["Red"], (90, 90, 120))], ToyEmbedder(heads=heads), None)
    assert without.queries[0].colour is None and "colour" not in without.timings_ms
