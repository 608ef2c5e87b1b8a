"""Architecture rules: the core never imports Qt, and TensorFlow loads only inside Embedder.load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fd_testdata import REPO_ROOT

HEAVY = ("PySide6", "shiboken6", "tensorflow", "keras", "sklearn", "ray")


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path)},
        check=False,
    )


def test_core_cli_and_resources_import_no_qt_and_no_tensorflow(tmp_path: Path) -> None:
    completed = run_python(
        f"""
        import importlib, json, pkgutil, sys
        import fashion_desktop.core as core
        names = [m.name for m in pkgutil.walk_packages(core.__path__, "fashion_desktop.core.")]
        for name in names + ["fashion_desktop.cli", "fashion_desktop.resources"]:
            importlib.import_module(name)
        from fashion_desktop.cli import build_parser
        build_parser().parse_args(["search", "x.jpg"])
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
        print(json.dumps({{"modules": names, "heavy": heavy}}))
        """,
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    expected = {"imaging", "catalogue", "embedder", "heads", "index", "builder", "search"}
    expected |= {"evaluation", "atomic", "errors", "distributed"}
    assert {name.rsplit(".", 1)[-1] for name in result["modules"]} >= expected
    assert result["heavy"] == [], f"imported at module level: {result['heavy']}"


def test_failing_model_load_does_not_import_tensorflow(tmp_path: Path) -> None:
    # Missing weights are reported before the ~5 s TensorFlow import.
    completed = run_python(
        f"""
        import sys
        from pathlib import Path
        from fashion_desktop import resources
        resources.resources_root = lambda: Path({str(tmp_path)!r})
        from fashion_desktop.core.embedder import Embedder
        from fashion_desktop.core.errors import ModelError
        try:
            Embedder.load()
        except ModelError as error:
            print("ModelError:", error)
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """,
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert "ModelError: No model available" in completed.stdout
    assert completed.stdout.strip().splitlines()[-1] == "False False"


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.is_file():
        lint_imports = shutil.which("lint-imports")
        if lint_imports is None:
            pytest.skip("import-linter is not installed")
    completed = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "The core never imports Qt KEPT" in completed.stdout


def test_import_contract_catches_a_qt_import_in_the_core(tmp_path: Path) -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.is_file():
        pytest.skip("import-linter is not installed")
    shutil.copytree(
        REPO_ROOT / "fashion_desktop",
        tmp_path / "fashion_desktop",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    errors = tmp_path / "fashion_desktop" / "core" / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + "\nimport PySide6  # noqa\n")
    completed = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "HOME": str(tmp_path)},
        check=False,
    )
    assert completed.returncode != 0
    assert "BROKEN" in completed.stdout and "fashion_desktop.core.errors" in completed.stdout
