"""The on-disk index: validation of every file, exact top-k search, filters and the engine.

No model and no TensorFlow: indexes are written straight with ``write_index`` from toy
embeddings (:func:`fd_testdata.write_toy_index`), and image queries run through
:class:`fd_testdata.ToyEmbedder`, a fixed random projection of the prepared pixels.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import (
    COLOURS,
    TOY_FINGERPRINT,
    TOY_SOURCE,
    ToyEmbedder,
    garment_image,
    item_metadata,
    toy_embeddings,
    toy_heads,
    toy_identity,
    write_styles_catalogue,
    write_toy_index,
)

from fashion_desktop.core.embedder import ModelIdentity
from fashion_desktop.core.errors import FashionDesktopError, InvalidIndexError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.imaging import (
    PREPROCESSING_ID,
    image_from_pil,
    load_image,
    prepare_for_model,
)
from fashion_desktop.core.index import (
    EMBEDDINGS_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    PROJECTION_FILE,
    SIGNATURES_FILE,
    VECTORS_FILE,
    EmbeddingIndex,
    Projection,
    file_sha256,
    normalise,
    search_vectors_for,
)
from fashion_desktop.core.scoring import (
    CATALOGUE_LABEL_SHARE,
    COSINE_ONLY,
    Scoring,
    SignatureLayout,
    item_signatures,
    label_signatures,
)
from fashion_desktop.core.search import ModelNotReadyError, SearchEngine

COUNT = 20
METADATA = [item_metadata(i) for i in range(COUNT)]
FIELDS = ["id", "gender", "articleType", "baseColour", "productDisplayName"]


def meta(item_id: str) -> dict[str, str]:
    return item_metadata(int(item_id) - 1000)


def image_paths(catalogue: Path, metadata: list[dict[str, str]]) -> list[Path]:
    return [catalogue / "images" / f"{m['id']}.jpg" for m in metadata]


def brute_force(index: EmbeddingIndex, query: np.ndarray, rows) -> list[int]:
    vectors = np.asarray(index.vectors)
    return sorted(rows, key=lambda r: -float(vectors[r] @ query))


@pytest.fixture(scope="module")
def toy_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 generated garments (``catalog/``) and their index (``index/``), embedded by the
    ToyEmbedder so image queries and stored vectors agree (read-only: copy before changing)."""
    root = tmp_path_factory.mktemp("toy")
    catalogue = write_styles_catalogue(root / "catalog", range(COUNT))
    paths = image_paths(catalogue, METADATA)
    return write_toy_index(root / "index", ToyEmbedder().embed_files(paths), METADATA, images=paths)


@pytest.fixture
def toy_index(toy_index_dir: Path):
    index = EmbeddingIndex.open(toy_index_dir)
    yield index
    index.close()


@pytest.fixture
def copied_index(toy_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the toy index (with its catalogue beside it) that a test may damage."""
    shutil.copytree(toy_index_dir.parent / "catalog", tmp_path / "catalog")
    shutil.copytree(toy_index_dir, tmp_path / "index")
    return tmp_path / "index"


@pytest.fixture
def catalogue_dir(toy_index_dir: Path) -> Path:
    return toy_index_dir.parent / "catalog"


# ------------------------------------------------------------------------- opening
def test_index_opens_with_its_manifest(toy_index: EmbeddingIndex) -> None:
    assert len(toy_index) == COUNT
    assert toy_index.vectors.shape == (COUNT, 2048)
    assert toy_index.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(toy_index.vectors, axis=1), 1.0, rtol=1e-5)
    assert toy_index.model == toy_identity().to_json()
    assert toy_index.model["fingerprint"] == TOY_FINGERPRINT
    assert toy_index.model["preprocessing"] == PREPROCESSING_ID
    assert toy_index.fields == FIELDS
    assert toy_index.projection is None and toy_index.manifest["projection"] is None
    assert toy_index.signatures is None and toy_index.signature_layout is None
    item = toy_index.item(toy_index.row_of("1007"))
    assert item.row == 7 and item.item_id == "1007" and item.metadata == meta("1007")
    assert item.image_path.is_file() and item.image_path.name == "1007.jpg"
    assert item.sha256 == file_sha256(item.image_path)


def test_stored_vectors_are_the_normalised_float16_embeddings(toy_index_dir: Path) -> None:
    raw = ToyEmbedder().embed_files(image_paths(toy_index_dir.parent / "catalog", METADATA))
    index = EmbeddingIndex.open(toy_index_dir)
    try:
        stored = np.asarray(index.raw_embeddings())
        assert stored.dtype == np.float16 and stored.shape == (COUNT, 2048)
        np.testing.assert_array_equal(stored, raw.astype(np.float16))
        np.testing.assert_allclose(index.vectors, normalise(stored.astype(np.float32)), atol=1e-6)
        np.testing.assert_array_equal(index.vector(3), index.vectors[3])
    finally:
        index.close()


def test_item_lookups(toy_index: EmbeddingIndex) -> None:
    assert [item.item_id for item in toy_index.items([5, 2, 5])] == ["1005", "1002", "1005"]
    assert toy_index.items([]) == []
    assert toy_index.row_of("1013") == 13 and toy_index.row_of("no-such-id") is None
    records = toy_index.all_records()
    assert [r[0] for r in records] == [m["id"] for m in METADATA]
    item_id, image, sha256, size, mtime_ns = records[4]
    assert item_id == "1004"
    assert Path(image) == toy_index.item(4).image_path and Path(image).stat().st_size == size
    assert sha256 == file_sha256(Path(image)) and mtime_ns == Path(image).stat().st_mtime_ns
    assert toy_index.rows_with_sha256([records[2][2], records[9][2], "0" * 64]) == {2, 9}
    assert toy_index.rows_with_sha256([]) == set()


def test_field_values_and_counts(toy_index: EmbeddingIndex) -> None:
    genders = dict(toy_index.field_values("gender"))
    assert genders == {"Men": 10, "Women": 10}
    assert toy_index.value_counts("baseColour") == {name.casefold(): 4 for name, _ in COLOURS}
    articles = toy_index.metadata_column("articleType")
    assert articles[:4] == ["Tshirts", "Jeans", "Watches", "Shirts"] and len(articles) == COUNT
    assert toy_index.metadata_column("season") == [""] * COUNT


def test_index_moved_with_its_catalogue_finds_the_images(copied_index: Path) -> None:
    index = EmbeddingIndex.open(copied_index)
    try:
        assert index.catalogue_root == (copied_index.parent / "catalog").resolve()
        images = [Path(image) for _, image, *_ in index.all_records()]
        assert all(
            image.is_file() and image.is_relative_to(index.catalogue_root) for image in images
        )
    finally:
        index.close()


def test_index_moved_without_its_catalogue_uses_the_absolute_location(
    toy_index_dir: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere" / "deeper" / "index"
    shutil.copytree(toy_index_dir, moved)
    index = EmbeddingIndex.open(moved)
    try:
        assert index.catalogue_root == (toy_index_dir.parent / "catalog").resolve()
        assert index.item(0).image_path.is_file()
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


def replace_file(index_dir: Path, name: str, data: bytes) -> None:
    """Replace one data file *and* its manifest checksum: damage only the content checks see."""
    (index_dir / name).write_bytes(data)
    manifest = json.loads((index_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (index_dir / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


def npy_bytes(array: np.ndarray, tmp_path: Path) -> bytes:
    np.save(tmp_path / "replacement.npy", array)
    return (tmp_path / "replacement.npy").read_bytes()


def open_error(index_dir: Path, **options) -> str:
    with pytest.raises(InvalidIndexError) as error:
        EmbeddingIndex.open(index_dir, **options)
    return str(error.value)


@pytest.mark.parametrize("name", [VECTORS_FILE, ITEMS_FILE])
def test_flipped_byte_fails_the_checksum(copied_index: Path, name: str) -> None:
    flip_byte(copied_index / name)
    message = open_error(copied_index)
    assert f"corrupted ({name} does not match its checksum)" in message
    assert "index build" in message


def test_flipped_byte_is_missed_without_hashing_but_not_a_truncation(copied_index: Path) -> None:
    flip_byte(copied_index / VECTORS_FILE)
    EmbeddingIndex.open(copied_index, verify=False).close()  # same size: only hashing sees it
    path = copied_index / VECTORS_FILE
    path.write_bytes(path.read_bytes()[:-4096])
    assert "vectors.npy does not match its checksum" in open_error(copied_index, verify=False)


def test_missing_data_file(copied_index: Path) -> None:
    (copied_index / ITEMS_FILE).unlink()
    assert "incomplete: items.sqlite is missing" in open_error(copied_index)


def test_data_file_missing_from_the_manifest(copied_index: Path) -> None:
    manifest = json.loads((copied_index / MANIFEST_FILE).read_text(encoding="utf-8"))
    del manifest["files"][VECTORS_FILE]
    rewrite_manifest(copied_index, files=manifest["files"])
    assert "incomplete: vectors.npy is missing" in open_error(copied_index)


def test_missing_manifest(copied_index: Path) -> None:
    (copied_index / MANIFEST_FILE).unlink()
    message = open_error(copied_index)
    assert "not a Fashion Desktop index (no manifest.json)" in message
    assert "fashion-desktop index build" in message


@pytest.mark.parametrize("content", [b"{ not json", b"\xff\xfe\x00binary", b""])
def test_unreadable_manifest(copied_index: Path, content: bytes) -> None:
    (copied_index / MANIFEST_FILE).write_bytes(content)
    assert "manifest.json is unreadable" in open_error(copied_index)


def test_manifest_of_something_else(copied_index: Path) -> None:
    rewrite_manifest(copied_index, format="someone-elses-index")
    assert "is not a Fashion Desktop index" in open_error(copied_index)
    (copied_index / MANIFEST_FILE).write_text("[1, 2, 3]", encoding="utf-8")
    assert "is not a Fashion Desktop index" in open_error(copied_index)


def test_newer_format_version_asks_for_an_update(copied_index: Path) -> None:
    rewrite_manifest(copied_index, format_version=99)
    message = open_error(copied_index)
    assert "format version 99" in message and "reads version 1" in message
    assert "Update the application" in message and "Rebuild" not in message


def test_older_format_version_asks_for_a_rebuild(copied_index: Path) -> None:
    rewrite_manifest(copied_index, format_version=0)
    message = open_error(copied_index)
    assert "format version 0" in message and "Rebuild the index" in message
    assert "Update the application" not in message


@pytest.mark.parametrize("key", ["count", "model", "files", "projection"])
def test_manifest_missing_a_key(copied_index: Path, key: str) -> None:
    path = copied_index / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest[key]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert f"manifest lacks {key}" in open_error(copied_index)


def test_manifest_count_disagreeing_with_the_vectors(copied_index: Path) -> None:
    rewrite_manifest(copied_index, count=COUNT + 1)
    message = open_error(copied_index)
    assert "is corrupted" in message and "(21, 2048) float32" in message


def test_vectors_of_the_wrong_type_are_refused(copied_index: Path, tmp_path: Path) -> None:
    vectors = np.load(copied_index / VECTORS_FILE)
    replace_file(copied_index, VECTORS_FILE, npy_bytes(vectors.astype(np.float64), tmp_path))
    assert "vectors are (20, 2048) float64, expected (20, 2048) float32" in open_error(copied_index)


def test_vectors_that_numpy_cannot_read(copied_index: Path) -> None:
    replace_file(copied_index, VECTORS_FILE, b"\x93NUMPY but not really")
    assert "cannot be read" in open_error(copied_index)


def test_item_database_disagreeing_with_the_vectors(copied_index: Path, tmp_path: Path) -> None:
    fewer = write_toy_index(tmp_path / "fewer", toy_embeddings(COUNT - 1), METADATA[:-1])
    replace_file(copied_index, ITEMS_FILE, (fewer / ITEMS_FILE).read_bytes())
    assert "item count mismatch" in open_error(copied_index)


def test_item_database_that_is_not_sqlite(copied_index: Path) -> None:
    replace_file(copied_index, ITEMS_FILE, b"SQLite format 3\x00" + b"\x00" * 50)
    assert "item database unreadable" in open_error(copied_index)


def test_other_embedding_size(copied_index: Path) -> None:
    rewrite_manifest(copied_index, embedding_dim=512)
    assert "512-d embeddings" in open_error(copied_index)


def test_index_path_errors(tmp_path: Path) -> None:
    assert "Index not found" in open_error(tmp_path / "absent")
    file = tmp_path / "index.zip"
    file.write_bytes(b"PK")
    assert "is a file" in open_error(file)


def test_corrupted_raw_embeddings_are_refused(copied_index: Path) -> None:
    flip_byte(copied_index / EMBEDDINGS_FILE)
    index = EmbeddingIndex.open(copied_index)  # searching does not need them
    try:
        assert len(index.search(index.vector(0), 3)) == 3
        with pytest.raises(InvalidIndexError, match=r"embeddings\.f16\.npy is missing or corrupt"):
            index.raw_embeddings()
        (copied_index / EMBEDDINGS_FILE).unlink()
        with pytest.raises(InvalidIndexError, match=r"embeddings\.f16\.npy is missing or corrupt"):
            index.raw_embeddings()
    finally:
        index.close()


# ------------------------------------------------------------------------ projection
def test_projected_index_stores_the_pca_of_the_embeddings(tmp_path: Path) -> None:
    raw = toy_embeddings(COUNT, seed=5)
    write_toy_index(tmp_path / "index", raw, METADATA, dim=8)
    index = EmbeddingIndex.open(tmp_path / "index")
    try:
        assert index.manifest["projection"] == "pca" and index.manifest["vector_dim"] == 8
        assert index.vectors.shape == (COUNT, 8) and index.projection.dim == 8
        np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-5)
        unit = normalise(raw.astype(np.float16).astype(np.float32))
        components = index.projection.components
        np.testing.assert_allclose(index.projection.mean, unit.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(components @ components.T, np.eye(8), atol=1e-5)
        # the stored components span the data's top-8 principal directions (an SVD here)
        top = np.linalg.svd(unit - unit.mean(axis=0), full_matrices=False)[2][:8]
        assert np.linalg.svd(components @ top.T, compute_uv=False).min() > 0.999
        stored = np.asarray(index.raw_embeddings(), np.float32)  # kept for --update / re-project
        np.testing.assert_allclose(
            index.vectors, search_vectors_for(stored, index.projection), atol=1e-5
        )
        # "More like this" ranks in the projected space.
        response = SearchEngine(index).search_item("1003", k=5)
        expected_rows = [r for r in brute_force(index, index.vector(3), range(COUNT)) if r != 3]
        assert [hit.row for hit in response.hits] == expected_rows[:5]
        assert response.vector.shape == (8,)
    finally:
        index.close()
    flip_byte(tmp_path / "index" / PROJECTION_FILE, -20)
    message = open_error(tmp_path / "index")
    assert "projection.npz does not match its checksum" in message


def test_projection_needs_more_items_than_dimensions(tmp_path: Path) -> None:
    with pytest.raises(InvalidIndexError, match="Cannot project 5 items to 8 dimensions"):
        write_toy_index(tmp_path / "index", toy_embeddings(5), METADATA[:5], dim=8)


def test_full_dimension_means_no_projection(tmp_path: Path) -> None:
    write_toy_index(tmp_path / "index", toy_embeddings(COUNT), METADATA, dim=2048)
    assert not (tmp_path / "index" / PROJECTION_FILE).exists()
    index = EmbeddingIndex.open(tmp_path / "index")
    try:
        assert index.projection is None and index.vectors.shape == (COUNT, 2048)
    finally:
        index.close()


def test_pca_projection_finds_the_data_subspace_exactly_and_deterministically() -> None:
    """The exact PCA (NumPy, no scikit-learn) recovers the directions the data varies along,
    keeps the most variance, and gives the same projection every time."""
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


# ------------------------------------------------------------------------ signatures
def test_index_with_heads_stores_each_items_label_signature(tmp_path: Path) -> None:
    heads = toy_heads()
    raw = toy_embeddings(COUNT, seed=2)
    write_toy_index(tmp_path / "index", raw, METADATA, heads=heads)
    layout = SignatureLayout.from_heads(heads)
    index = EmbeddingIndex.open(tmp_path / "index")
    try:
        assert index.signature_layout == layout
        assert index.manifest["signatures"] == layout.to_json()
        assert index.manifest["signature_label_share"] == CATALOGUE_LABEL_SHARE
        assert index.signatures.shape == (COUNT, layout.width) == (COUNT, 4 + 5 + 2)
        read = raw.astype(np.float16).astype(np.float32)
        expected = item_signatures(heads, read, layout, METADATA)
        np.testing.assert_allclose(index.signature(7), expected[7], atol=1e-6)
        np.testing.assert_allclose(index.signatures, expected, atol=1e-6)
        # each head's share leans on the item's catalogue label
        colours = layout.slices()["baseColour"]
        named = dict(layout.heads)["baseColour"]
        for row, item in enumerate(METADATA):
            assert index.signatures[row, colours][named.index(item["baseColour"])] >= (
                CATALOGUE_LABEL_SHARE
            )
    finally:
        index.close()


def test_signatures_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    write_toy_index(tmp_path / "index", toy_embeddings(COUNT), METADATA, heads=toy_heads())
    signatures = np.load(tmp_path / "index" / SIGNATURES_FILE)
    replace_file(tmp_path / "index", SIGNATURES_FILE, npy_bytes(signatures[:, :5], tmp_path))
    assert "signatures have the wrong shape" in open_error(tmp_path / "index")


def test_index_without_heads_ignores_query_signatures(toy_index: EmbeddingIndex) -> None:
    query = toy_index.vector(0)
    plain = toy_index.search(query, 5)
    weighted = toy_index.search(
        query, 5, signature=np.ones(11, np.float32), head_weights={"articleType": 5.0}
    )
    assert weighted == plain


def agreement_scores(
    index: EmbeddingIndex, row: int, weights: dict[str, float]
) -> dict[int, float]:
    """Every other row's score for "more like ``row``", computed here from the stored arrays:
    (cosine + Σ w × min(1, q·s / q·q) per head) / (1 + Σ w)."""
    vectors, signatures = np.asarray(index.vectors), np.asarray(index.signatures)
    query, own = vectors[row], signatures[row]
    scores = {}
    for other in range(len(index)):
        if other == row:
            continue
        total = float(vectors[other] @ query)
        for head, columns in index.signature_layout.slices().items():
            q = own[columns]
            agreement = float(q @ signatures[other][columns]) / max(float(q @ q), 1e-6)
            total += weights.get(head, 0.0) * min(1.0, agreement)
        scores[other] = total / (1.0 + sum(weights.values()))
    return scores


def test_more_like_this_adds_label_agreement_scaled_to_0_1(tmp_path: Path) -> None:
    write_toy_index(tmp_path / "index", toy_embeddings(COUNT, seed=4), METADATA, heads=toy_heads(1))
    index = EmbeddingIndex.open(tmp_path / "index")
    try:
        engine = SearchEngine(index)  # the stored signatures are enough: no model
        weights = {"articleType": 2.0, "baseColour": 1.0}
        response = engine.search_item("1004", k=5, scoring=Scoring(weights))
        assert response.scoring == "cosine + 2 × articleType agreement + 1 × baseColour agreement"
        expected = agreement_scores(index, 4, weights)
        best = sorted(expected, key=lambda r: -expected[r])[:5]
        assert [hit.row for hit in response.hits] == best
        for hit in response.hits:
            assert hit.score == pytest.approx(expected[hit.row], abs=1e-5)
            assert hit.similarity == pytest.approx(float(index.vector(hit.row) @ index.vector(4)))
            assert 0.0 <= hit.score <= 1.0
        plain = engine.search_item("1004", k=5, scoring=COSINE_ONLY)
        assert plain.scoring == "cosine similarity"
        cosine_best = [r for r in brute_force(index, index.vector(4), range(COUNT)) if r != 4]
        assert [hit.row for hit in plain.hits] == cosine_best[:5]
        assert [h.score for h in plain.hits] == pytest.approx([h.similarity for h in plain.hits])
        assert [h.row for h in plain.hits] != best  # the agreement really changed the ranking
    finally:
        index.close()


# ----------------------------------------------------------------------- model identity
def test_check_model_names_both_models(toy_index: EmbeddingIndex) -> None:
    other = ModelIdentity("ab" * 32, "someone-elses.weights.h5")
    with pytest.raises(InvalidIndexError) as error:
        toy_index.check_model(other)
    message = str(error.value)
    assert TOY_SOURCE in message and "someone-elses.weights.h5" in message
    assert TOY_FINGERPRINT[:12] in message and "abababababab" in message
    assert "Rebuild the index" in message


def test_check_model_refuses_other_preprocessing(toy_index: EmbeddingIndex) -> None:
    identity = ModelIdentity(TOY_FINGERPRINT, "x", "pad-black|resize")
    with pytest.raises(InvalidIndexError, match="different image preprocessing"):
        toy_index.check_model(identity)
    toy_index.check_model(toy_identity())  # the right model is accepted (raises otherwise)


def test_engine_refuses_an_embedder_for_another_model(toy_index: EmbeddingIndex) -> None:
    impostor = ToyEmbedder(identity=ModelIdentity("cd" * 32, "impostor.npz"))
    with pytest.raises(InvalidIndexError, match=r"impostor\.npz"):
        SearchEngine(toy_index, impostor)
    engine = SearchEngine(toy_index)
    with pytest.raises(InvalidIndexError):
        engine.attach_embedder(impostor)
    assert not engine.ready and engine.embedder is None


# ------------------------------------------------------------------------------ search
def test_search_is_exact_cosine_top_k(toy_index: EmbeddingIndex) -> None:
    query = normalise(np.random.default_rng(3).normal(size=2048))
    ranked = toy_index.search(query, 5)
    assert len(ranked) == 5
    assert [row for row, _ in ranked] == brute_force(toy_index, query, range(COUNT))[:5]
    vectors = np.asarray(toy_index.vectors)
    for row, score in ranked:
        assert score == pytest.approx(float(vectors[row] @ query), abs=1e-5)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_search_many_matches_single_searches(toy_index: EmbeddingIndex) -> None:
    queries = np.asarray(toy_index.vectors[:6])
    many = toy_index.search_many(queries, 3, exclude_rows=[{i} for i in range(6)], chunk=4)
    assert len(many) == 6
    for i, hits in enumerate(many):
        single = toy_index.search(queries[i], 3, exclude_rows={i})
        assert [row for row, _ in hits] == [row for row, _ in single]
        assert [row for row, _ in hits] == [
            r for r in brute_force(toy_index, queries[i], range(COUNT)) if r != i
        ][:3]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in single], atol=1e-6)


def test_search_many_with_one_filter_for_every_query(toy_index: EmbeddingIndex) -> None:
    women = Filters.of({"gender": "Women"})
    many = toy_index.search_many(np.asarray(toy_index.vectors[:3]), 4, filters=women)
    for i, hits in enumerate(many):
        rows = [row for row, _ in hits]
        assert all(row % 2 == 1 for row in rows)  # odd rows are the women's items
        assert rows == brute_force(toy_index, toy_index.vector(i), range(1, COUNT, 2))[:4]


def test_k_larger_than_the_index(toy_index: EmbeddingIndex) -> None:
    ranked = toy_index.search(np.asarray(toy_index.vectors[0]), 50, exclude_rows={0, 1})
    assert sorted(row for row, _ in ranked) == list(range(2, COUNT))


def test_query_of_the_wrong_size(toy_index: EmbeddingIndex) -> None:
    with pytest.raises(ValueError, match="query has 8 dimensions, index 2048"):
        toy_index.search(np.ones(8, np.float32), 5)


def filtered_ids(index: EmbeddingIndex, filters, k: int, query_row: int = 0) -> list[str]:
    ranked = index.search(np.asarray(index.vectors[query_row]), k, filters=Filters.of(filters))
    return [item.item_id for item in index.items([row for row, _ in ranked])]


def test_filter_gives_k_results_whenever_k_items_match(toy_index: EmbeddingIndex) -> None:
    # Query with a red item, ask for yellow ones: post-filtering the top 5 would find few.
    red_row = toy_index.row_of("1000")
    ids = filtered_ids(toy_index, {"baseColour": "Yellow"}, 4, red_row)
    assert len(ids) == 4 and all(meta(i)["baseColour"] == "Yellow" for i in ids)
    query = np.asarray(toy_index.vectors[red_row])
    yellow_rows = [r for r in range(COUNT) if METADATA[r]["baseColour"] == "Yellow"]
    expected = brute_force(toy_index, query, yellow_rows)[:4]
    assert [toy_index.row_of(i) for i in ids] == expected


def test_filter_with_fewer_matches_than_k(toy_index: EmbeddingIndex) -> None:
    ids = filtered_ids(toy_index, {"articleType": ["Jeans"], "baseColour": ["Blue"]}, 5)
    assert ids == ["1001"]  # the only blue jeans
    assert filtered_ids(toy_index, {"articleType": "Jeans", "gender": "Men"}, 5) == []


def test_filters_or_within_a_field_and_across_fields(toy_index: EmbeddingIndex) -> None:
    ids = filtered_ids(toy_index, {"baseColour": ["Red", "Blue"]}, 10)
    assert len(ids) == 8 and {meta(i)["baseColour"] for i in ids} == {"Red", "Blue"}
    ids = filtered_ids(toy_index, {"baseColour": ["Red", "Blue"], "gender": ["Women"]}, 10)
    assert sorted(ids) == ["1001", "1005", "1011", "1015"]


def test_filters_ignore_case(toy_index: EmbeddingIndex) -> None:
    reference = filtered_ids(toy_index, {"gender": "Women"}, 10)
    assert len(reference) == 10 and all(meta(i)["gender"] == "Women" for i in reference)
    assert filtered_ids(toy_index, {"gender": "women"}, 10) == reference
    assert filtered_ids(toy_index, {"gender": ["WOMEN"]}, 10) == reference


def test_filter_on_a_value_no_item_has(toy_index: EmbeddingIndex) -> None:
    assert filtered_ids(toy_index, {"baseColour": "Mauve"}, 5) == []
    assert toy_index.rows_matching(Filters.of({"baseColour": "Mauve"})).tolist() == []


def test_rows_matching_is_sorted_and_exact(toy_index: EmbeddingIndex) -> None:
    rows = toy_index.rows_matching(Filters.of({"baseColour": ["green", "Black"]}))
    expected = [r for r in range(COUNT) if METADATA[r]["baseColour"] in ("Green", "Black")]
    assert rows.tolist() == expected
    again = toy_index.rows_matching(Filters.of({"baseColour": ["BLACK", "Green"]}))
    assert again.tolist() == expected


def test_empty_filters_mean_no_filter(toy_index: EmbeddingIndex) -> None:
    assert toy_index.rows_matching(None) is None
    assert toy_index.rows_matching(Filters()) is None
    assert toy_index.rows_matching(Filters.of({"gender": []})) is None
    assert Filters.of({"gender": "Men", "x": []}).to_dict() == {"gender": ["Men"]}
    unfiltered = filtered_ids(toy_index, None, 5)
    assert filtered_ids(toy_index, {"gender": []}, 5) == unfiltered and len(unfiltered) == 5


def test_unknown_filter_field(toy_index: EmbeddingIndex) -> None:
    with pytest.raises(FashionDesktopError) as error:
        toy_index.rows_matching(Filters.of({"colour": "Red"}))
    message = str(error.value)
    assert "Unknown filter field colour" in message and ", ".join(FIELDS) in message


# ---------------------------------------------------------------------------- engine
def test_byte_identical_query_is_never_returned(toy_index, catalogue_dir) -> None:
    engine = SearchEngine(toy_index, ToyEmbedder())
    query = load_image(catalogue_dir / "images" / "1006.jpg")
    [response] = engine.search_images([query], k=COUNT)
    ids = [hit.item_id for hit in response.hits]
    assert "1006" not in ids and len(ids) == COUNT - 1
    # Another rendering of the same pixels (not the same bytes) is returned, first.
    [again] = engine.search_images([image_from_pil(query.image, "screenshot")], k=3)
    assert again.hits[0].item_id == "1006"
    assert again.hits[0].score == pytest.approx(1.0, abs=2e-3)


def test_search_response_contents(toy_index: EmbeddingIndex) -> None:
    engine = SearchEngine(toy_index, ToyEmbedder())
    query = image_from_pil(garment_image(3, (64, 90)), "photo")
    [response] = engine.search_images([query], k=5, filters=Filters.of({"gender": "men"}))
    assert response.query == "photo"
    assert [hit.rank for hit in response.hits] == [1, 2, 3, 4, 5]
    assert all(hit.metadata["gender"] == "Men" for hit in response.hits)
    scores = [hit.score for hit in response.hits]
    assert scores == sorted(scores, reverse=True)
    assert set(response.timings_ms) == {"prepare", "embed", "search", "lookup"}
    assert response.predicted is None  # a model without heads predicts nothing
    expected_vector = normalise(ToyEmbedder().embed_one(prepare_for_model(query.image)))
    np.testing.assert_allclose(response.vector, expected_vector, atol=1e-5)
    men = [r for r in range(COUNT) if METADATA[r]["gender"] == "Men"]
    assert [hit.row for hit in response.hits] == brute_force(toy_index, response.vector, men)[:5]
    data = response.to_json()
    assert set(data) == {"query", "results", "timings_ms", "scoring", "query_kind"}
    assert data["scoring"] == "cosine similarity"
    first = data["results"][0]
    assert set(first) == {"rank", "id", "score", "similarity", "image", "metadata"}
    assert first["id"] == response.hits[0].item_id and first["rank"] == 1
    assert Path(first["image"]).is_absolute() and Path(first["image"]).is_file()
    # Searching again from the kept vector gives the same answer without the model.
    again = engine.search_vector(response.vector, k=5, filters=Filters.of({"gender": "men"}))
    assert [h.item_id for h in again.hits] == [h.item_id for h in response.hits]


def test_blended_query_excludes_every_source_image(toy_index, catalogue_dir) -> None:
    engine = SearchEngine(toy_index, ToyEmbedder())
    queries = [load_image(catalogue_dir / "images" / f"{i}.jpg") for i in (1000, 1005)]
    [response] = engine.search_images(queries, k=COUNT, blend=True)
    ids = {hit.item_id for hit in response.hits}
    assert "1000" not in ids and "1005" not in ids and len(ids) == COUNT - 2
    assert response.query == f"{queries[0].label} + {queries[1].label}"
    # The blend is the mean of the two normalised embeddings, normalised again.
    blended = normalise(normalise(np.asarray(toy_index.vectors)[[0, 5]]).mean(axis=0))
    np.testing.assert_allclose(response.vector, blended, atol=2e-3)


def test_search_item_excludes_itself(toy_index: EmbeddingIndex) -> None:
    engine = SearchEngine(toy_index)  # no model needed for "more like this"
    response = engine.search_item("1004", k=COUNT)
    ids = [hit.item_id for hit in response.hits]
    assert "1004" not in ids and len(ids) == COUNT - 1
    expected = [r for r in brute_force(toy_index, toy_index.vector(4), range(COUNT)) if r != 4]
    assert [hit.row for hit in response.hits] == expected
    assert response.query == "more like 1004"
    with pytest.raises(FashionDesktopError, match="No item with id 9999"):
        engine.search_item("9999")


def test_k_below_one_is_refused(toy_index: EmbeddingIndex) -> None:
    with pytest.raises(FashionDesktopError, match="k must be at least 1"):
        SearchEngine(toy_index).search_item("1004", k=0)


def test_image_query_waits_for_the_model_until_one_is_attached(toy_index) -> None:
    engine = SearchEngine(toy_index)
    assert not engine.ready
    query = image_from_pil(garment_image(0), "q")
    with pytest.raises(ModelNotReadyError, match="still loading"):
        engine.search_images([query])
    assert engine.search_images([]) == []
    embedder = ToyEmbedder()
    engine.attach_embedder(embedder)
    assert engine.ready and engine.embedder is embedder
    [response] = engine.search_images([query], k=3)
    assert len(response.hits) == 3 and embedder.embedded == 1


def test_duplicate_images_in_the_catalogue_are_all_excluded(tmp_path: Path) -> None:
    folder = write_styles_catalogue(tmp_path / "catalog", range(8))
    shutil.copy(folder / "images" / "1002.jpg", folder / "images" / "1007.jpg")  # same bytes
    metadata = [item_metadata(i) for i in range(8)]
    paths = image_paths(folder, metadata)
    embedder = ToyEmbedder()
    write_toy_index(tmp_path / "index", embedder.embed_files(paths), metadata, images=paths)
    index = EmbeddingIndex.open(tmp_path / "index")
    try:
        engine = SearchEngine(index, embedder)
        ids = [h.item_id for h in engine.search_item("1002", k=8).hits]
        assert "1002" not in ids and "1007" not in ids and len(ids) == 6
        query = load_image(folder / "images" / "1007.jpg")
        ids = [h.item_id for h in engine.search_images([query], k=8)[0].hits]
        assert "1002" not in ids and "1007" not in ids and len(ids) == 6
    finally:
        index.close()


def heads_index(tmp_path: Path, embedder: ToyEmbedder) -> EmbeddingIndex:
    folder = write_styles_catalogue(tmp_path / "catalog", range(COUNT))
    paths = image_paths(folder, METADATA)
    write_toy_index(
        tmp_path / "index",
        embedder.embed_files(paths),
        METADATA,
        heads=embedder.heads,
        images=paths,
    )
    return EmbeddingIndex.open(tmp_path / "index")


def test_image_query_of_a_model_with_heads_predicts_and_ranks_by_agreement(
    tmp_path: Path,
) -> None:
    heads = toy_heads(3, sharpness=0.02)
    embedder = ToyEmbedder(heads=heads)
    index = heads_index(tmp_path, embedder)
    try:
        engine = SearchEngine(index, embedder, localise="never")
        weights = {"articleType": 2.0}
        scoring = Scoring(weights, photo_weights=weights)
        image = garment_image(3, (64, 90))
        [response] = engine.search_images([image_from_pil(image, "q")], k=5, scoring=scoring)
        assert set(response.predicted) == {"articleType", "baseColour", "gender"}
        assert response.scoring == "cosine + 2 × articleType agreement"
        raw = embedder.embed_one(prepare_for_model(image))
        expected_signature = label_signatures(heads, raw, index.signature_layout)[0]
        np.testing.assert_allclose(response.signature, expected_signature, atol=1e-5)
        assert all(0.0 <= hit.score <= 1.0 for hit in response.hits)
        assert any(hit.score != pytest.approx(hit.similarity) for hit in response.hits)
    finally:
        index.close()


def test_a_model_whose_heads_differ_from_the_index_ranks_by_cosine(tmp_path: Path) -> None:
    index = heads_index(tmp_path, ToyEmbedder(heads=toy_heads(3, sharpness=0.02)))
    try:
        only_colour = ClassifierHeads([toy_heads(3).heads["baseColour"]])
        engine = SearchEngine(index, ToyEmbedder(heads=only_colour), localise="never")
        [response] = engine.search_images([image_from_pil(garment_image(3), "q")], k=5)
        assert response.signature is None and response.scoring == "cosine similarity"
        assert [h.score for h in response.hits] == pytest.approx(
            [h.similarity for h in response.hits]
        )
    finally:
        index.close()
