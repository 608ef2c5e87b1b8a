"""End to end with the real model: the shared catalogue (``shared``) and the bundled demo index."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_desktop import resources
from fashion_desktop.core.builder import build_index
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.evaluation import embed_queries, evaluate
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.imaging import image_from_pil, load_image
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.search import SearchEngine

pytestmark = pytest.mark.model

ARTICLE_TYPES = (
    "Tshirts",
    "Shirts",
    "Casual Shoes",
    "Watches",
    "Sports Shoes",
    "Kurtas",
    "Handbags",
    "Heels",
    "Sunglasses",
    "Jeans",
)
PER_TYPE_INDEX = 20
PER_TYPE_QUERIES = 2
FIELDS = ("articleType", "gender", "masterCategory")


def write_generic_catalogue(folder: Path, rows: list[dict[str, str]], images: Path) -> Path:
    """A generic-layout catalogue: a CSV with absolute image paths into the shared folder."""
    folder.mkdir(parents=True)
    fields = ["id", "image", "gender", "masterCategory", "articleType", "baseColour"]
    with (folder / "catalogue.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "image": str(images / f"{row['id']}.jpg")})
    return folder


def pick(rows: list[dict[str, str]], split: str, per_type: int) -> list[dict[str, str]]:
    chosen: list[dict[str, str]] = []
    counts: Counter[str] = Counter()
    for row in rows:
        kind = row["articleType"]
        if row["split"] == split and kind in ARTICLE_TYPES and counts[kind] < per_type:
            counts[kind] += 1
            chosen.append(row)
    return chosen


@pytest.fixture(scope="module")
def shared_index(shared_catalog, shared_rows, bundled_embedder, tmp_path_factory):
    """About 200 ``train`` products of 10 article types, indexed with the bundled model."""
    root = tmp_path_factory.mktemp("shared-integration")
    train = pick(shared_rows, "train", PER_TYPE_INDEX)
    catalogue_dir = write_generic_catalogue(root / "train", train, shared_catalog / "images")
    report = build_index(read_catalogue(catalogue_dir), root / "index", bundled_embedder)
    assert report.skipped == [] and report.indexed == len(train)
    index = EmbeddingIndex.open(root / "index")
    yield index, root
    index.close()


@pytest.mark.slow
def test_unseen_products_find_their_kind(
    shared_index, shared_rows, shared_catalog, bundled_embedder
) -> None:
    index, root = shared_index
    assert len(index) == PER_TYPE_INDEX * len(ARTICLE_TYPES)
    val = pick(shared_rows, "val", PER_TYPE_QUERIES)
    assert len(val) == PER_TYPE_QUERIES * len(ARTICLE_TYPES)
    queries_dir = write_generic_catalogue(root / "val", val, shared_catalog / "images")
    query_set = embed_queries(read_catalogue(queries_dir), bundled_embedder)
    report = evaluate(index, query_set, k=5, fields=FIELDS)
    article = report.fields["articleType"]
    assert report.queries == len(val) and article.queries == len(val)
    # Ten equally common types: chance agreement is 0.1.
    assert article.precision > 0.6, report.to_json()
    assert article.hit_rate >= 0.9, report.to_json()
    assert report.fields["masterCategory"].precision > 0.8, report.to_json()

    # The heads say what each query looks like, mostly correctly.
    engine = SearchEngine(index, bundled_embedder)
    queries = [load_image(shared_catalog / "images" / f"{row['id']}.jpg") for row in val[::2]]
    responses = engine.search_images(queries, k=5)
    right = 0
    for response, row in zip(responses, val[::2], strict=True):
        assert len(response.hits) == 5
        scores = [hit.score for hit in response.hits]
        assert scores == sorted(scores, reverse=True) and 0.0 <= scores[-1] < scores[0] <= 1.0
        predicted = response.predicted["articleType"][0][0]
        right += predicted == row["articleType"]
    assert right >= 7, f"article type predicted right for {right}/10 queries"


@pytest.mark.slow
def test_filters_on_the_shared_index(shared_index, shared_catalog, shared_rows, bundled_embedder):
    index, _ = shared_index
    engine = SearchEngine(index, bundled_embedder)
    shirt = next(r for r in pick(shared_rows, "val", 1) if r["articleType"] == "Shirts")
    query = load_image(shared_catalog / "images" / f"{shirt['id']}.jpg")
    [response] = engine.search_images([query], k=5, filters=Filters.of({"articleType": "watches"}))
    assert len(response.hits) == 5
    assert all(hit.metadata["articleType"] == "Watches" for hit in response.hits)
    [plain] = engine.search_images([query], k=5)
    assert plain.hits[0].score > response.hits[0].score  # a shirt looks more like shirts


# -------------------------------------------------------------------------- demo index
@pytest.fixture(scope="module")
def demo_index():
    path = resources.demo_index_path()
    if not (path / "manifest.json").is_file():
        pytest.skip("demo index absent")
    index = EmbeddingIndex.open(path)
    yield index
    index.close()


def test_demo_index_matches_the_bundled_model(demo_index, bundled_embedder) -> None:
    assert demo_index.model["fingerprint"] == bundled_embedder.identity.fingerprint
    demo_index.check_model(bundled_embedder.identity)
    assert len(demo_index) >= 100
    assert demo_index.catalogue_root == resources.demo_catalogue_path().resolve()
    records = demo_index.all_records()
    assert all(Path(image).is_file() for _, image, *_ in records)


def test_demo_finds_re_encoded_items(demo_index, bundled_embedder) -> None:
    engine = SearchEngine(demo_index, bundled_embedder)
    rows = np.linspace(0, len(demo_index) - 1, 8).astype(int)
    items = demo_index.items(rows)
    queries = []
    for item in items:
        with Image.open(item.image_path) as image:
            rgb = image.convert("RGB")
        # A slightly cropped, re-compressed copy: similar pixels, different bytes.
        w, h = rgb.size
        queries.append(image_from_pil(rgb.crop((1, 1, w - 1, h - 1)), item.item_id))
    found = 0
    for item, response in zip(items, engine.search_images(queries, k=5), strict=True):
        found += response.hits[0].item_id == item.item_id
    assert found >= 7, f"only {found}/8 near-duplicates found themselves first"
