"""build/interpolate_weights.py: weight-space interpolation of two models of one network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.keras_backbone import read_weights_bundle, save_weights_bundle

SCRIPT = Path(__file__).resolve().parents[1] / "build" / "interpolate_weights.py"
NAMES = ["conv/kernel", "bn/moving_mean"]


def model(folder: Path, scale: float, classes: tuple[str, ...] = ("Shirts", "Jeans")) -> Path:
    folder.mkdir()
    weights = [np.full((3, 2), scale, np.float32), np.full(2, -scale, np.float32)]
    save_weights_bundle(weights, NAMES, folder / "backbone.f16.npz")
    head = ClassifierHead(
        "articleType",
        np.full((4, len(classes)), scale, np.float32),
        np.full(len(classes), scale, np.float32),
        classes,
    )
    ClassifierHeads([head]).save(folder / "heads.npz")
    return folder


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_writes_the_weighted_mean_of_weights_and_heads(tmp_path: Path) -> None:
    start, tuned = model(tmp_path / "start", 1.0), model(tmp_path / "tuned", 3.0)
    result = run(start, tuned, "--alpha", "0.25", "--out", tmp_path / "mixed")
    assert result.returncode == 0, result.stderr
    weights = read_weights_bundle(tmp_path / "mixed" / "backbone.f16.npz", NAMES)
    np.testing.assert_allclose(weights[0], 1.5)  # 0.75 × 1 + 0.25 × 3
    np.testing.assert_allclose(weights[1], -1.5)
    head = ClassifierHeads.load(tmp_path / "mixed" / "heads.npz").heads["articleType"]
    np.testing.assert_allclose(head.kernel, 1.5)
    assert head.classes == ("Shirts", "Jeans")
    assert '"alpha": 0.25' in (tmp_path / "mixed" / "interpolation.json").read_text()


def test_refuses_models_whose_heads_differ(tmp_path: Path) -> None:
    start = model(tmp_path / "start", 1.0)
    tuned = model(tmp_path / "tuned", 3.0, classes=("Shirts", "Skirts"))
    result = run(start, tuned, "--alpha", "0.5", "--out", tmp_path / "mixed")
    assert result.returncode == 2
    assert "different classes" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "mixed").exists()


def test_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    start = model(tmp_path / "start", 1.0)
    (tmp_path / "empty").mkdir()
    result = run(start, tmp_path / "empty", "--alpha", "0.5", "--out", tmp_path / "mixed")
    assert result.returncode == 2 and "needs one of" in result.stderr


def test_refuses_an_alpha_outside_zero_to_one(tmp_path: Path) -> None:
    start = model(tmp_path / "start", 1.0)
    result = run(start, start, "--alpha", "1.5", "--out", tmp_path / "mixed")
    assert result.returncode == 2 and "between 0 and 1" in result.stderr
