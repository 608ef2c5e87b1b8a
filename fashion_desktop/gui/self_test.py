"""``fashion-desktop --self-test``: the real window, offscreen, answers a real query.

The query goes through exactly what a drop does (``MainWindow.search_sources`` → the inference
worker → ``SearchEngine``), with the bundled model and demo index, and settings kept in a
temporary file so a self-test never touches the user's recent queries or geometry.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QEventLoop, QSettings, QTimer

from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.resources import demo_index_path
from fashion_desktop.selftest import process_age_s

#: A PNG copy of an indexed JPEG has other bytes but the same pixels: its item must come first.
MIN_NEAR_DUPLICATE_SCORE = 0.95
TIMEOUT_S = 300


def probe_query() -> tuple[str, bytes]:
    """(item id, PNG bytes) of a bundled demo image, re-encoded so it is not byte-identical."""
    index = EmbeddingIndex.open(demo_index_path())
    try:
        probe = index.item(len(index) // 2)
    finally:
        index.close()
    buffer = io.BytesIO()
    with Image.open(probe.image_path) as original:
        original.convert("RGB").save(buffer, format="PNG")
    return probe.item_id, buffer.getvalue()


def check_window_search(started: float) -> dict:
    """Open the main window offscreen, search with the probe image, check the top card."""
    from fashion_desktop.gui.app import build_window, create_application
    from fashion_desktop.gui.settings import AppSettings
    from fashion_desktop.gui.worker import QuerySource

    app = create_application()
    expected_id, png = probe_query()
    with tempfile.TemporaryDirectory(prefix="fashion-desktop-self-test-") as scratch:
        settings = AppSettings(
            QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
        )
        window = build_window(_Args(index=demo_index_path()), settings=settings)
        try:
            window.show()
            window.start()
            app.processEvents()
            window_ready_s = time.perf_counter() - started
            since_launch = process_age_s()
            notices: list[str] = []
            loop = QEventLoop()

            def on_notice(level: str, message: str) -> None:
                notices.append(f"{level}: {message}")
                if level == "error":
                    loop.quit()

            window.notice_posted.connect(on_notice)
            window.results_presented.connect(loop.quit)
            QTimer.singleShot(TIMEOUT_S * 1000, loop.quit)
            t0 = time.perf_counter()
            window.search_sources([QuerySource("self-test image", data=png)])
            loop.exec()
            elapsed = time.perf_counter() - t0
            results_since_launch = process_age_s()
            hits = list(window.results_model.hits)
        finally:
            window.close()  # stops the worker threads cleanly
            app.processEvents()
    errors = [n for n in notices if n.startswith("error")]
    if errors:
        raise FashionDesktopError(f"the window reported {errors[0]}")
    if not hits:
        raise FashionDesktopError(f"no results within {TIMEOUT_S} s")
    top = hits[0]
    if top.item_id != expected_id or top.similarity < MIN_NEAR_DUPLICATE_SCORE:
        raise FashionDesktopError(
            f"expected item {expected_id} first, got {top.item_id} ({top.similarity:.3f})"
        )
    return {
        "window_ready_s": round(window_ready_s, 2),
        "launch_to_window_ready_s": None if since_launch is None else round(since_launch, 2),
        "first_query_s": round(elapsed, 2),
        "launch_to_first_results_s": (
            None if results_since_launch is None else round(results_since_launch, 2)
        ),
        "query_item": expected_id,
        "top_score": round(top.similarity, 4),
    }


class _Args(argparse.Namespace):
    """The subset of command-line arguments :func:`build_window` reads."""

    def __init__(self, index: Path) -> None:
        super().__init__(index=index, filter=None, weights=None)
