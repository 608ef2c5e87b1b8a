"""Fixtures for the window tests: offscreen Qt, isolated settings and data, a whole-window maker.

The bundled model is loaded once per session and handed to each window through its embedder
factory, so a window is ready in well under a second after the first.
"""

from __future__ import annotations

import csv
import functools
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from fashion_desktop.core.shortlist import ShortlistStore
from fashion_desktop.gui.app import apply_style
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.resources import demo_catalogue_path, demo_index_path

DEMO_IMAGES = demo_catalogue_path() / "images"
#: Items of the bundled demo catalogue (and so of the demo index).
with (demo_catalogue_path() / "styles.csv").open(encoding="utf-8", newline="") as _styles:
    DEMO_ITEM_COUNT = sum(1 for _ in csv.DictReader(_styles))
SHARED_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "catalog" / "images"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gui" in str(item.fspath).replace(os.sep, "/"):
            # The offscreen platform cannot propagate window size hints; harmless.
            item.add_marker(pytest.mark.qt_log_ignore("propagateSizeHints"))


class CountingEmbedder:
    """Wraps a real embedder and counts model runs (filters must not re-run the model)."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.identity = embedder.identity
        self.heads = embedder.heads
        self.batches = 0

    def embed_batch(self, images):
        self.batches += 1
        return self._embedder.embed_batch(images)

    def embed_with_feature_map(self, image):  # the garment localiser's pass
        return self._embedder.embed_with_feature_map(image)

    def predict(self, raw):
        return self._embedder.predict(raw)


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
            initial_filters=filters,
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


@functools.cache
def _demo_images() -> tuple[Path, ...]:
    return tuple(sorted(DEMO_IMAGES.glob("*.jpg")))


def demo_image(index: int = 0) -> Path:
    """The ``index``-th demo catalogue image (listed once: tests call this from UI timers)."""
    return _demo_images()[index]


def send_drop(window: MainWindow, mime) -> bool:
    """Drag ``mime`` over the query preview and drop it; returns whether the drag was accepted."""
    point = window.preview.mapTo(window, window.preview.rect().center())
    enter = QDragEnterEvent(point, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(point), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, drop)
    return True
