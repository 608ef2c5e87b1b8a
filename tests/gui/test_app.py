"""Start-up: instant window without TensorFlow, the screenshot hook, ``python main.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fd_testdata import demo_image
from PySide6.QtGui import QImage

from fashion_desktop.cli import build_parser
from fashion_desktop.gui.app import build_window, choose_index
from fashion_desktop.resources import demo_index_path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], tmp_path: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "FASHION_DESKTOP_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "HOME": str(tmp_path / "home"),
        "FASHION_DESKTOP_FORBID_NETWORK": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "fashion_desktop", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_window_modules_import_no_heavy_library():
    """The window appears before anything slow is imported: no training, cluster or ANN
    library, and not even the model runtime (it loads on a background thread). Start-up time
    is measured by tests/benchmarks/bench_gui.py, not asserted here (a loaded CI machine made a
    time limit flaky)."""
    heavy = ["tensorflow", "keras", "jax", "scipy", "sklearn", "ray", "faiss", "hnswlib"]
    heavy.append("ai_edge_litert")
    code = (
        "import sys; import fashion_desktop.gui.app; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert out == "[]"


def test_window_is_shown_and_accepts_input_quickly(qtbot, make_settings, data_dir):
    args = build_parser().parse_args([])
    started = time.perf_counter()
    window = build_window(args, settings=make_settings(), embedder_factory=None)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitExposed(window)
    assert time.perf_counter() - started < 1.5
    assert window.acceptDrops()
    with qtbot.waitSignal(window.index_ready, timeout=5000):
        pass


def test_default_index_is_the_last_used_one_then_the_demo(make_settings, tmp_path):
    settings = make_settings()
    assert choose_index(None, settings) == demo_index_path()
    settings.last_index = tmp_path
    assert choose_index(None, settings) == tmp_path
    assert choose_index(tmp_path / "explicit", settings) == tmp_path / "explicit"
    settings.last_index = tmp_path / "deleted-since"
    assert choose_index(None, settings) == demo_index_path()


@pytest.mark.slow
def test_screenshot_hook_saves_the_window_with_results(tmp_path):
    out = tmp_path / "shot.png"
    query = demo_image(33)
    result = run_cli(
        ["--query", str(query), "--filter", "gender=Men", "--screenshot", str(out)], tmp_path
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 800
    assert "Traceback" not in result.stderr


def test_screenshot_hook_fails_cleanly_for_a_missing_query(tmp_path):
    out = tmp_path / "shot.png"
    result = run_cli(["--query", str(tmp_path / "nope.jpg"), "--screenshot", str(out)], tmp_path)
    assert result.returncode != 0
    assert "No such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_self_test_answers_a_query_in_the_window_offline(tmp_path):
    """The installation check the frozen smoke test runs, from source, with network refused."""
    import json

    settings_before = (
        sorted((tmp_path / "config").rglob("*")) if (tmp_path / "config").exists() else []
    )
    result = run_cli(["--self-test"], tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True and report["top_score"] >= 0.95
    assert report["window_ready_s"] < 10
    assert "Traceback" not in result.stderr
    # The self-test keeps its settings in a temporary file, not the user's.
    after = sorted((tmp_path / "config").rglob("*")) if (tmp_path / "config").exists() else []
    assert after == settings_before


def test_main_py_calls_the_cli():
    source = (ROOT / "main.py").read_text()
    assert "from fashion_desktop.cli import main" in source
    result = subprocess.run(
        [sys.executable, "main.py", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "fashion-desktop" in result.stdout
