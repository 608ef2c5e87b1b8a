"""The on-disk index: validation of every file, exact top-k search, filters and the engine.

Uses an index of 20 generated garments built once per session with the random-init model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fd_testdata import COLOURS, garment_image, item_metadata

from fashion_desktop.core.embedder import ModelIdentity
from fashion_desktop.core.errors import FashionDesktopError, InvalidIndexError
from fashion_desktop.core.imaging import PREPROCESSING_ID, image_from_pil, load_image
from fashion_desktop.core.index import (
    EMBEDDINGS_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    VECTORS_FILE,
    EmbeddingIndex,
    normalise,
    normalise_filters,
)
from fashion_desktop.core.search import ModelNotReadyError, SearchEngine

pytestmark = pytest.mark.model

COUNT = 20


def meta(row_id: str) -> dict[str, str]:
    return item_metadata(int(row_id) - 1000)


def brute_force(index: EmbeddingIndex, query: np.ndarray, rows) -> list[int]:
    vectors = np.asarray(index.vectors)
    candidates = sorted(rows, key=lambda r: -float(vectors[r] @ query))
    return candidates


# ------------------------------------------------------------------------- opening
def test_index_opens_with_its_manifest(tiny_index: EmbeddingIndex, random_embedder) -> None:
    assert len(tiny_index) == COUNT
    assert tiny_index.vectors.shape == (COUNT, 2048)
    assert tiny_index.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(tiny_index.vectors, axis=1), 1.0, rtol=1e-5)
    assert tiny_index.model["fingerprint"] == random_embedder.identity.fingerprint
    assert tiny_index.model["preprocessing"] == PREPROCESSING_ID
    assert tiny_index.fields == ["id", "gender", "articleType", "baseColour", "productDisplayName"]
    assert tiny_index.projection is None and tiny_index.manifest["projection"] is None
    item = tiny_index.item(tiny_index.row_of("1007"))
    assert item.item_id == "1007" and item.metadata == meta("1007")
    assert item.image_path.is_file() and item.image_path.name == "1007.jpg"


def test_field_values_and_counts(tiny_index: EmbeddingIndex) -> None:
    genders = dict(tiny_index.field_values("gender"))
    assert genders == {"Men": 10, "Women": 10}
    assert tiny_index.value_counts("baseColour") == {name.casefold(): 4 for name, _ in COLOURS}
    articles = tiny_index.metadata_column("articleType")
    assert articles[:4] == ["Tshirts", "Jeans", "Watches", "Shirts"]
    assert tiny_index.row_of("no-such-id") is None


def test_index_moved_with_its_catalogue_finds_the_images(copied_tiny_index: Path) -> None:
    index = EmbeddingIndex.open(copied_tiny_index)
    try:
        assert index.catalogue_root == (copied_tiny_index.parent / "catalog").resolve()
        assert all(Path(image).is_file() for _, image, *_ in index.all_records())
    finally:
        index.close()


# --------------------------------------------------------------------- damaged indexes
def flip_byte(path: Path, offset: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def rewrite_manifest(index_dir: Path, **changes) -> None:
    path = index_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def open_error(index_dir: Path, **options) -> str:
    with pytest.raises(InvalidIndexError) as error:
        EmbeddingIndex.open(index_dir, **options)
    return str(error.value)


@pytest.mark.parametrize("name", [VECTORS_FILE, ITEMS_FILE])
def test_flipped_byte_fails_the_checksum(copied_tiny_index: Path, name: str) -> None:
    flip_byte(copied_tiny_index / name)
    message = open_error(copied_tiny_index)
    assert f"corrupted ({name} does not match its checksum)" in message
    assert "index build" in message


def test_truncated_vectors_are_detected_even_without_hashing(copied_tiny_index: Path) -> None:
    path = copied_tiny_index / VECTORS_FILE
    path.write_bytes(path.read_bytes()[:-4096])
    assert "vectors.npy does not match its checksum" in open_error(copied_tiny_index, verify=False)


def test_missing_data_file(copied_tiny_index: Path) -> None:
    (copied_tiny_index / ITEMS_FILE).unlink()
    assert "incomplete: items.sqlite is missing" in open_error(copied_tiny_index)


def test_missing_manifest(copied_tiny_index: Path) -> None:
    (copied_tiny_index / MANIFEST_FILE).unlink()
    message = open_error(copied_tiny_index)
    assert "not a Fashion Desktop index (no manifest.json)" in message
    assert "fashion-desktop index build" in message


def test_unreadable_manifest(copied_tiny_index: Path) -> None:
    (copied_tiny_index / MANIFEST_FILE).write_bytes(b"{ not json")
    assert "manifest.json is unreadable" in open_error(copied_tiny_index)


def test_manifest_of_something_else(copied_tiny_index: Path) -> None:
    rewrite_manifest(copied_tiny_index, format="someone-elses-index")
    assert "is not a Fashion Desktop index" in open_error(copied_tiny_index)


def test_newer_format_version_asks_for_an_update(copied_tiny_index: Path) -> None:
    rewrite_manifest(copied_tiny_index, format_version=99)
    message = open_error(copied_tiny_index)
    assert "format version 99" in message and "reads version 1" in message
    assert "Update the application" in message


def test_older_format_version_asks_for_a_rebuild(copied_tiny_index: Path) -> None:
    rewrite_manifest(copied_tiny_index, format_version=0)
    assert "Rebuild the index" in open_error(copied_tiny_index)


def test_manifest_missing_a_key(copied_tiny_index: Path) -> None:
    path = copied_tiny_index / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["count"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert "manifest lacks count" in open_error(copied_tiny_index)


def test_manifest_count_disagreeing_with_the_vectors(copied_tiny_index: Path) -> None:
    rewrite_manifest(copied_tiny_index, count=COUNT + 1)
    message = open_error(copied_tiny_index)
    assert "is corrupted" in message and "(21, 2048) float32" in message


def test_other_embedding_size(copied_tiny_index: Path) -> None:
    rewrite_manifest(copied_tiny_index, embedding_dim=512)
    assert "512-d embeddings" in open_error(copied_tiny_index)


def test_index_path_errors(tmp_path: Path) -> None:
    assert "Index not found" in open_error(tmp_path / "absent")
    file = tmp_path / "index.zip"
    file.write_bytes(b"PK")
    assert "is a file" in open_error(file)


def test_corrupted_raw_embeddings_are_refused(copied_tiny_index: Path) -> None:
    flip_byte(copied_tiny_index / EMBEDDINGS_FILE)
    index = EmbeddingIndex.open(copied_tiny_index)  # searching does not need them
    try:
        with pytest.raises(InvalidIndexError, match=r"embeddings\.f16\.npy is missing or corrupt"):
            index.raw_embeddings()
    finally:
        index.close()


# ----------------------------------------------------------------------- model identity
def test_check_model_names_both_models(tiny_index: EmbeddingIndex) -> None:
    other = ModelIdentity("ab" * 32, "someone-elses.weights.h5")
    with pytest.raises(InvalidIndexError) as error:
        tiny_index.check_model(other)
    message = str(error.value)
    assert "random-init(seed=0)" in message and "someone-elses.weights.h5" in message
    assert tiny_index.model["fingerprint"][:12] in message and "abababababab" in message
    assert "Rebuild the index" in message


def test_check_model_refuses_other_preprocessing(tiny_index, random_embedder) -> None:
    identity = ModelIdentity(random_embedder.identity.fingerprint, "x", "pad-black|resize")
    with pytest.raises(InvalidIndexError, match="different image preprocessing"):
        tiny_index.check_model(identity)
    tiny_index.check_model(random_embedder.identity)  # the right model is accepted


def test_engine_refuses_an_embedder_for_another_model(tiny_index: EmbeddingIndex) -> None:
    impostor = SimpleNamespace(identity=ModelIdentity("cd" * 32, "impostor.npz"))
    with pytest.raises(InvalidIndexError, match=r"impostor\.npz"):
        SearchEngine(tiny_index, impostor)
    engine = SearchEngine(tiny_index)
    with pytest.raises(InvalidIndexError):
        engine.attach_embedder(impostor)
    assert not engine.ready


# ------------------------------------------------------------------------------ search
def test_search_is_exact_cosine_top_k(tiny_index: EmbeddingIndex) -> None:
    query = normalise(np.random.default_rng(3).normal(size=2048))
    ranked = tiny_index.search(query, 5)
    assert len(ranked) == 5
    assert [row for row, _ in ranked] == brute_force(tiny_index, query, range(COUNT))[:5]
    vectors = np.asarray(tiny_index.vectors)
    for row, score in ranked:
        assert score == pytest.approx(float(vectors[row] @ query), abs=1e-5)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_search_many_matches_single_searches(tiny_index: EmbeddingIndex) -> None:
    queries = np.asarray(tiny_index.vectors[:6])
    many = tiny_index.search_many(queries, 3, exclude_rows=[{i} for i in range(6)], chunk=4)
    for i, hits in enumerate(many):
        single = tiny_index.search(queries[i], 3, exclude_rows={i})
        assert [row for row, _ in hits] == [row for row, _ in single]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in single], atol=1e-6)
        assert i not in [row for row, _ in hits]


def test_k_larger_than_the_index(tiny_index: EmbeddingIndex) -> None:
    ranked = tiny_index.search(np.asarray(tiny_index.vectors[0]), 50, exclude_rows={0, 1})
    assert sorted(row for row, _ in ranked) == list(range(2, COUNT))


def test_query_of_the_wrong_size(tiny_index: EmbeddingIndex) -> None:
    with pytest.raises(ValueError, match="query has 8 dimensions, index 2048"):
        tiny_index.search(np.ones(8, np.float32), 5)


def filtered_ids(index: EmbeddingIndex, filters, k: int, query_row: int = 0) -> list[str]:
    ranked = index.search(np.asarray(index.vectors[query_row]), k, filters=filters)
    return [item.item_id for item in index.items([row for row, _ in ranked])]


def test_filter_gives_k_results_whenever_k_items_match(tiny_index: EmbeddingIndex) -> None:
    # Query with a red item, ask for yellow ones: post-filtering the top 5 would find few.
    red_row = tiny_index.row_of("1000")
    ids = filtered_ids(tiny_index, {"baseColour": "Yellow"}, 4, red_row)
    assert len(ids) == 4 and all(meta(i)["baseColour"] == "Yellow" for i in ids)
    query = np.asarray(tiny_index.vectors[red_row])
    yellow_rows = [r for r in range(COUNT) if meta(str(1000 + r))["baseColour"] == "Yellow"]
    expected = brute_force(tiny_index, query, yellow_rows)[:4]
    assert [tiny_index.row_of(i) for i in ids] == expected


def test_filter_with_fewer_matches_than_k(tiny_index: EmbeddingIndex) -> None:
    ids = filtered_ids(tiny_index, {"articleType": ["Jeans"], "baseColour": ["Blue"]}, 5)
    assert ids == ["1001"]  # the only blue jeans
    assert filtered_ids(tiny_index, {"articleType": "Jeans", "gender": "Men"}, 5) == []


def test_filters_or_within_a_field_and_across_fields(tiny_index: EmbeddingIndex) -> None:
    ids = filtered_ids(tiny_index, {"baseColour": ["Red", "Blue"]}, 10)
    assert len(ids) == 8 and {meta(i)["baseColour"] for i in ids} == {"Red", "Blue"}
    ids = filtered_ids(tiny_index, {"baseColour": ["Red", "Blue"], "gender": ["Women"]}, 10)
    assert sorted(ids) == ["1001", "1005", "1011", "1015"]


def test_filters_ignore_case(tiny_index: EmbeddingIndex) -> None:
    reference = filtered_ids(tiny_index, {"gender": "Women"}, 10)
    assert len(reference) == 10
    assert filtered_ids(tiny_index, {"gender": "women"}, 10) == reference
    assert filtered_ids(tiny_index, {"gender": ["WOMEN"]}, 10) == reference


def test_filter_on_a_value_no_item_has(tiny_index: EmbeddingIndex) -> None:
    assert filtered_ids(tiny_index, {"baseColour": "Mauve"}, 5) == []


def test_empty_filters_mean_no_filter(tiny_index: EmbeddingIndex) -> None:
    assert tiny_index.rows_matching({}) is None
    assert tiny_index.rows_matching({"gender": []}) is None
    assert normalise_filters({"gender": "Men", "x": []}) == {"gender": frozenset({"Men"})}
    assert len(filtered_ids(tiny_index, {"gender": []}, 5)) == 5


def test_unknown_filter_field(tiny_index: EmbeddingIndex) -> None:
    expected = "Unknown filter field colour; fields are: id, gender"
    with pytest.raises(FashionDesktopError, match=expected):
        tiny_index.rows_matching({"colour": "Red"})


# ---------------------------------------------------------------------------- engine
def test_byte_identical_query_is_never_returned(tiny_index, tiny_catalogue_dir, random_embedder):
    engine = SearchEngine(tiny_index, random_embedder)
    query = load_image(tiny_catalogue_dir / "images" / "1006.jpg")
    [response] = engine.search_images([query], k=COUNT)
    ids = [hit.item_id for hit in response.hits]
    assert "1006" not in ids and len(ids) == COUNT - 1
    # Another rendering of the same pixels (not the same bytes) is returned, first.
    [again] = engine.search_images([image_from_pil(query.image, "screenshot")], k=3)
    assert again.hits[0].item_id == "1006"
    assert again.hits[0].score == pytest.approx(1.0, abs=2e-3)


def test_search_response_contents(tiny_index, tiny_catalogue_dir, random_embedder) -> None:
    engine = SearchEngine(tiny_index, random_embedder)
    query = image_from_pil(garment_image(3, (64, 90)), "photo")
    [response] = engine.search_images([query], k=5, filters={"gender": "men"})
    assert response.query == "photo"
    assert [hit.rank for hit in response.hits] == [1, 2, 3, 4, 5]
    assert all(hit.metadata["gender"] == "Men" for hit in response.hits)
    assert set(response.timings_ms) == {"prepare", "embed", "search", "lookup"}
    assert response.predicted is None  # the random model has no heads
    assert response.vector.shape == (2048,)
    data = response.to_json()
    assert set(data) == {"query", "results", "timings_ms", "scoring", "query_kind"}
    assert data["scoring"] == "cosine similarity"
    first = data["results"][0]
    assert set(first) == {"rank", "id", "score", "similarity", "image", "metadata"}
    assert Path(first["image"]).is_absolute() and Path(first["image"]).is_file()
    # Searching again from the kept vector gives the same answer without the model.
    again = engine.search_vector(response.vector, k=5, filters={"gender": "men"})
    assert [h.item_id for h in again.hits] == [h.item_id for h in response.hits]


def test_blended_query_excludes_every_source_image(tiny_index, tiny_catalogue_dir, random_embedder):
    engine = SearchEngine(tiny_index, random_embedder)
    queries = [load_image(tiny_catalogue_dir / "images" / f"{i}.jpg") for i in (1000, 1005)]
    [response] = engine.search_images(queries, k=COUNT, blend=True)
    ids = {hit.item_id for hit in response.hits}
    assert "1000" not in ids and "1005" not in ids and len(ids) == COUNT - 2
    assert " + " in response.query


def test_search_item_excludes_itself(tiny_index: EmbeddingIndex) -> None:
    engine = SearchEngine(tiny_index)  # no model needed for "more like this"
    response = engine.search_item("1004", k=COUNT)
    ids = [hit.item_id for hit in response.hits]
    assert "1004" not in ids and len(ids) == COUNT - 1
    assert response.query == "more like 1004"
    with pytest.raises(FashionDesktopError, match="No item with id 9999"):
        engine.search_item("9999")


def test_k_below_one_is_refused(tiny_index: EmbeddingIndex) -> None:
    with pytest.raises(FashionDesktopError, match="k must be at least 1"):
        SearchEngine(tiny_index).search_item("1004", k=0)


def test_image_query_before_the_model_is_ready(tiny_index: EmbeddingIndex) -> None:
    engine = SearchEngine(tiny_index)
    assert not engine.ready
    with pytest.raises(ModelNotReadyError, match="still loading"):
        engine.search_images([image_from_pil(garment_image(0), "q")])
    assert engine.search_images([]) == []


def test_duplicate_images_in_the_catalogue_are_all_excluded(tmp_path, small_batch_embedder):
    from fd_testdata import write_styles_catalogue

    from fashion_desktop.core.builder import build_index
    from fashion_desktop.core.catalogue import read_catalogue

    folder = write_styles_catalogue(tmp_path / "catalog", range(8))
    shutil.copy(folder / "images" / "1002.jpg", folder / "images" / "1007.jpg")  # same bytes
    build_index(read_catalogue(folder), tmp_path / "index", small_batch_embedder)
    index = EmbeddingIndex.open(tmp_path / "index")
    try:
        engine = SearchEngine(index, small_batch_embedder)
        ids = [h.item_id for h in engine.search_item("1002", k=8).hits]
        assert "1002" not in ids and "1007" not in ids and len(ids) == 6
        query = load_image(folder / "images" / "1007.jpg")
        ids = [h.item_id for h in engine.search_images([query], k=8)[0].hits]
        assert "1002" not in ids and "1007" not in ids and len(ids) == 6
    finally:
        index.close()


def test_pca_projection_finds_the_data_subspace_exactly_and_deterministically() -> None:
    """The exact PCA (NumPy, no scikit-learn) recovers the directions the data varies along,
    keeps the most variance, and gives the same projection every time."""
    from fashion_desktop.core.index import Projection, normalise

    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.standard_normal((64, 8)))[0].T  # 8 orthonormal directions
    scales = np.linspace(8, 1, 8)[:, None]
    data = normalise(rng.standard_normal((500, 8)) @ (basis * scales) + 5 * basis[0])
    projection = Projection.fit(data, 8)
    assert projection.components.shape == (8, 64) and projection.dim == 8
    np.testing.assert_allclose(
        projection.components @ projection.components.T, np.eye(8), atol=1e-5
    )
    # the learnt directions span the data's subspace ...
    overlap = np.linalg.svd(projection.components @ basis.T, compute_uv=False)
    assert overlap.min() > 0.99
    # ... ordered by variance, and the same on a second fit
    variances = ((data - projection.mean) @ projection.components.T).var(axis=0)
    assert (np.diff(variances) <= 1e-6).all()
    again = Projection.fit(data, 8)
    np.testing.assert_array_equal(again.components, projection.components)
    with pytest.raises(ValueError, match="cannot project"):
        Projection.fit(data, 65)
