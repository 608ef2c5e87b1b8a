"""Training on catalogue items and labelled real photos together (``train --photos``).

The label logic is tested on hand-made catalogues; one end-to-end run trains the bundled model
for a few steps on the JAX backend (CPU, in a subprocess: this process runs Keras on TensorFlow)
on a handful of shared catalogue items and real photos, and the model folder it writes is loaded
back by the product's TensorFlow embedder.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import SHARED_DIR

from fashion_desktop.core.catalogue import Catalogue, CatalogueItem
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.training.photo_data import allowed_type_sets, head_class_index
from fashion_desktop.resources import bundled_heads_path

REAL_PHOTOS = SHARED_DIR / "real" / "clothing-dataset"
TYPES = ("Tshirts", "Shirts", "Jeans", "Trousers", "Casual Shoes", "other")


def _catalogue(rows: list[dict[str, str]]) -> Catalogue:
    items = [CatalogueItem(str(i), Path(f"{i}.jpg"), row) for i, row in enumerate(rows)]
    return Catalogue(Path("."), Path("x.csv"), "styles", list(rows[0]), items)


CATALOGUE = _catalogue(
    [
        {"masterCategory": "Apparel", "subCategory": "Topwear", "articleType": "Tshirts"},
        {"masterCategory": "Apparel", "subCategory": "Topwear", "articleType": "Shirts"},
        {"masterCategory": "Apparel", "subCategory": "Bottomwear", "articleType": "Jeans"},
        {"masterCategory": "Apparel", "subCategory": "Bottomwear", "articleType": "Trousers"},
        {"masterCategory": "Footwear", "subCategory": "Shoes", "articleType": "Casual Shoes"},
        {"masterCategory": "Apparel", "subCategory": "Topwear", "articleType": "Blazers"},
    ]
)


def test_head_class_index_maps_rare_types_to_other() -> None:
    assert head_class_index(TYPES, "Jeans") == 2
    assert head_class_index(TYPES, "Blazers") == TYPES.index("other")
    assert head_class_index(TYPES, "") == -1
    assert head_class_index(("a", "b"), "c") == -1  # no "other" column: no label


def test_partial_labels_allow_every_type_of_the_photo_group() -> None:
    photos = _catalogue(
        [
            # a known type allows exactly that type
            {"masterCategory": "Apparel", "subCategory": "Topwear", "articleType": "Shirts"},
            # Pants: only the sub-category is known, so every Bottomwear type is allowed
            {"masterCategory": "Apparel", "subCategory": "Bottomwear", "articleType": ""},
            # Shoes
            {"masterCategory": "Footwear", "subCategory": "Shoes", "articleType": ""},
            # a type the head files under "other"
            {"masterCategory": "Apparel", "subCategory": "Topwear", "articleType": "Blazers"},
            # nothing the catalogue knows: no label, left out
            {"masterCategory": "Toys", "subCategory": "Kites", "articleType": ""},
        ]
    )
    sets = allowed_type_sets(photos, CATALOGUE, TYPES)

    def allowed(photo: str) -> set[str]:
        return {TYPES[i] for i in np.flatnonzero(sets[photo])}

    assert allowed("0") == {"Shirts"}
    assert allowed("1") == {"Jeans", "Trousers"}
    assert allowed("2") == {"Casual Shoes"}
    assert allowed("3") == {"other"}
    assert "4" not in sets


def _write_subset(rows: list[dict[str, str]], source: Path, folder: Path, name: str) -> None:
    (folder / "images").mkdir(parents=True)
    with (folder / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(source / "images" / f"{row['id']}.jpg", folder / "images")


@pytest.mark.model
def test_train_with_photos_end_to_end(shared_rows, shared_catalog, tmp_path: Path) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    if not (REAL_PHOTOS / "labels.csv").is_file():
        pytest.skip("shared real photos not found")
    wanted = {"Tshirts": 3, "Jeans": 2, "Casual Shoes": 2}
    rows = []
    for split in ("train", "val"):
        counts = dict(wanted)
        for row in shared_rows:
            if row["split"] == split and counts.get(row["articleType"], 0) > 0:
                counts[row["articleType"]] -= 1
                rows.append(row)
    split_rows = [{"id": row["id"], "split": row["split"]} for row in rows]
    styles = [{k: v for k, v in row.items() if k != "split"} for row in rows]
    _write_subset(styles, shared_catalog, tmp_path / "catalog", "styles.csv")
    with (tmp_path / "catalog" / "split.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "split"])
        writer.writeheader()
        writer.writerows(split_rows)
    with (REAL_PHOTOS / "labels.csv").open(encoding="utf-8") as handle:
        photo_rows = list(csv.DictReader(handle))
    photos = [r for r in photo_rows if r["label"] in ("T-Shirt", "Pants", "Shoes")]
    chosen = [r for r in photos if r["split"] == "train"][:4] + [
        r for r in photos if r["split"] == "val"
    ][:3]
    _write_subset(chosen, REAL_PHOTOS, tmp_path / "real", "labels.csv")

    out = tmp_path / "model"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    command = [
        sys.executable,
        "-c",
        "import sys; from fashion_desktop.cli import main; sys.exit(main(sys.argv[1:]))",
        "train",
        str(tmp_path / "catalog"),
        "--photos",
        str(tmp_path / "real"),
        "--split",
        str(tmp_path / "catalog" / "split.csv"),
        "--out",
        str(out),
        "--seconds",
        "1",
        "--batch-size",
        "2",
        "--photo-views",
        "0.5",  # one simulated photo of a catalogue item per step, paired with its item
        "--no-baseline",
    ]
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Model written to" in done.stdout

    report = json.loads((out / "photo_training_report.json").read_text())
    assert report["photos"] == 4 and report["catalogue_items"] == 7
    assert "baseline" not in report
    (variant,) = report["variants"]
    assert variant["training"]["steps"] > 5  # compiled, timed, then trained to the budget
    assert variant["training"]["config"]["instance_views"] == 1
    assert {"instance_loss", "instance_head_loss"} <= set(variant["training"]["history"][-1])
    assert "simulated 28 instance photos" in done.stderr  # 4 views of each of the 7 items
    assert set(variant["metrics"]["photos"]) == {"masterCategory", "subCategory", "articleType"}
    assert set(variant["metrics"]["catalogue"]) == {"articleType", "baseColour", "gender"}

    from fashion_desktop.core.embedder import Embedder

    embedder = Embedder.load(out, warm=False)
    assert embedder.identity.fingerprint == report["fingerprint"]
    bundled = ClassifierHeads.load(bundled_heads_path())
    trained = ClassifierHeads.load(out / "heads.npz")
    assert trained.names == bundled.names
    for name in bundled.names:
        assert trained.heads[name].classes == bundled.heads[name].classes
    # the article-type head learned from the photos' partial labels and the catalogue
    assert not np.array_equal(
        trained.heads["articleType"].kernel, bundled.heads["articleType"].kernel
    )
    assert not (out / "checkpoint").exists()  # finished: the checkpoint is gone

    again = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=900
    )
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "already holds a trained model" in again.stderr  # never overwritten silently


def test_train_with_photos_needs_a_split(make_catalogue, tmp_path: Path, capsys) -> None:
    from fashion_desktop.cli import main

    catalogue = make_catalogue(range(4))
    code = main(["train", str(catalogue), "--photos", str(catalogue), "--out", str(tmp_path / "m")])
    assert code != 0
    assert "--split" in capsys.readouterr().err


def test_train_with_photos_says_it_needs_the_jax_backend(make_catalogue, tmp_path, capsys) -> None:
    from fashion_desktop.cli import main

    catalogue = make_catalogue(range(4))
    split = tmp_path / "split.csv"
    split.write_text("id,split\n1000,train\n1001,val\n", encoding="utf-8")
    args = ["train", str(catalogue), "--photos", str(catalogue), "--split", str(split)]
    code = main([*args, "--out", str(tmp_path / "m")])  # this process runs Keras on TensorFlow
    assert code != 0
    err = capsys.readouterr().err
    assert "KERAS_BACKEND=jax" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


#: Scripts run by ``_train_in_jax``: four catalogue items and two photos of noise, the bundled
#: model's heads, and a bank of four simulated instance photos.
TINY_DATA = r"""
import json, sys
from pathlib import Path

import numpy as np

from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.training.photo_data import HEADS, TYPE_HEAD, DomainData
from fashion_desktop.core.training.photos import MixedTrainingConfig, build_backbone, train_mixed
from fashion_desktop.resources import bundled_heads_path, bundled_weights_path

heads = ClassifierHeads.load(bundled_heads_path())
pixels = np.random.default_rng(0).integers(0, 256, (6, 224, 224, 3), dtype=np.uint8)
labels = {name: np.array([0, 1, 0, -1]) for name in HEADS}
cat = DomainData([str(i) for i in range(4)], pixels[:4], labels)
allowed = np.zeros((2, len(heads.heads[TYPE_HEAD].classes)), bool)
allowed[:, :2] = True
photo = DomainData(["p0", "p1"], pixels[4:], {}, allowed)
bank = (np.array([0, 1, 2, 3]), pixels[[1, 2, 3, 0]])
"""


def _train_in_jax(script: str, *args: str) -> dict:
    """Run ``TINY_DATA + script`` on the JAX backend (CPU) in a subprocess; its last JSON line."""
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", TINY_DATA + script, *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


RESUME_SCRIPT = r"""
from fashion_desktop.core.training.config import TrainingInterruptedError
from fashion_desktop.core.training.photo_checkpoint import VariantCheckpoint

config = MixedTrainingConfig(
    steps=6, catalogue_batch=2, frozen_stages=4, warmup_steps=2, instance_views=1
)


def trained(checkpoint=None, log=lambda message: None):
    backbone = build_backbone(bundled_weights_path(), config.frozen_stages)
    new_heads, result = train_mixed(
        backbone, heads, cat, photo, config, instance_bank=bank, checkpoint=checkpoint, log=log
    )
    return [w for w in backbone.get_weights()], new_heads, result


def interrupt_after_step_3(message):
    if message.startswith('{"step": 3,'):
        raise KeyboardInterrupt


straight_weights, straight_heads, straight = trained()
checkpoint = VariantCheckpoint(Path(sys.argv[1]))
try:
    trained(checkpoint, interrupt_after_step_3)
    interrupted = None
except TrainingInterruptedError as error:
    interrupted = str(error)
saved_step = checkpoint.progress()["step"]
messages = []
resumed_weights, resumed_heads, resumed = trained(checkpoint, messages.append)
print(json.dumps({
    "interrupted": interrupted,
    "saved_step": saved_step,
    "messages": messages,
    "steps": [straight.steps, resumed.steps],
    "history_steps": [entry["step"] for entry in resumed.history],
    "weights_differ": max(
        float(np.abs(a - b).max()) for a, b in zip(straight_weights, resumed_weights)
    ),
    "heads_differ": max(
        float(np.abs(straight_heads.heads[n].kernel - resumed_heads.heads[n].kernel).max())
        for n in HEADS
    ),
    "moved": float(np.abs(straight_heads.heads[TYPE_HEAD].kernel
                          - heads.heads[TYPE_HEAD].kernel).max()),
}))
"""


@pytest.mark.model
def test_an_interrupted_photo_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    """Ctrl-C saves a checkpoint; the resumed run ends with the weights of an uninterrupted one."""
    outcome = _train_in_jax(RESUME_SCRIPT, str(tmp_path / "ckpt"))
    assert outcome["interrupted"].startswith("Interrupted at step 3 of 6")
    assert "Run the same command again to resume" in outcome["interrupted"]
    assert outcome["saved_step"] == 3
    assert outcome["messages"][0].startswith("resuming at step 3 of 6")
    assert outcome["steps"] == [6, 6]
    assert outcome["history_steps"] == [1, 2, 3, 4, 5, 6]  # the earlier sitting's entries kept
    assert outcome["moved"] > 0  # the heads did learn
    assert outcome["weights_differ"] < 1e-5 and outcome["heads_differ"] < 1e-5


ANCHOR_SCRIPT = r"""
def embeddings(backbone):
    from fashion_desktop.core.training.photo_data import caffe

    z = np.asarray(backbone(np.asarray(caffe(pixels.astype(np.float32))), training=False))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


start = embeddings(build_backbone(bundled_weights_path(), 4))
drift, logged = {}, {}
for weight in (0.0, 100.0):
    config = MixedTrainingConfig(
        steps=8, catalogue_batch=2, frozen_stages=4, warmup_steps=1, learning_rate=1e-4,
        instance_views=2, instance_weight=1.0, anchor_weight=weight,
    )
    backbone = build_backbone(bundled_weights_path(), config.frozen_stages)
    _, result = train_mixed(backbone, heads, cat, photo, config, instance_bank=bank,
                            log=lambda message: None)
    drift[str(weight)] = float(np.mean(1 - np.sum(embeddings(backbone) * start, axis=1)))
    logged[str(weight)] = "anchor_loss" in result.history[-1]
print(json.dumps({"drift": drift, "logged": logged}))
"""


@pytest.mark.model
def test_the_anchor_keeps_embeddings_near_the_starting_model() -> None:
    """``anchor_weight`` holds the embeddings where the starting weights put them."""
    outcome = _train_in_jax(ANCHOR_SCRIPT)
    assert outcome["logged"] == {"0.0": False, "100.0": True}
    free, anchored = outcome["drift"]["0.0"], outcome["drift"]["100.0"]
    assert free > 1e-4  # the fine-tune does move the embeddings...
    assert anchored < 0.5 * free, outcome  # ...and the anchor holds them back


CONSISTENCY_SCRIPT = r"""
from fashion_desktop.core.training.photo_data import caffe

# Plain-coloured items, and as their simulated photos the same items under a strong colour cast
# (red and blue swapped, darker), shrunk into a frame of random clutter: the heads read the two
# differently before training.
rng = np.random.default_rng(1)
shades = np.array([(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)], np.float32)
noise = rng.normal(0, 12, (4, 224, 224, 3))
item_pixels = np.clip(shades[:, None, None, :] + noise, 0, 255).astype(np.uint8)
cat = DomainData([str(i) for i in range(4)], item_pixels, labels)
photos = rng.integers(0, 256, (4, 224, 224, 3)).astype(np.uint8)
photos[:, 56:168, 56:168] = (item_pixels[:, ::2, ::2, ::-1] * 0.7).astype(np.uint8)
bank = (np.arange(4), photos)


def divergence(backbone, trained_heads):
    # Mean KL between the heads' reading of each bank photo and of its item's image.
    def read(images):
        z = np.asarray(backbone(np.asarray(caffe(images.astype(np.float32))), training=False))
        return trained_heads.probabilities(z)

    items, photos = read(item_pixels[bank[0]]), read(bank[1])
    return float(np.mean([
        np.sum(items[n] * (np.log(items[n] + 1e-9) - np.log(photos[n] + 1e-9)), axis=1).mean()
        for n in HEADS
    ]))


out = {}
for weight in (0.0, 5.0):
    config = MixedTrainingConfig(
        steps=8, catalogue_batch=2, frozen_stages=5, warmup_steps=1, learning_rate=1e-3,
        instance_views=4, instance_weight=0.0, instance_head_weight=0.0,
        instance_consistency_weight=weight,
    )
    backbone = build_backbone(bundled_weights_path(), config.frozen_stages)
    new_heads, result = train_mixed(backbone, heads, cat, photo, config, instance_bank=bank,
                                    log=lambda message: None)
    out[str(weight)] = {"divergence": divergence(backbone, new_heads),
                        "logged": "instance_consistency_loss" in result.history[-1]}
print(json.dumps(out))
"""


@pytest.mark.model
def test_the_consistency_term_makes_the_heads_read_a_photo_as_its_item() -> None:
    """``instance_consistency_weight`` pulls the heads' distributions on a simulated photo
    toward those on its item's image (the signatures the label-aware ranking compares)."""
    outcome = _train_in_jax(CONSISTENCY_SCRIPT)
    assert outcome["0.0"]["logged"] is False and outcome["5.0"]["logged"] is True
    assert outcome["5.0"]["divergence"] < 0.8 * outcome["0.0"]["divergence"], outcome
