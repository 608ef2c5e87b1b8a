"""Starting the window: the application object, the theme, settings, and the screenshot hook.

The window is shown before anything slow happens; the index opens and the model loads on
background threads (see :mod:`fashion_desktop.gui.worker`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from fashion_desktop.core.clients import ClientBook
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import Filters
from fashion_desktop.gui.icons import icon
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.settings import ORGANIZATION, AppSettings
from fashion_desktop.gui.worker import EmbedderFactory
from fashion_desktop.resources import APP_NAME, demo_index_path, resource_path, user_data_dir

if TYPE_CHECKING:
    from fashion_desktop.gui.kiosk import KioskWindow

STYLESHEET = ("styles", "light.qss")
SCREENSHOT_TIMEOUT_S = 240
EXIT_OK = 0
EXIT_FAILED = 1


def create_application() -> QApplication:
    """The QApplication, named for QSettings and styled (an existing instance is reused)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setWindowIcon(icon("app"))
    apply_style(app)
    return app


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    with contextlib.suppress(OSError):  # unstyled but usable
        app.setStyleSheet(resource_path(*STYLESHEET).read_text(encoding="utf-8"))


def default_embedder_factory(weights: str | None) -> EmbedderFactory:
    def load():
        from fashion_desktop.core.embedder import Embedder

        return Embedder.load(weights)

    return load


def choose_index(explicit: Path | None, settings: AppSettings) -> Path:
    """``--index``, else the last index used (if it still exists), else the demo catalogue."""
    if explicit is not None:
        return explicit
    last = settings.last_index
    if last is not None and last.is_dir():
        return last
    return demo_index_path()


def open_shortlists() -> tuple[ClientBook | None, str]:
    """The client book (shortlists, profiles, histories, looks) in the user data folder."""
    try:
        return ClientBook.in_directory(user_data_dir()), ""
    except FashionDesktopError as error:
        return None, str(error)


def build_window(
    args: argparse.Namespace,
    *,
    settings: AppSettings | None = None,
    embedder_factory: EmbedderFactory | None = None,
) -> MainWindow:
    """The main window for command-line ``args`` (not yet shown or started)."""
    settings = settings or AppSettings()
    given = getattr(args, "filter", None)
    filters = Filters.parse(given) if given else None  # None: the saved filters
    store, store_problem = open_shortlists()
    window = MainWindow(
        settings=settings,
        shortlist_store=store,
        embedder_factory=embedder_factory or default_embedder_factory(args.weights),
        index_path=choose_index(getattr(args, "index", None), settings),
        initial_filters=filters,
    )
    if store_problem:
        window.notify("warning", f"Shortlists and clients are unavailable: {store_problem}")
    return window


class ScreenshotRun(QObject):
    """``--screenshot``: wait for the results (and thumbnails) on screen, save, quit."""

    def __init__(
        self,
        window: MainWindow | KioskWindow,
        output: Path,
        *,
        expect_results: bool,
        timeout_s: float = SCREENSHOT_TIMEOUT_S,
        ready_signal=None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.output = Path(output)
        self.exit_code: int | None = None
        self._expect_results = expect_results
        if ready_signal is not None:  # e.g. a kiosk screen that is ready to be photographed
            ready_signal.connect(self._capture_soon)
        elif expect_results:
            window.results_presented.connect(self._capture_soon)
        else:
            window.index_ready.connect(self._capture_soon)
        window.notice_posted.connect(self._on_notice)
        QTimer.singleShot(int(timeout_s * 1000), self._timed_out)

    def _on_notice(self, level: str, message: str) -> None:
        if level == "error":
            self._finish(EXIT_FAILED, f"screenshot not taken: {message}")

    def _timed_out(self) -> None:
        self._finish(EXIT_FAILED, "screenshot not taken: timed out waiting for results")

    def _capture_soon(self, *_args) -> None:
        QTimer.singleShot(150, self._capture)  # let the last repaint land

    def _capture(self) -> None:
        if self.exit_code is not None:
            return
        self.window.repaint()
        pixmap = self.window.grab()
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._finish(EXIT_FAILED, f"cannot create {self.output.parent}: {error}")
            return
        if not pixmap.save(str(self.output)):
            self._finish(EXIT_FAILED, f"cannot write the screenshot to {self.output}")
            return
        print(f"Screenshot saved to {self.output}", file=sys.stderr)
        self._finish(EXIT_OK)

    def _finish(self, code: int, message: str = "") -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        if message:
            print(f"fashion-desktop: {message}", file=sys.stderr)
        allow_exit = getattr(self.window, "allow_exit", None)
        if allow_exit is not None:  # a kiosk only closes when told it may
            allow_exit()
        self.window.close()
        app = QApplication.instance()
        assert app is not None
        app.exit(code)


def run_app(args: argparse.Namespace) -> int:
    """Open the window for ``fashion-desktop [--index DIR] [--query IMG] [--screenshot OUT]``
    (``--kiosk``: the full-screen kiosk, see :mod:`fashion_desktop.gui.kiosk`)."""
    app = create_application()
    if getattr(args, "kiosk", False):
        return _run_kiosk(app, args)
    window = build_window(args)
    client = getattr(args, "client", None)
    screenshot = None
    if getattr(args, "screenshot", None):
        screenshot = ScreenshotRun(
            window,
            args.screenshot,
            expect_results=bool(args.query),
            # --client: photographed once the client's recommendations are painted
            ready_signal=window.recommendations_presented if client and not args.query else None,
        )
    if client:
        window.show_client(client)
    window.show()
    return _start_and_run(app, window, args, screenshot)


def _start_and_run(
    app: QApplication,
    window: MainWindow | KioskWindow,
    args: argparse.Namespace,
    screenshot: ScreenshotRun | None,
) -> int:
    """Start the shown window's workers, submit ``--query``, run the event loop to the end."""
    window.start()
    if args.query:
        window.open_paths(list(args.query))
    code = app.exec()
    if screenshot is not None and screenshot.exit_code is not None:
        return screenshot.exit_code
    return code


def _run_kiosk(app: QApplication, args: argparse.Namespace) -> int:
    """``--kiosk``: full screen; ``--screenshot`` photographs the attract screen, the results of
    ``--query`` or the screen named by ``--kiosk-screen`` (attract, capture, results, detail)."""
    from fashion_desktop.gui.kiosk import build_kiosk_window

    screenshot_path = getattr(args, "screenshot", None)
    screen = getattr(args, "kiosk_screen", None) or ("results" if args.query else "attract")
    if screenshot_path and screen in ("results", "detail") and not args.query:
        raise FashionDesktopError(f"The kiosk screen {screen!r} needs --query IMAGE.")
    # A screenshot of the attract or capture screen needs no model: none is loaded.
    no_model = bool(screenshot_path) and screen in ("attract", "capture") and not args.query
    window = build_kiosk_window(args, require_pin=not screenshot_path, load_model=not no_model)
    screenshot = None
    if screenshot_path:
        window.prepare_screenshot(screen, has_query=bool(args.query))
        screenshot = ScreenshotRun(
            window, screenshot_path, expect_results=False, ready_signal=window.screenshot_ready
        )
    window.show_kiosk()
    return _start_and_run(app, window, args, screenshot)
