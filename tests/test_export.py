"""LiteRT export: the converted model agrees with Keras, carries its identity, converts once,
and every bad model file or missing TensorFlow gets a clear message."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import REPO_ROOT, garment_image

from fashion_desktop import resources
from fashion_desktop.core import keras_backbone
from fashion_desktop.core.embedder import Embedder, WeightsChoice, read_identity, resolve_weights
from fashion_desktop.core.errors import ModelError
from fashion_desktop.core.export import (
    IDENTITY_MIN_COSINE,
    conversion_cache_dir,
    converted_model,
    keras_embeddings,
    load_keras_backbone,
    probe_images,
)
from fashion_desktop.core.imaging import load_model_input, prepare_for_model
from fashion_desktop.core.runtime import LiteRTNetwork, quiet_native_stderr


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def demo_pixels(count: int) -> list[np.ndarray]:
    images = sorted((resources.demo_catalogue_path() / "images").glob("*.jpg"))
    return [load_model_input(path)[0] for path in images[:: max(1, len(images) // count)][:count]]


# ------------------------------------------------------------------- agreement with Keras
@pytest.fixture(scope="module")
def bundled_keras():
    """The bundled model's Keras original (the float16 bundle) and demo/probe images."""
    keras_model, _ = load_keras_backbone(
        WeightsChoice("file", resources.bundled_weights_path(), None)
    )
    images = probe_images(demo_pixels(12))
    return keras_model, images, keras_embeddings(keras_model, images)


@pytest.mark.model
def test_float32_litert_export_of_the_bundle_is_the_same_model(bundled_keras) -> None:
    """A float32 LiteRT export shares its Keras original's identity, and earns it: their
    embeddings agree (cosine >= 0.9999) on demo products and generated images."""
    keras_model, images, expected = bundled_keras
    choice = converted_model(resolve_weights(None, keras=True))
    exported = Embedder.load(choice.path)
    assert exported.identity.runtime == "litert-float32"
    assert exported.identity.fingerprint == keras_backbone.weights_fingerprint(
        keras_model.get_weights()
    )
    litert = exported.embed_batch(np.stack(images))
    agreement = cosines(expected, litert)
    assert agreement.min() >= IDENTITY_MIN_COSINE, agreement.min()
    # ... and the images really differ (the agreement is not a constant output's).
    assert cosines(litert[:1].repeat(len(litert) - 1, 0), litert[1:]).min() < 0.99


@pytest.mark.model
def test_bundled_model_is_close_to_its_keras_original(bundled_embedder, bundled_keras) -> None:
    """The shipped model (int8 where it kept quality) stays close to Keras; an int8 model has
    an identity of its own, tied to its original by the export record."""
    keras_model, images, expected = bundled_keras
    agreement = cosines(expected, bundled_embedder.embed_batch(np.stack(images)))
    record = json.loads(resources.bundled_model_path().with_suffix(".json").read_text())
    fingerprint = keras_backbone.weights_fingerprint(keras_model.get_weights())
    assert record["keras_fingerprint"] == fingerprint
    if bundled_embedder.identity.runtime == "litert-int8":
        assert bundled_embedder.identity.fingerprint != fingerprint
        # run 8's int8 export: worst 0.989 of 32 images (its figures: the int8 model itself)
        assert np.median(agreement) >= 0.999 and agreement.min() >= 0.985, agreement
    else:
        assert agreement.min() >= IDENTITY_MIN_COSINE


@pytest.mark.model
def test_random_keras_weights_convert_once_and_keep_their_identity(random_embedder) -> None:
    choice = converted_model(resolve_weights("random"))
    assert choice.kind == "litert" and choice.path is not None
    assert choice.path.is_relative_to(conversion_cache_dir())
    record = json.loads(choice.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["agreement_min_cosine"] >= IDENTITY_MIN_COSINE
    assert read_identity(choice.path) == random_embedder.identity
    modified = choice.path.stat().st_mtime_ns
    assert converted_model(resolve_weights("random")).path == choice.path
    assert choice.path.stat().st_mtime_ns == modified  # read from the cache, not converted again


@pytest.mark.model
def test_feature_map_pools_to_the_embedding(random_embedder) -> None:
    pixels = prepare_for_model(garment_image(4))
    embedding, feature_map = random_embedder.embed_with_feature_map(pixels)
    assert feature_map.shape == (7, 7, 2048)
    np.testing.assert_allclose(feature_map.mean(axis=(0, 1)), embedding, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(embedding, random_embedder.embed_one(pixels), rtol=1e-5)


@pytest.mark.model
def test_exported_model_folder_is_what_weights_accepts(tmp_path: Path, random_embedder) -> None:
    from fashion_desktop.core.export import export_model

    heads = tmp_path / "src" / "heads.npz"
    heads.parent.mkdir()
    heads.write_bytes(resources.bundled_heads_path().read_bytes())
    report = export_model(WeightsChoice("random", None, heads), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "heads.npz",
        "model.json",
        "model.tflite",
    ]
    assert report.identity == random_embedder.identity
    assert (tmp_path / "out" / "heads.npz").read_bytes() == heads.read_bytes()
    loaded = Embedder.load(tmp_path / "out")
    assert loaded.identity == random_embedder.identity
    assert set(loaded.heads.names) == {"articleType", "baseColour", "gender"}


# ----------------------------------------------------------------------- bad model files
@pytest.mark.parametrize("content", [b"", b"not a flatbuffer at all", b"TFL3" + b"\0" * 64])
def test_broken_tflite_files_are_refused_clearly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"LiteRT cannot run this model|not a Fashion Desktop"):
        Embedder.load(path)


def test_a_tflite_model_of_another_network_is_refused(tmp_path: Path) -> None:
    """A valid .tflite that is not ours (wrong inputs/outputs) is named as such."""
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def double(x):
        return {"y": x * 2}

    with quiet_native_stderr():
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [double.get_concrete_function()], double
        )
        content = converter.convert()
    path = tmp_path / "other.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a Fashion Desktop model"):
        LiteRTNetwork(path)


def test_a_tflite_without_identity_record_is_known_by_its_hash(
    tmp_path: Path, random_embedder
) -> None:
    source = random_embedder.network.path
    copy = tmp_path / "mine.tflite"
    copy.write_bytes(source.read_bytes())
    identity = read_identity(copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert identity.fingerprint == f"tflite-sha256:{digest}" and identity.source == "mine.tflite"
    assert identity != random_embedder.identity  # not the identity its record gave the original


def test_keras_weights_without_tensorflow_say_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("tensorflow", "keras") else real(name, *a),
    )
    weights = tmp_path / "mine.weights.h5"
    weights.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"fashion-desktop\[train\].*model export"):
        Embedder.load(weights)


# ------------------------------------------------------------------ TensorFlow stays away
def test_search_and_index_build_never_import_tensorflow(tmp_path: Path) -> None:
    """The bundled LiteRT model builds an index and answers a search without TensorFlow."""
    if not resources.bundled_model_path().is_file():
        pytest.skip("bundled model absent")
    catalogue = tmp_path / "catalog"
    images = catalogue / "images"
    images.mkdir(parents=True)
    for i in range(3):
        garment_image(i).save(images / f"{i}.jpg")
    (catalogue / "styles.csv").write_text(
        "id,articleType\n0,Tshirts\n1,Jeans\n2,Shirts\n", encoding="utf-8"
    )
    code = f"""
        import sys
        from fashion_desktop.cli import main
        build = main(["index", "build", {str(catalogue)!r}, "--out", {str(tmp_path / "i")!r}])
        found = main(["search", {str(images / "0.jpg")!r}, "--index", {str(tmp_path / "i")!r},
                      "--json"])
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"tensorflow", "keras"}})
        print("RESULT", build, found, heavy)
        """
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FASHION_DESKTOP_DATA_DIR": str(tmp_path),
        },
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "RESULT 0 0 []"
    assert "XNNPACK" not in completed.stderr and "absl" not in completed.stderr


# ---------------------------------------------------------------------- the command line
def test_model_export_needs_calibration_for_int8(tmp_path: Path, capsys) -> None:
    from fashion_desktop.cli import main

    assert main(["model", "export", "random", "--out", str(tmp_path), "--int8"]) == 1
    assert "--int8 needs --calibration" in capsys.readouterr().err
    calibration = ["--calibration", str(tmp_path)]
    assert main(["model", "export", "random", "--out", str(tmp_path), *calibration]) == 1
    assert "--calibration is for --int8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_model_export_of_a_litert_model_is_refused(tmp_path: Path, capsys) -> None:
    from fashion_desktop.cli import main

    model = tmp_path / "mine.tflite"
    model.write_bytes(b"x")
    assert main(["model", "export", str(model), "--out", str(tmp_path / "out")]) == 1
    assert "already a LiteRT model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["train", "catalog", "--out", "m"], ["model", "export", "x"]])
def test_the_frozen_application_says_where_training_and_export_run(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    from fashion_desktop.cli import main

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    if command[0] == "model":
        command = [*command, "--out", str(tmp_path)]
    assert main(command) == 1
    error = capsys.readouterr().err
    assert "installed application" in error and "fashion-desktop[train]" in error
    assert "Traceback" not in error


# ------------------------------------------------------------------------------------ int8
@pytest.mark.model
def test_int8_keeps_the_layers_the_debugger_names_in_float() -> None:
    """Selective quantisation on a small network: the debugger's most-hurt layers are found by
    name, and the converted model computes them in float while the rest is int8."""
    pytest.importorskip("tensorflow")
    import keras

    from fashion_desktop.core.export import convert_int8, most_sensitive_layers

    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), batch_size=1, dtype="uint8")
    x = keras.ops.cast(image, "float32") / 255.0
    for filters in (8, 16, 16):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    graph = keras.Model(image, keras.layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(0)
    calibration = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(8)]
    names = most_sensitive_layers(graph, calibration, 2)
    assert len(names) == 2 and all(isinstance(n, str) and n for n in names)

    def float_tensors(content: bytes) -> set[str]:
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native_stderr():
            interpreter = Interpreter(model_content=content)
        return {t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32}

    plain, selective = convert_int8(graph, calibration), convert_int8(graph, calibration, names)
    quantised = set(names) - float_tensors(plain)  # the graph's float output may be named too
    assert quantised and quantised <= float_tensors(selective)


def test_calibration_draws_evenly_from_each_catalogue_and_simulates_photos(
    tiny_catalogue_dir: Path, tmp_path: Path
) -> None:
    from fd_testdata import write_styles_catalogue

    from fashion_desktop.core.export import calibration_images

    other = write_styles_catalogue(tmp_path / "other", range(30, 36))
    images = calibration_images([tiny_catalogue_dir, other], count=10)
    assert len(images) == 10
    assert all(i.shape == (224, 224, 3) and i.dtype == np.uint8 for i in images)

    def prepared(folder: Path) -> set[bytes]:
        return {load_model_input(p)[0].tobytes() for p in sorted((folder / "images").iterdir())}

    # half from each catalogue, in order: the product shots are that catalogue's own images
    first, second = prepared(tiny_catalogue_dir), prepared(other)
    assert all(images[i].tobytes() in first for i in (0, 2, 4))
    assert all(images[i].tobytes() in second for i in (6, 8))
    assert len({images[i].tobytes() for i in range(0, 10, 2)}) == 5  # no image twice
    # every other product shot is shown as a simulated photo: no longer a plain background
    from PIL import Image

    from fashion_desktop.core.localise import looks_like_product_shot

    kinds = [looks_like_product_shot(Image.fromarray(i)) for i in images]
    assert kinds == [True, False] * 5
    assert calibration_images([tiny_catalogue_dir], count=4, seed=1)[0].tobytes() == (
        calibration_images([tiny_catalogue_dir], count=4, seed=1)[0].tobytes()
    )


def test_calibration_without_readable_images_is_explained(tmp_path: Path) -> None:
    from fashion_desktop.core.export import calibration_images

    folder = tmp_path / "catalog"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "1.jpg").write_bytes(b"broken")
    (folder / "styles.csv").write_text("id,articleType\n1,Tshirts\n", encoding="utf-8")
    with pytest.raises(ModelError, match="No readable calibration images"):
        calibration_images([folder], count=4)
