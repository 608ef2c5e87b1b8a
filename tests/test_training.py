"""Fine-tuning (``fashion-desktop train``) on tiny generated catalogues.

The backbone is fixed at 224×224, so the model tests keep the work tiny instead: a random-init
ResNet50, batches of 4, one step per epoch, and a single interrupted-then-resumed run shared by
the tests that inspect its output.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_desktop.cli import main
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.evaluation import EvaluationReport, FieldScores, ModelComparison
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.training.config import (
    BACKBONE_FILE,
    CHECKPOINT_DIR,
    CURVES_FILE,
    HEADS_FILE,
    OTHER_CLASS,
    REPORT_FILE,
    STATE_FILE,
    TrainingConfig,
    TrainingError,
    TrainingInterruptedError,
)
from fashion_desktop.core.training.curves import draw_training_curves
from fashion_desktop.core.training.data import (
    build_label_space,
    class_weight_vector,
    hash_split,
    prepare_training_data,
)
from fashion_desktop.core.training.loop import classification_metrics, train

LABELS = ("articleType", "baseColour", "gender")


def tiny_config(catalogue: Path, out: Path, **overrides) -> TrainingConfig:
    options = {
        "catalogue": str(catalogue),
        "out": str(out),
        "init": "random",
        "labels": LABELS,
        "val_fraction": 0.0,
        "epochs": 1,
        "batch_size": 4,
        "steps_per_epoch": 1,
        "min_class_count": 2,
        "workers": 1,
    }
    options.update(overrides)
    return TrainingConfig(**options)


# ------------------------------------------------------------------ pure data preparation
def test_rare_classes_are_merged_into_other() -> None:
    space = build_label_space("articleType", ["Tshirts"] * 5 + ["Jeans"] * 4 + ["Sari"], 3)
    assert space.classes == ["Jeans", "Tshirts", OTHER_CLASS]
    assert space.merged == ["Sari"]
    assert space.encode("Sari") == space.classes.index(OTHER_CLASS)
    assert space.encode("") == -1


def test_single_class_label_is_refused_with_a_clear_message() -> None:
    with pytest.raises(TrainingError, match=r"single class \('Men'\)"):
        build_label_space("gender", ["Men"] * 8, 2)
    with pytest.raises(TrainingError, match="lower --min-class-count"):
        build_label_space("gender", ["Men"] * 8 + ["Women"], 10)


def test_class_weights_favour_rare_classes_and_average_one() -> None:
    labels = np.array([0] * 90 + [1] * 10 + [-1] * 5)
    weights = class_weight_vector(labels, 2, "balanced")
    assert weights[1] > weights[0]
    counts = np.array([90, 10])
    assert np.isclose((weights * counts).sum() / counts.sum(), 1.0)
    assert np.allclose(class_weight_vector(labels, 2, "none"), 1.0)
    with pytest.raises(TrainingError):
        class_weight_vector(labels, 2, "cubic")


def test_hash_split_is_deterministic_and_near_the_fraction() -> None:
    ids = [str(i) for i in range(2000)]
    first = [hash_split(i, 0.1) for i in ids]
    assert first == [hash_split(i, 0.1) for i in ids]
    assert 150 < first.count("val") < 250


def test_classification_metrics() -> None:
    truth = np.array([0, 0, 1, 1, -1])
    predicted = np.array([0, 1, 1, 1, 0])
    metrics = classification_metrics(truth, predicted, 2)
    assert metrics["items"] == 4
    assert metrics["accuracy"] == 0.75
    assert metrics["recall"] == 0.75  # (1/2 + 2/2) / 2
    assert metrics["precision"] == round((1 + 2 / 3) / 2, 4)


def test_missing_label_column_is_a_clear_error(make_catalogue) -> None:
    catalogue = read_catalogue(make_catalogue(range(12)))
    config = tiny_config(catalogue.root, catalogue.root.parent / "m", labels=("season",))
    with pytest.raises(TrainingError, match="no column season"):
        prepare_training_data(catalogue, config)


def test_unreadable_images_are_left_out_and_reported(make_catalogue) -> None:
    folder = make_catalogue(range(12))
    (folder / "images" / "1003.jpg").write_bytes(b"not a jpeg")
    (folder / "images" / "1007.jpg").write_bytes(b"")
    catalogue = read_catalogue(folder)
    data = prepare_training_data(catalogue, tiny_config(folder, folder.parent / "m"))
    assert sorted(Path(p).name for p, _ in data.skipped) == ["1003.jpg", "1007.jpg"]
    assert len(data.train) + len(data.val) == 10


def test_all_images_unreadable_is_a_clear_error(make_catalogue) -> None:
    folder = make_catalogue(range(6))
    for image in (folder / "images").iterdir():
        image.write_bytes(b"garbage")
    with pytest.raises(TrainingError, match="None of the 6 images"):
        prepare_training_data(read_catalogue(folder), tiny_config(folder, folder.parent / "m"))


def test_split_file_assigns_train_and_val(make_catalogue, tmp_path: Path) -> None:
    folder = make_catalogue(range(12))
    split = tmp_path / "split.csv"
    with split.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "split"])
        for index in range(12):
            writer.writerow([1000 + index, "val" if index < 3 else "train"])
    config = tiny_config(folder, tmp_path / "m", split=str(split), min_class_count=1)
    data = prepare_training_data(read_catalogue(folder), config)
    assert [item.item_id for item in data.val] == ["1000", "1001", "1002"]
    assert len(data.train) == 9
    bad = tmp_path / "bad.csv"
    bad.write_text("id,fold\n1000,train\n")
    with pytest.raises(TrainingError, match="id,split"):
        prepare_training_data(read_catalogue(folder), replace(config, split=str(bad)))


def test_curves_png_is_written(tmp_path: Path) -> None:
    history = [
        {"epoch": e, "loss": 2.0 / e, "val_loss": 2.5 / e, "gender_accuracy": 0.5 + e / 10}
        for e in (1, 2, 3)
    ]
    draw_training_curves(history, ["gender"], tmp_path / "curves.png")
    with Image.open(tmp_path / "curves.png") as image:
        assert image.format == "PNG" and image.size[0] > 400


def test_comparison_table_and_json() -> None:
    def report(p: float) -> EvaluationReport:
        rep = EvaluationReport(5, "queries", 10, 20)
        rep.fields = {"gender": FieldScores("gender", 10, p, p / 10, p, 1.0)}
        return rep

    comparison = ModelComparison(
        report(0.5), report(0.7), {"source": "old", "fingerprint": "a" * 64}, {"source": "new"}
    )
    table = comparison.table()
    assert "P@5 before" in table and "+0.200" in table
    data = comparison.to_json()
    assert data["delta"]["gender"]["precision"] == 0.2
    assert data["before"]["model"]["source"] == "old"


# ------------------------------------------------------------------------ CLI messages
def test_cli_bad_catalogue_prints_one_line(make_catalogue, tmp_path: Path, capsys) -> None:
    folder = make_catalogue(range(8))
    code = main(["train", str(folder), "--out", str(tmp_path / "m"), "--labels", "nosuch"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no column nosuch" in err[0]


def test_cli_refuses_an_unrelated_output_folder(make_catalogue, tmp_path: Path, capsys) -> None:
    folder = make_catalogue(range(8))
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"x")
    assert main(["train", str(folder), "--out", str(out), "--init", "random"]) == 1
    assert "not a Fashion Desktop model folder" in capsys.readouterr().err


def test_cli_interrupt_exits_130_with_resume_hint(
    make_catalogue, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fashion_desktop.core.training as training

    def interrupted(*args, **kwargs):
        raise TrainingInterruptedError("Interrupted during epoch 1/1; run the same command again.")

    monkeypatch.setattr(training, "train", interrupted)
    code = main(["train", str(make_catalogue(range(8))), "--out", str(tmp_path / "m")])
    assert code == 130
    assert "run the same command again" in capsys.readouterr().err


# ------------------------------------------------------------------------ real training
@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory: pytest.TempPathFactory):
    """Train 2 epochs of 1 step, interrupted (Ctrl-C) after epoch 2's first step, then resumed."""
    import keras
    from fd_testdata import write_styles_catalogue

    root = tmp_path_factory.mktemp("training")
    folder = write_styles_catalogue(root / "catalog", range(16))
    out = root / "model"
    config = tiny_config(folder, out, epochs=2, augment=True)

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None) -> None:
            if self._epoch == 1:
                raise KeyboardInterrupt

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self._epoch = epoch

    with pytest.raises(TrainingInterruptedError, match="same command again"):
        train(config, extra_callbacks=[CtrlC()])
    state_after_interrupt = json.loads((out / CHECKPOINT_DIR / STATE_FILE).read_text())
    checkpoint_files = sorted(p.name for p in (out / CHECKPOINT_DIR).iterdir())
    result = train(config)
    return {
        "config": config,
        "out": out,
        "state_after_interrupt": state_after_interrupt,
        "checkpoint_files": checkpoint_files,
        "result": result,
    }


def test_interrupt_saves_a_checkpoint(resumed_run) -> None:
    state = resumed_run["state_after_interrupt"]
    assert state["completed_epochs"] == 1
    assert state["interruptions"] == 1
    assert {"training.weights.h5", "optimizer.npz", "state.json"} <= set(
        resumed_run["checkpoint_files"]
    )


def test_rerun_resumes_where_it_stopped(resumed_run) -> None:
    report = resumed_run["result"].report
    assert report["resumed_from_epoch"] == 1
    assert [entry["epoch"] for entry in report["history"]] == [1, 2]
    assert report["epochs_completed"] == 2
    # 1 step in epoch 1, 1 step before Ctrl-C in epoch 2, 1 step when resumed: Adam continued.
    assert report["optimizer_steps"] == 3


def test_training_changes_the_backbone(resumed_run) -> None:
    report = resumed_run["result"].report
    assert report["fingerprint"] != report["initial_fingerprint"]


def test_trained_model_is_exported_to_litert_and_agrees_with_keras(resumed_run) -> None:
    from fashion_desktop.core.embedder import Embedder
    from fashion_desktop.core.export import IDENTITY_MIN_COSINE, keras_embeddings

    out, result = resumed_run["out"], resumed_run["result"]
    assert (out / "model.tflite").is_file() and (out / "model.json").is_file()
    loaded = Embedder.load(out, warm=False)
    assert loaded.network.path == out / "model.tflite"
    image = np.asarray(Image.new("RGB", (224, 224), (200, 40, 40)), dtype=np.uint8).copy()
    image[60:160, 80:140] = (30, 40, 190)
    expected = keras_embeddings(result.backbone, [image])[0]
    got = loaded.embed_one(image)
    cosine = float(expected @ got / np.linalg.norm(expected) / np.linalg.norm(got))
    assert cosine >= IDENTITY_MIN_COSINE
    assert loaded.heads is not None and loaded.identity.fingerprint == result.report["fingerprint"]
    heads = ClassifierHeads.load(out / HEADS_FILE)
    assert heads.names == tuple(sorted(LABELS))
    for name in LABELS:
        np.testing.assert_array_equal(heads.heads[name].kernel, result.heads.heads[name].kernel)
        assert heads.heads[name].classes == result.heads.heads[name].classes
    assert heads.heads["gender"].classes == ("Men", "Women")


def test_outputs_report_and_curves(resumed_run) -> None:
    out = resumed_run["out"]
    assert (out / BACKBONE_FILE).is_file()
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["config"]["labels"] == list(LABELS)
    assert report["data"]["classes"]["gender"] == ["Men", "Women"]
    with Image.open(out / CURVES_FILE) as image:
        assert image.format == "PNG"
    # The checkpoint's big files are removed once finished; the state says it is done.
    state = json.loads((out / CHECKPOINT_DIR / STATE_FILE).read_text())
    assert state["finished"] and not (out / CHECKPOINT_DIR / "training.weights.h5").exists()


def test_rerun_after_finishing_does_nothing(resumed_run) -> None:
    result = train(resumed_run["config"])
    assert result.already_trained


def test_other_options_do_not_resume_silently(resumed_run) -> None:
    config = resumed_run["config"]
    changed = replace(config, freeze_backbone=3)
    with pytest.raises(FashionDesktopError, match="other options"):
        train(changed)


def test_evaluate_compare_weights_side_by_side(
    resumed_run, tiny_index_dir: Path, cached_model_loading, capsys
) -> None:
    out = resumed_run["out"]
    command = ["evaluate", "--index", str(tiny_index_dir), "--compare-weights", str(out)]
    assert main([*command, "--fields", "masterCategory"]) == 1  # checked before embedding
    assert "no field masterCategory" in capsys.readouterr().err
    command += ["--fields", ",".join(LABELS)]
    code = main([*command, "--json"])  # the text table is tested on toy reports above
    assert code == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["before"]["index_items"] == data["after"]["index_items"] == 20
    assert data["after"]["model"]["fingerprint"] == resumed_run["result"].report["fingerprint"]
    assert set(data["delta"]) >= {"articleType", "gender"}


# ------------------------------------------------------------------ photo-robust training
def test_photo_views_pair_each_photo_with_its_clean_item(make_catalogue, tmp_path: Path) -> None:
    from fashion_desktop.core.training.config import INSTANCE_OUTPUT
    from fashion_desktop.core.training.dataset import _dataset_class

    config = tiny_config(make_catalogue(range(8)), tmp_path / "m", photo_views=0.5)
    data = prepare_training_data(read_catalogue(config.catalogue), config)
    dataset_class = _dataset_class()

    def batch(seed: int = 0):
        dataset = dataset_class(
            data.train, data.train_labels, None, 4, shuffle=True, seed=seed, photo_views=0.5
        )
        return dataset[0]

    images, targets, weights = batch()
    assert images.shape == (6, 224, 224, 3) and images.dtype == np.uint8
    assert targets[INSTANCE_OUTPUT].tolist() == [0, 1, 2, 3, 0, 1]
    for name in LABELS:  # a photo view carries its item's labels
        assert targets[name][4:].tolist() == targets[name][:2].tolist()
        assert weights[name].shape == (6,)
    assert not np.array_equal(images[4], images[0])  # the photo is not the product shot
    again, _, _ = batch()
    np.testing.assert_array_equal(again, images)  # deterministic for (seed, epoch, batch)
    other, _, _ = batch(seed=1)
    assert not np.array_equal(other[4:], images[4:])
    clean = dataset_class(data.train, data.train_labels, None, 4, shuffle=False, seed=0)
    assert clean[0][0].shape[0] == 4 and INSTANCE_OUTPUT not in clean[0][1]


def test_photo_robust_training_step_trains_the_instance_term(tmp_path: Path) -> None:
    from fd_testdata import write_styles_catalogue

    folder = write_styles_catalogue(tmp_path / "catalog", range(12))
    config = tiny_config(folder, tmp_path / "model", photo_views=0.5, val_fraction=0.25)
    result = train(config)
    report = result.report
    assert report["config"]["photo_views"] == 0.5
    assert report["fingerprint"] != report["initial_fingerprint"]
    history = report["history"][0]
    assert "instance_loss" in history and np.isfinite(history["instance_loss"])
    assert "val_loss" in history
    # The exported model is an ordinary one: index build and search load it as usual.
    from fashion_desktop.core.embedder import Embedder

    assert Embedder.load(tmp_path / "model", warm=False).heads is not None
    with pytest.raises(SystemExit):
        main(["train", str(folder), "--out", str(tmp_path / "x"), "--photo-views", "1.5"])
