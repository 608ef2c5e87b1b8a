"""Weights resolution, the float16 bundle, classifier heads and the embedder itself."""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import SHARED_DIR, garment_image

from fashion_desktop import resources
from fashion_desktop.core.embedder import (
    EMBEDDING_DIM,
    WEIGHTS_ENV,
    Embedder,
    resolve_weights,
)
from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.imaging import load_model_input, prepare_for_model
from fashion_desktop.core.keras_backbone import (
    BUNDLE_FORMAT,
    IMAGENET_NOTOP_FILE,
    save_weights_bundle,
    weights_fingerprint,
)

BUNDLED_HEADS = resources.bundled_heads_path()


@pytest.fixture
def no_bundled_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pretend the application was installed without its model and Keras has no cache."""
    empty = tmp_path / "empty-resources"
    empty.mkdir()
    monkeypatch.setattr(resources, "resources_root", lambda: empty)
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    return keras_home


def fake_weights(folder: Path, name: str = "backbone.weights.h5") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"not really weights")
    return path


# --------------------------------------------------------------------- resolving weights
def test_explicit_weights_win_over_environment_and_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = fake_weights(tmp_path / "a", "mine.weights.h5")
    from_env = fake_weights(tmp_path / "b", "env.weights.h5")
    monkeypatch.setenv(WEIGHTS_ENV, str(from_env))
    choice = resolve_weights(explicit)
    assert (choice.kind, choice.path) == ("file", explicit)


def test_environment_wins_over_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = fake_weights(tmp_path / "b", "env.weights.h5")
    heads = tmp_path / "b" / "heads.npz"
    heads.write_bytes(b"")
    monkeypatch.setenv(WEIGHTS_ENV, str(from_env))
    choice = resolve_weights()
    assert (choice.kind, choice.path, choice.heads) == ("file", from_env, heads)


def test_bundled_litert_model_is_the_default() -> None:
    if not resources.bundled_model_path().is_file():
        pytest.skip("bundled model absent")
    choice = resolve_weights()
    assert choice.kind == "litert"
    assert choice.path == resources.bundled_model_path()
    assert choice.heads == BUNDLED_HEADS
    assert not choice.allow_download


def test_imagenet_cache_is_the_last_resort(no_bundled_resources: Path) -> None:
    cached = no_bundled_resources / "models" / IMAGENET_NOTOP_FILE
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    choice = resolve_weights()
    assert (choice.kind, choice.path, choice.allow_download) == ("imagenet", cached, False)


def test_missing_weights_give_the_options(no_bundled_resources: Path) -> None:
    with pytest.raises(ModelError) as error:
        resolve_weights()
    message = str(error.value)
    assert message.startswith("No model available. Options:")
    for option in ("--weights PATH", ".tflite", WEIGHTS_ENV, "reinstall", "--weights imagenet"):
        assert option in message
    assert str(resources.bundled_model_path()) in message


def test_embedder_load_without_weights_fails_before_building(no_bundled_resources) -> None:
    with pytest.raises(ModelError, match="No model available"):
        Embedder.load()


def test_explicit_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"Model weights not found: .*gone\.weights\.h5"):
        resolve_weights(tmp_path / "gone.weights.h5")


def test_environment_pointing_nowhere_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "typo.npz"))
    with pytest.raises(ModelError, match=r"typo\.npz"):
        resolve_weights()


def test_model_folder_prefers_litert_then_h5_then_bundle_and_finds_heads(tmp_path: Path) -> None:
    folder = tmp_path / "trained"
    bundle = fake_weights(folder, "backbone.f16.npz")
    (folder / "heads.npz").write_bytes(b"")
    assert resolve_weights(folder).path == bundle
    h5 = fake_weights(folder, "backbone.weights.h5")
    choice = resolve_weights(str(folder))
    assert (choice.kind, choice.path, choice.heads) == ("file", h5, folder / "heads.npz")
    exported = fake_weights(folder, "model.tflite")
    choice = resolve_weights(folder)
    assert (choice.kind, choice.path, choice.heads) == ("litert", exported, folder / "heads.npz")


def test_folder_without_weights_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="folder without a model"):
        resolve_weights(tmp_path)


@pytest.mark.parametrize("word", ["imagenet", "ImageNet", "random", "RANDOM"])
def test_keywords_never_touch_the_disk(
    word: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model folder of the same name in the working directory is not what the keyword means.
    fake_weights(tmp_path / word, "model.tflite")
    monkeypatch.chdir(tmp_path)
    choice = resolve_weights(word)
    assert choice.kind == word.lower() and choice.path is None and choice.heads is None
    assert choice.allow_download is (word.lower() == "imagenet")


def test_frozen_bundle_resources_live_under_meipass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.bundled_model_path() == tmp_path / "resources" / "models" / (
        "resnet50_fashion.tflite"
    )
    assert resources.demo_index_path() == tmp_path / "resources" / "demo" / "index"


def test_user_data_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHION_DESKTOP_DATA_DIR", str(tmp_path))
    assert resources.user_data_dir() == tmp_path


# -------------------------------------------------------------------------- fingerprints
def test_fingerprint_ignores_float16_rounding_but_not_real_changes() -> None:
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    halved = [w.astype(np.float16) for w in weights]
    assert weights_fingerprint(weights) == weights_fingerprint(halved)
    changed = [weights[0], weights[1] + 0.01]
    assert weights_fingerprint(weights) != weights_fingerprint(changed)


def test_weights_bundle_is_plain_arrays(tmp_path: Path) -> None:
    path = tmp_path / "b.npz"
    arrays = [np.ones((2, 2), np.float32), np.zeros(3, np.float32)]
    save_weights_bundle(arrays, ["a/kernel", "a/bias"], path)
    with np.load(path, allow_pickle=False) as archive:
        assert str(archive["format"]) == BUNDLE_FORMAT
        assert archive["w0000"].dtype == np.float16
        assert list(archive["names"]) == ["a/kernel", "a/bias"]
    assert [p.name for p in tmp_path.iterdir()] == ["b.npz"]  # no temporary left behind


# ------------------------------------------------------------------------------- heads
def test_bundled_heads_classes_and_probabilities() -> None:
    if not BUNDLED_HEADS.is_file():
        pytest.skip("bundled heads absent")
    heads = ClassifierHeads.load(BUNDLED_HEADS)
    assert set(heads.names) == {"articleType", "baseColour", "gender"}
    gender = heads.heads["gender"].classes
    assert set(gender) == {"Boys", "Girls", "Men", "Unisex", "Women"}
    assert {"Tshirts", "Jeans", "Watches", "other"} <= set(heads.heads["articleType"].classes)
    assert {"Black", "Navy Blue", "White"} <= set(heads.heads["baseColour"].classes)
    embeddings = np.random.default_rng(1).gamma(1.0, 0.5, size=(7, EMBEDDING_DIM))
    for name, probabilities in heads.probabilities(embeddings).items():
        assert probabilities.shape == (7, len(heads.heads[name].classes))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        assert (probabilities >= 0).all()
    predicted = heads.predict(embeddings[0], top=3)
    for name, ranked in predicted.items():
        assert len(ranked) == 3
        probs = [p for _, p in ranked]
        assert probs == sorted(probs, reverse=True)
        assert all(label in heads.heads[name].classes for label, _ in ranked)


def test_heads_predict_the_class_whose_logit_is_largest(tmp_path: Path) -> None:
    kernel = np.zeros((4, 3), np.float32)
    kernel[0, 2] = 10.0  # feature 0 → class "c"
    head = ClassifierHead("kind", kernel, np.zeros(3, np.float32), ("a", "b", "c"))
    path = tmp_path / "heads.npz"
    ClassifierHeads([head]).save(path)
    loaded = ClassifierHeads.load(path)
    predicted = loaded.predict(np.array([1.0, 0, 0, 0]))
    assert predicted["kind"][0][0] == "c" and predicted["kind"][0][1] > 0.99
    assert loaded.predict(np.zeros(4))["kind"][0][1] == pytest.approx(1 / 3, abs=1e-4)


def test_heads_file_with_inconsistent_shapes(tmp_path: Path) -> None:
    path = tmp_path / "heads.npz"
    np.savez(
        path,
        **{"x/kernel": np.zeros((4, 3)), "x/bias": np.zeros(2), "x/classes": np.array(["a", "b"])},
    )
    with pytest.raises(ModelError, match="inconsistent shapes"):
        ClassifierHeads.load(path)


def test_heads_file_missing_an_array(tmp_path: Path) -> None:
    path = tmp_path / "heads.npz"
    np.savez(path, **{"x/kernel": np.zeros((4, 3)), "x/bias": np.zeros(3)})
    with pytest.raises(ModelError, match="lacks"):
        ClassifierHeads.load(path)


def test_heads_file_without_heads(tmp_path: Path) -> None:
    path = tmp_path / "heads.npz"
    np.savez(path, something=np.zeros(2))
    with pytest.raises(ModelError, match="contains no classifier heads"):
        ClassifierHeads.load(path)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_unreadable_heads_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "heads.npz"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"Cannot read classifier heads heads\.npz"):
        ClassifierHeads.load(path)


class _TouchOnUnpickle:
    """Unpickling this creates ``marker``: proof that a heads file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (self.marker.touch, ())


def test_heads_refuse_pickles(tmp_path: Path) -> None:
    # A complete, otherwise valid head whose kernel is a pickled object array: loading it with
    # pickles allowed would run code (and then succeed), so only the refusal raises here.
    marker = tmp_path / "code-ran"
    kernel = np.full((4, 3), 1.0, dtype=object)
    kernel[0, 0] = _TouchOnUnpickle(marker)
    path = tmp_path / "heads.npz"
    np.savez(
        path,
        **{
            "x/kernel": kernel,
            "x/bias": np.zeros(3, np.float32),
            "x/classes": np.array(["a", "b", "c"]),
        },
    )
    with pytest.raises(ModelError, match=r"Cannot read classifier heads heads\.npz"):
        ClassifierHeads.load(path)
    assert not marker.exists()


def test_missing_heads_file() -> None:
    with pytest.raises(ModelError, match="Classifier heads not found"):
        ClassifierHeads.load("/nonexistent/heads.npz")


# -------------------------------------------------------------- broken weight files (model)
@pytest.mark.model
def test_weights_file_that_is_not_resnet50(tmp_path: Path, random_embedder) -> None:
    path = fake_weights(tmp_path, "broken.weights.h5")
    with pytest.raises(ModelError, match=r"broken\.weights\.h5 does not contain ResNet50"):
        Embedder.load(path, warm=False)


@pytest.mark.model
def test_npz_that_is_not_a_bundle(tmp_path: Path, random_embedder) -> None:
    path = tmp_path / "weights.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ModelError, match="not a Fashion Desktop weights bundle"):
        Embedder.load(path, warm=False)


@pytest.mark.model
def test_truncated_bundle(tmp_path: Path, random_embedder) -> None:
    source = resources.bundled_weights_path()
    if not source.is_file():
        pytest.skip("bundled model absent")
    path = tmp_path / "cut.npz"
    with source.open("rb") as handle:
        path.write_bytes(handle.read(1_000_000))
    with pytest.raises(ModelError, match=r"cut\.npz"):
        Embedder.load(path, warm=False)


@pytest.mark.model
def test_bundle_for_another_layout(tmp_path: Path, random_embedder) -> None:
    path = tmp_path / "other.npz"
    save_weights_bundle([np.zeros(3, np.float32)], ["dense/kernel"], path)
    with pytest.raises(ModelError, match="different network layout"):
        Embedder.load(path, warm=False)


# ------------------------------------------------------------------------ the embedder
def test_random_embedder_identity(random_embedder) -> None:
    identity = random_embedder.identity
    assert identity.source == "random-init(seed=0)"
    assert len(identity.fingerprint) == 64
    assert random_embedder.heads is None and random_embedder.predict(np.zeros(2048)) is None


def test_embed_batch_matches_embed_one_including_the_padded_last_batch(random_embedder) -> None:
    count = random_embedder.batch_size + 2  # the last batch of 2 is padded to the batch size
    pixels = np.stack([prepare_for_model(garment_image(i)) for i in range(count)])
    batched = random_embedder.embed_batch(pixels)
    assert batched.shape == (count, EMBEDDING_DIM) and batched.dtype == np.float32
    checked = [0, 1, count - 3, count - 2, count - 1]  # both batches, incl. the padded one
    singles = np.stack([random_embedder.embed_one(pixels[i]) for i in checked])
    np.testing.assert_allclose(batched[checked], singles, rtol=1e-4, atol=1e-3)
    tail = random_embedder.embed_batch(pixels[-2:])
    np.testing.assert_allclose(tail, batched[-2:], rtol=1e-4, atol=1e-3)
    # Different images really give different embeddings (the comparison above means something).
    assert np.abs(batched[0] - batched[1]).max() > 1e-2


def test_embed_batch_of_one(random_embedder) -> None:
    # One image gives a (1, 2048) batch holding what the batched interpreter computes for it.
    pixels = np.stack([prepare_for_model(garment_image(i)) for i in (3, 4)])
    one = random_embedder.embed_batch(pixels[:1])
    assert one.shape == (1, EMBEDDING_DIM) and one.dtype == np.float32
    np.testing.assert_allclose(one[0], random_embedder.embed_batch(pixels)[0], rtol=1e-4, atol=1e-3)


def test_bundled_embedder_has_heads_and_a_stable_identity(bundled_embedder) -> None:
    from fashion_desktop.core.embedder import read_identity

    assert bundled_embedder.identity == read_identity(resources.bundled_model_path())
    assert bundled_embedder.identity.source.startswith("resnet50_fashion.f16.npz")
    assert bundled_embedder.identity.runtime in ("litert-float32", "litert-int8")
    assert set(bundled_embedder.heads.names) == {"articleType", "baseColour", "gender"}
    demo_manifest = resources.demo_index_path() / "manifest.json"
    if demo_manifest.is_file():
        manifest = json.loads(demo_manifest.read_text(encoding="utf-8"))
        assert manifest["model"]["fingerprint"] == bundled_embedder.identity.fingerprint


# ----------------------------------------------------------------- shared model fidelity
SHARED_REAL = SHARED_DIR / "real" / "clothing-dataset"


def val_sample(shared_catalog: Path, count: int) -> list[tuple[Path, dict[str, str]]]:
    with (shared_catalog / "split.csv").open(encoding="utf-8") as handle:
        val = {row["id"] for row in csv.DictReader(handle) if row["split"] == "val"}
    chosen = []
    with (shared_catalog / "styles.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            image = shared_catalog / "images" / f"{row['id']}.jpg"
            if row["id"] in val and image.is_file():
                chosen.append((image, row))
    step = max(1, len(chosen) // count)
    return chosen[::step][:count]


@pytest.mark.slow
def test_bundled_model_is_the_released_model_and_reads_products_and_photos(
    shared_catalog, bundled_embedder
) -> None:
    """The bundle is the model its training report describes (same fingerprint), and its heads
    recognise unseen catalogue products and real photos of new contributors."""
    report = json.loads(
        (resources.bundled_weights_path().parent / "training_report.json").read_text()
    )
    exported = json.loads(resources.bundled_model_path().with_suffix(".json").read_text())
    assert exported["keras_fingerprint"] == report["fingerprint"]
    assert bundled_embedder.heads is not None
    sample = val_sample(shared_catalog, 16)
    pixels = np.stack([load_model_input(path)[0] for path, _ in sample])
    hits = sum(
        bundled_embedder.predict(raw)["articleType"][0][0] == row["articleType"]
        for raw, (_, row) in zip(bundled_embedder.embed_batch(pixels), sample, strict=True)
    )
    assert hits >= 12, f"article type right for only {hits}/16 validation products"
    if not (SHARED_REAL / "labels.csv").is_file():
        return
    with (SHARED_REAL / "labels.csv").open(encoding="utf-8") as handle:
        photos = [r for r in csv.DictReader(handle) if r["split"] == "val" and r["articleType"]]
    photos = photos[:: max(1, len(photos) // 16)][:16]
    pixels = np.stack(
        [load_model_input(SHARED_REAL / "images" / f"{r['id']}.jpg")[0] for r in photos]
    )
    hits = sum(
        bundled_embedder.predict(raw)["articleType"][0][0] == row["articleType"]
        for raw, row in zip(bundled_embedder.embed_batch(pixels), photos, strict=True)
    )
    assert hits >= 8, f"article type right for only {hits}/16 real val photos"


def test_zipfile_error_is_what_numpy_raises_for_broken_npz(tmp_path: Path) -> None:
    # Guards the assumption behind the heads/bundle error handling above.
    path = tmp_path / "x.npz"
    path.write_bytes(b"PK\x03\x04broken")
    with pytest.raises(zipfile.BadZipFile):
        np.load(path, allow_pickle=False)
