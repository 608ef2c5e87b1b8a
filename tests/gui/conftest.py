"""Fixtures for the window tests: offscreen Qt, isolated settings and data, a whole-window maker.

Fixtures only: helpers live in tests/fd_testdata.py (Qt-free) and tests/gui/fd_guidata.py.

The bundled model is loaded once per session and handed to each window through its embedder
factory, so a window is ready in well under a second after the first.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fd_testdata import CountingEmbedder
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from fashion_desktop.core.filters import Filters
from fashion_desktop.core.shortlist import ShortlistStore
from fashion_desktop.gui.app import apply_style
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.resources import demo_index_path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gui" in str(item.fspath).replace(os.sep, "/"):
            # The offscreen platform cannot propagate window size hints; harmless.
            item.add_marker(pytest.mark.qt_log_ignore("propagateSizeHints"))


@pytest.fixture(autouse=True)
def clean_clipboard(qapp) -> Iterator[None]:
    """Empty the clipboard after each test.

    Data a test puts there (a Python-made QMimeData) is owned by Qt's clipboard; left until
    process exit, QtGui destroys it after Python has shut down and the process segfaults.
    """
    yield
    QApplication.clipboard().clear()
    qapp.processEvents()


@pytest.fixture(scope="session")
def window_embedder(request: pytest.FixtureRequest):
    """The bundled fashion model (the demo index was built with it), loaded once."""
    try:
        return request.getfixturevalue("bundled_embedder")
    except pytest.FixtureLookupError:
        from fashion_desktop.core.embedder import Embedder

        return Embedder.load()


@pytest.fixture
def counting_embedder(window_embedder) -> CountingEmbedder:
    return CountingEmbedder(window_embedder)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "user-data"
    monkeypatch.setenv("FASHION_DESKTOP_DATA_DIR", str(directory))
    return directory


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    # Anything that builds its own QSettings lands in the tmp dir too.
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    return tmp_path / "settings.ini"


@pytest.fixture
def make_settings(settings_file: Path) -> Callable[[], AppSettings]:
    """A fresh AppSettings on the test's INI file (a new one per window, like a restart)."""
    return lambda: AppSettings(QSettings(str(settings_file), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(
    qtbot, qapp, make_settings, data_dir: Path, counting_embedder
) -> Iterator[Callable[..., MainWindow]]:
    """``make_window(index=..., embedder=..., filters=..., wait=True)``: a started main window.

    ``embedder`` is the counting real model by default, ``None`` for no model at all, or a
    factory callable (e.g. one that blocks until a test releases it).
    """
    apply_style(qapp)
    windows: list[MainWindow] = []

    def make(
        *,
        index: Path | None = None,
        embedder: object = "default",
        filters: dict[str, list[str]] | None = None,
        wait: bool = True,
    ) -> MainWindow:
        factory = (lambda: counting_embedder) if embedder == "default" else embedder
        window = MainWindow(
            settings=make_settings(),
            shortlist_store=ShortlistStore.in_directory(data_dir),
            embedder_factory=factory,  # type: ignore[arg-type]
            index_path=index or demo_index_path(),
            initial_filters=Filters.of(filters) if filters is not None else None,
        )
        qtbot.addWidget(window)
        window.resize(1440, 900)
        window.show()
        qtbot.waitExposed(window)
        with qtbot.waitSignal(window.index_ready, timeout=10_000):
            window.start()
        if wait and factory is not None and embedder == "default":
            qtbot.waitUntil(lambda: window.controller.model_state == "ready", timeout=10_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def blocked_embedder(counting_embedder):
    """A model factory that only finishes loading when the test sets the returned event."""
    release = threading.Event()

    def factory():
        release.wait(20)
        return counting_embedder

    return factory, release
