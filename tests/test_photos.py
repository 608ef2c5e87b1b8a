"""Photo queries: the photo simulator, exact-item recall and ``evaluate --photos``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import garment_image, item_metadata
from PIL import Image

from fashion_desktop.cli import EXIT_OK, main
from fashion_desktop.core.colour import colour_histogram, histogram_similarity, rerank, srgb_to_lab
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.evaluation import QuerySet, evaluate_photos, exact_item_recall
from fashion_desktop.core.imaging import decode_image
from fashion_desktop.core.localise import GarmentLocator, cam_box, looks_like_product_shot
from fashion_desktop.core.photosim import SCENES, cut_out, product_mask, simulate_photo


def product_on_white(size: tuple[int, int] = (60, 80)) -> Image.Image:
    """A red block with a white square inside it (a print), on a white background."""
    pixels = np.full((size[1], size[0], 3), 255, np.uint8)
    pixels[10:70, 12:48] = (200, 30, 30)
    pixels[30:40, 25:35] = 255
    return Image.fromarray(pixels, "RGB")


# ------------------------------------------------------------------------------ cut-out
def test_product_mask_keeps_white_inside_the_product() -> None:
    mask = product_mask(product_on_white())
    # The white print inside is not connected to the border; the edge may grow by one pixel.
    assert mask[10:70, 12:48].all()
    assert not mask[:9].any() and not mask[71:].any()
    assert not mask[:, :11].any() and not mask[:, 49:].any()


def test_product_mask_of_jpeg_garments_and_busy_images() -> None:
    buffer = io.BytesIO()
    garment_image(0, (60, 80)).save(buffer, "JPEG", quality=85)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    mask = product_mask(image)
    assert 0.2 < mask.mean() < 0.8 and not mask[0].any() and not mask[:, 0].any()
    noise = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    assert product_mask(Image.fromarray(noise, "RGB")).all()  # no plain border: keep it all


def test_cut_out_is_cropped_rgba() -> None:
    layer = cut_out(product_on_white())
    assert layer.mode == "RGBA" and 36 <= layer.width <= 38 and 60 <= layer.height <= 62
    alpha = np.asarray(layer.getchannel("A"))
    assert (
        alpha[layer.height // 2, layer.width // 2] == 255
    )  # the centre (the white print) stays opaque


# ---------------------------------------------------------------------------- simulator
def test_simulated_photos_are_deterministic_and_varied() -> None:
    product = garment_image(1, (60, 80))
    first = simulate_photo(product, np.random.default_rng([0, 7]))
    again = simulate_photo(product, np.random.default_rng([0, 7]))
    other = simulate_photo(product, np.random.default_rng([1, 7]))
    assert first.data == again.data and first.box == again.box and first.scene == again.scene
    assert first.data != other.data
    assert first.data[:2] == b"\xff\xd8"  # JPEG: compression is part of the simulation
    decoded = decode_image(first.data, "photo")
    assert decoded.size == first.image.size and max(decoded.size) >= 360


@pytest.mark.parametrize("scene", SCENES)
def test_every_scene_places_the_garment_where_its_box_says(scene: str) -> None:
    product = product_on_white()
    distractors = [garment_image(2, (60, 80)), garment_image(3, (60, 80))]
    for seed in range(2):
        photo = simulate_photo(
            product,
            np.random.default_rng(seed),
            scenes=[scene],
            fraction=(0.5, 0.6),
            distractors=distractors,
        )
        assert photo.scene == scene and 0.5 <= photo.fraction <= 0.6
        left, top, right, bottom = photo.box
        assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
        # The garment's larger side is about the fraction asked for (the camera warps a little).
        assert 0.3 < max(right - left, bottom - top) <= 1.0
        # The box holds the red garment: its pixels are redder there than in the whole photo.
        pixels = np.asarray(photo.image, dtype=np.float32)
        height, width = pixels.shape[:2]
        inside = pixels[
            int(top * height) : int(bottom * height), int(left * width) : int(right * width)
        ]
        redness = lambda p: float((p[..., 0] - p[..., 1:].mean(axis=-1)).mean())  # noqa: E731
        assert redness(inside) > redness(pixels)


# ------------------------------------------------------------------------ recall metric
def test_exact_item_recall_and_mrr() -> None:
    rankings = [[4, 2, 9], [1, 4, 2], [7, 8, 9], [3]]
    recall, mrr = exact_item_recall([4, 4, 4, 3], rankings, (1, 3))
    assert recall == {1: 0.5, 3: 0.75}  # found first twice, second once, never once
    assert mrr == pytest.approx((1 + 1 / 2 + 0 + 1) / 4)
    assert exact_item_recall([], [], (1, 5)) == ({1: 0.0, 5: 0.0}, 0.0)


def fake_photos(index, ids: list[str], rows: list[int], scenes: list[str]) -> QuerySet:
    """Photos whose embeddings are exactly the stored vectors of ``rows``."""
    raw = np.asarray(index.vectors)[rows]
    meta = [{"id": i, "scene": s} for i, s in zip(ids, scenes, strict=True)]
    return QuerySet(meta, [""] * len(ids), raw, [], index.model["fingerprint"], ids)


@pytest.mark.model
def test_evaluate_photos_on_the_tiny_index(tiny_index) -> None:
    ids = [tiny_index.item(row).item_id for row in range(len(tiny_index))]
    # Photos 0 and 1 look exactly like their items; photo 2 looks like item 5 but shows item 6;
    # photo 3 shows an item the index lacks.
    photos = fake_photos(tiny_index, [ids[0], ids[1], ids[6], "nope"], [0, 1, 5, 2], list("aabb"))
    report = evaluate_photos(tiny_index, photos, ks=(5, 1))
    assert report.ks == (1, 5) and report.queries == 3 and report.not_in_index == ["nope"]
    assert report.recall[1] == pytest.approx(2 / 3)
    assert report.groups["a"]["R@1"] == 1.0 and report.groups["b"]["R@1"] == 0.0
    assert report.groups["b"]["queries"] == 1.0
    data = report.to_json()
    assert data["mode"] == "photos" and data["recall"]["R@1"] == pytest.approx(0.6667)
    assert data["not_in_index"] == 1 and set(data["groups"]) == {"a", "b"}


@pytest.mark.model
def test_evaluate_photos_refuses_what_it_cannot_score(tiny_index) -> None:
    with pytest.raises(FashionDesktopError, match="None of the 1 photos"):
        evaluate_photos(tiny_index, fake_photos(tiny_index, ["nope"], [0], ["a"]))
    photos = fake_photos(tiny_index, [tiny_index.item(0).item_id], [0], ["a"])
    photos.fingerprint = "0" * 64
    with pytest.raises(FashionDesktopError, match="another model"):
        evaluate_photos(tiny_index, photos)


# --------------------------------------------------------------------------------- CLI
def write_photo_catalogue(folder: Path, indices: list[int], seed: int = 0) -> Path:
    """Simulated photos of tiny-catalogue items in the generic layout, ``id`` = the item."""
    (folder / "photos").mkdir(parents=True)
    rows = []
    for index in indices:
        meta = item_metadata(index)
        photo = simulate_photo(garment_image(index), np.random.default_rng([seed, index]))
        (folder / "photos" / f"{meta['id']}.jpg").write_bytes(photo.data)
        rows.append({"image": f"photos/{meta['id']}.jpg", **meta, "scene": photo.scene})
    path = folder / "photos.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.model
def test_cli_evaluates_photos_beside_catalogue_queries(
    capsys, cached_model_loading, tiny_index_dir, tiny_catalogue_dir, tmp_path
) -> None:
    photos = write_photo_catalogue(tmp_path / "photos", [0, 3, 7])
    queries = tmp_path / "queries"
    shutil.copytree(tiny_catalogue_dir, queries)
    args = ["evaluate", "--index", tiny_index_dir, "--weights", "random", "--fields", "gender"]
    code = main([str(a) for a in [*args, "--photos", photos, "--queries", queries, "--json"]])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["catalogue"]["mode"] == "queries" and data["catalogue"]["queries"] == 20
    assert data["photos"]["queries"] == 3 and set(data["photos"]["recall"]) == {"R@1", "R@5"}
    code = main([str(a) for a in [*args, "--photos", photos, "-k", "3"]])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "photos: 3 queries against 20 items" in out and "R@3" in out
    assert "leave-one-out" not in out  # photos alone: no catalogue-style default


@pytest.mark.model
def test_cli_reports_labelled_real_photos_in_one_table(
    capsys, cached_model_loading, tiny_index_dir, tiny_catalogue_dir, tmp_path
) -> None:
    """A labelled photo CSV (any subset of label columns; empty labels skipped per field) is
    scored per field beside the catalogue-style queries and the synthetic photos."""
    photos = write_photo_catalogue(tmp_path / "photos", [0, 3, 7])
    rows = list(csv.DictReader(photos.open(encoding="utf-8")))
    labelled = tmp_path / "photos" / "labelled.csv"
    with labelled.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["image", "articleType", "gender", "notes"])
        writer.writeheader()
        for n, row in enumerate(rows):  # the second photo has no gender label
            gender = "" if n == 1 else row["gender"]
            writer.writerow(
                {
                    "image": row["image"],
                    "articleType": row["articleType"],
                    "gender": gender,
                    "notes": "x",
                }
            )
    queries = tmp_path / "queries"
    shutil.copytree(tiny_catalogue_dir, queries)
    args = ["evaluate", "--index", tiny_index_dir, "--weights", "random"]
    args += ["--fields", "articleType,gender"]
    common = [*args, "--labelled-photos", labelled, "--queries", queries, "--photos", photos]
    code = main([str(a) for a in [*common, "--json"]])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    data = json.loads(captured.out)
    real = data["labelled_photos"]
    assert real["queries"] == 3 and set(real["fields"]) == {"articleType", "gender"}
    assert (
        real["fields"]["gender"]["queries"] == 2 and real["fields"]["articleType"]["queries"] == 3
    )
    assert data["catalogue"]["queries"] == 20 and data["photos"]["queries"] == 3
    code = main([str(a) for a in common])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "catalogue-style: 20 queries" in out and "real photos: 3 queries" in out
    header = next(line for line in out.splitlines() if line.startswith("field"))
    assert header.split().count("P@k") == 2  # one table, a column group per query set
    gender_row = next(line for line in out.splitlines() if line.startswith("gender"))
    assert gender_row.split()[-1] == "2"  # the photo without a gender label is skipped
    assert "exact item" in out
    bad = tmp_path / "photos" / "unlabelled.csv"
    bad.write_text("image,notes\n" + rows[0]["image"] + ",x\n", encoding="utf-8")
    code = main([str(a) for a in [*args, "--labelled-photos", bad]])
    assert code != EXIT_OK and "no label column" in capsys.readouterr().err


# -------------------------------------------------------------------------- localisation
def test_product_shots_and_photos_are_told_apart() -> None:
    assert looks_like_product_shot(product_on_white())
    grey = Image.new("RGB", (60, 80), (200, 200, 205))
    assert looks_like_product_shot(grey)  # a plain studio background counts as a product shot
    photo = simulate_photo(product_on_white(), np.random.default_rng(3), scenes=["clutter"])
    assert not looks_like_product_shot(photo.image)


def test_cam_box_maps_the_padded_square_back_to_the_image() -> None:
    activation = np.zeros((7, 7), np.float32)
    activation[1:3, 4:6] = 1.0  # upper right of the square the model saw
    box = cam_box(activation, (224, 224), threshold=0.9, margin=0.0, min_side=0.0)
    assert box.left == pytest.approx(4.5 / 7, abs=0.05) and box.right == pytest.approx(
        5.5 / 7, abs=0.05
    )
    assert box.top == pytest.approx(1.5 / 7, abs=0.05) and box.bottom == pytest.approx(
        2.5 / 7, abs=0.05
    )
    # A landscape image 448 × 224 is padded by 112 px above and below: rows map differently.
    wide = cam_box(activation, (448, 224), threshold=0.9, margin=0.0, min_side=0.0)
    assert wide.left == pytest.approx(box.left, abs=1e-6)
    assert wide.top == pytest.approx((1.5 / 7 * 448 - 112) / 224, abs=0.1)
    flat = cam_box(np.ones((7, 7)), (100, 100))
    assert (flat.left, flat.top, flat.right, flat.bottom) == (0.0, 0.0, 1.0, 1.0)
    small = cam_box(activation, (224, 224), threshold=0.9, margin=0.0, min_side=0.5)
    assert small.right - small.left == pytest.approx(0.5)


def embedder_with_heads(random_embedder):
    """The random-init network with a random three-class article-type head."""
    from fashion_desktop.core.embedder import Embedder
    from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(2048, 3)).astype(np.float32)
    head = ClassifierHead("articleType", kernel, np.zeros(3, np.float32), ("a", "b", "c"))
    return Embedder(random_embedder.network, random_embedder.identity, ClassifierHeads([head]))


def test_cam_box_peak_only_ignores_a_second_object() -> None:
    activation = np.zeros((7, 7), np.float32)
    activation[1:3, 0:2] = 1.0  # the garment
    activation[5, 5] = 0.8  # something else
    both = cam_box(activation, (224, 224), threshold=0.5, margin=0.0, min_side=0.0, peak_only=False)
    peak = cam_box(activation, (224, 224), threshold=0.5, margin=0.0, min_side=0.0, peak_only=True)
    assert both.right > 0.7 and both.bottom > 0.7
    assert peak.right < 0.4 and peak.bottom < 0.5


@pytest.mark.model
def test_garment_locator_frame_embedding_is_the_model_embedding(random_embedder) -> None:
    from fashion_desktop.core.imaging import prepare_for_model

    with pytest.raises(ValueError, match="articleType"):
        GarmentLocator(random_embedder)
    embedder = embedder_with_heads(random_embedder)
    photo = simulate_photo(product_on_white(), np.random.default_rng(1)).image
    found = GarmentLocator(embedder).locate(photo)
    expected = embedder.embed_one(prepare_for_model(photo))
    assert np.allclose(found.frame_embedding, expected, rtol=1e-3, atol=1e-4)
    assert found.activation.shape == (7, 7)
    assert 0 <= found.activation.min() <= found.activation.max() <= 1
    assert 0 <= found.box.left < found.box.right <= 1 and 0 <= found.box.top < found.box.bottom <= 1


@pytest.mark.model
def test_embed_queries_localises_photos_only_in_auto_mode(random_embedder, tmp_path) -> None:
    from fashion_desktop.core.catalogue import read_catalogue
    from fashion_desktop.core.evaluation import embed_queries

    embedder = embedder_with_heads(random_embedder)
    write_photo_catalogue(tmp_path / "photos", [0, 1])
    (tmp_path / "photos" / "products").mkdir()
    product_on_white().save(tmp_path / "photos" / "products" / "p.png")
    with (tmp_path / "photos" / "photos.csv").open("a", encoding="utf-8") as handle:
        handle.write("products/p.png,p,Men,Tshirts,Red,product,studio\n")
    photos = read_catalogue(tmp_path / "photos" / "photos.csv")
    auto = embed_queries(photos, embedder, localise="auto")
    assert [box is None for box in auto.boxes] == [False, False, True]
    assert auto.item_ids == ["1000", "1001", "p"] and auto.raw.shape == (3, 2048)
    always = embed_queries(photos, embedder, localise="always")
    assert all(box is not None for box in always.boxes)
    # the search's default is auto: photos on their garment's box, product shots whole
    assert embed_queries(photos, embedder).boxes == auto.boxes
    assert embed_queries(photos, embedder, localise="never").boxes == [None, None, None]
    plain = embed_queries(photos, embedder, localise="never")
    assert plain.boxes == [None] * 3
    assert np.allclose(plain.raw[2], auto.raw[2], rtol=1e-3, atol=1e-4)
    assert plain.photo == auto.photo == [True, True, False]
    with pytest.raises(FashionDesktopError, match="Cannot localise"):
        embed_queries(photos, random_embedder, localise="always")
    headless = embed_queries(photos, random_embedder, localise="auto")  # no head: whole images
    assert headless.boxes == [None] * 3


# -------------------------------------------------------------------------------- colour
def test_cielab_of_reference_colours() -> None:
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    assert lab[0] == pytest.approx([100, 0, 0], abs=0.1)
    assert lab[1] == pytest.approx([0, 0, 0], abs=0.1)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.2)


def test_colour_histogram_of_the_garment_only() -> None:
    image = product_on_white()
    whole = colour_histogram(image)
    garment = colour_histogram(image, product_mask(image).astype(np.float32))
    assert whole.sum() == pytest.approx(1) and garment.sum() == pytest.approx(1)
    red = colour_histogram(Image.new("RGB", (10, 10), (200, 30, 30)))
    white = colour_histogram(Image.new("RGB", (10, 10), (255, 255, 255)))
    # Masked, the garment is mostly red (its white print remains); unmasked, mostly white.
    assert histogram_similarity(garment, red[None])[0] > histogram_similarity(whole, red[None])[0]
    assert histogram_similarity(white, white[None])[0] == pytest.approx(1)
    assert histogram_similarity(white, red[None])[0] == pytest.approx(0)
    with pytest.raises(ValueError, match="shape"):
        colour_histogram(image, np.ones((3, 3)))


def test_rerank_adds_weighted_colour_similarity() -> None:
    hits = [(0, 0.9), (1, 0.85), (2, 0.5)]
    similarity = np.array([0.0, 1.0, 1.0])
    assert rerank(hits, similarity, 0.0, 2) == hits[:2]
    reranked = rerank(hits, similarity, 0.1, 3)
    assert [row for row, _ in reranked] == [1, 0, 2]
    assert reranked[0][1] == pytest.approx(0.95)


@pytest.mark.model
def test_engine_localises_photos_when_asked_and_a_crop_overrides(
    tiny_index, random_embedder
) -> None:
    from fashion_desktop.core.imaging import CropBox, image_from_pil
    from fashion_desktop.core.search import SearchEngine

    photo = image_from_pil(simulate_photo(product_on_white(), np.random.default_rng(3)).image, "p")
    shot = image_from_pil(product_on_white(), "shot")
    whole_photos = SearchEngine(tiny_index, embedder_with_heads(random_embedder), localise="never")
    (whole,) = whole_photos.search_images([photo])
    assert whole.found_box is None and "localise" not in whole.timings_ms and whole.photo
    engine = SearchEngine(tiny_index, embedder_with_heads(random_embedder))  # default: auto
    (found,) = engine.search_images([photo])
    assert found.found_box is not None and "localise" in found.timings_ms
    assert found.to_json()["garment_box"] == [round(v, 4) for v in found.found_box.as_tuple()]
    (plain,) = engine.search_images([shot])
    assert plain.found_box is None and "localise" not in plain.timings_ms
    (forced,) = engine.search_images([shot], localise="always")
    assert forced.found_box is not None
    (never,) = engine.search_images([photo], localise="never")
    assert never.found_box is None
    crop = CropBox(0.1, 0.1, 0.6, 0.6)
    (cropped,) = engine.search_images([photo], crop=crop)
    assert cropped.found_box is None  # the user's crop is searched as it is
    with pytest.raises(ValueError, match="localise"):
        SearchEngine(tiny_index, localise="sometimes")
    # Without a head to localise with, photos are searched whole.
    (whole,) = SearchEngine(tiny_index, random_embedder).search_images([photo])
    assert whole.found_box is None


@pytest.mark.model
def test_evaluate_ranks_a_mixed_query_set_exactly_as_search(random_embedder, tmp_path) -> None:
    """Product shots and photos in one query set: evaluate's top-k is the search's, query by
    query (same per-image photo decision, localisation and per-kind weights)."""
    from fd_testdata import write_styles_catalogue

    from fashion_desktop.core.builder import build_index
    from fashion_desktop.core.catalogue import read_catalogue
    from fashion_desktop.core.evaluation import embed_queries, rank_queries
    from fashion_desktop.core.imaging import load_image
    from fashion_desktop.core.index import EmbeddingIndex
    from fashion_desktop.core.scoring import Scoring
    from fashion_desktop.core.search import SearchEngine

    embedder = embedder_with_heads(random_embedder)
    catalogue = read_catalogue(write_styles_catalogue(tmp_path / "catalog", range(12)))
    build_index(catalogue, tmp_path / "index", embedder, dim="full")
    index = EmbeddingIndex.open(tmp_path / "index")
    write_photo_catalogue(tmp_path / "queries", [20, 21, 22])
    shots = tmp_path / "queries" / "shots"
    shots.mkdir()
    with (tmp_path / "queries" / "photos.csv").open("a", encoding="utf-8") as handle:
        for n in (23, 24, 25):
            garment_image(n).save(shots / f"{n}.png")
            meta = item_metadata(n)
            handle.write(f"shots/{n}.png,{','.join(meta.values())},studio\n")
    # Product shots are ranked with label agreement, photos by the cosine: both weights matter.
    scoring = Scoring({"articleType": 3.0}, photo_weights={})
    queries = embed_queries(
        read_catalogue(tmp_path / "queries" / "photos.csv"), embedder, localise="auto"
    )
    assert queries.photo == [True, True, True, False, False, False]
    rankings, described = rank_queries(index, queries, 5, scoring, exclude_own=True)
    assert "photos: cosine similarity" in described
    engine = SearchEngine(index, embedder, scoring=scoring, localise="auto")
    for path, ranked in zip(
        [item.image_path for item in read_catalogue(tmp_path / "queries" / "photos.csv").items],
        rankings,
        strict=True,
    ):
        (response,) = engine.search_images([load_image(path)], k=5)
        assert [hit.item_id for hit in response.hits] == [index.item(r).item_id for r in ranked]
    index.close()


def test_the_vectorised_fills_match_pillows_flood_fill_on_random_mazes() -> None:
    from PIL import ImageDraw

    from fashion_desktop.core.masks import connected_to, touching_border

    rng = np.random.default_rng(0)
    for _ in range(200):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        region = rng.random(shape) < rng.uniform(0.3, 0.8)
        flood = Image.fromarray(region.astype(np.uint8) * 255, "L").copy()
        width, height = flood.size
        for xy in [(x, y) for x in range(width) for y in (0, height - 1)] + [
            (x, y) for y in range(height) for x in (0, width - 1)
        ]:
            if flood.getpixel(xy) == 255:
                ImageDraw.floodfill(flood, xy, 128)
        np.testing.assert_array_equal(touching_border(region), np.asarray(flood) == 128)
        # and from one seed, as the localiser fills from the activation map's peak
        y, x = int(rng.integers(shape[0])), int(rng.integers(shape[1]))
        seed = np.zeros(shape, bool)
        seed[y, x] = True
        single = Image.fromarray(region.astype(np.uint8) * 255, "L").copy()
        if region[y, x]:
            ImageDraw.floodfill(single, (x, y), 128)
        np.testing.assert_array_equal(connected_to(region, seed), np.asarray(single) == 128)
