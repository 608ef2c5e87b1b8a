"""Kiosk mode (``fashion-desktop --kiosk``): a self-service, camera-first, locked-down window.

The kiosk *is* the main window — the same query handling, worker, item models, result grid and
query preview (with its crop) — dressed as full-screen touch screens:

    attract ("Show us a piece you like") → capture → five large result cards → detail

Locked down: no file dialogs, paths, settings, shortlists or exports are reachable; drops are
off; closing the window, Alt+F4 and Escape do nothing. Staff leave with the admin PIN
(``fashion-desktop kiosk set-pin``) on a PIN pad opened by Ctrl+Shift+Q or by five taps in the
top-right corner. After ``idle_timeout_s`` without a touch it returns to the attract screen and
forgets the customer's photo and results — in the widgets, the models and the worker's cache.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core import kiosk_pin
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.search import SearchHit
from fashion_desktop.gui.camera import FrameSource, create_frame_source
from fashion_desktop.gui.capture_view import CaptureView
from fashion_desktop.gui.kiosk_config import KioskConfig, load_kiosk_config
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.gui.widgets.kiosk_screens import AttractScreen, KioskDetail, kiosk_button
from fashion_desktop.gui.widgets.pin_pad import PinPad
from fashion_desktop.gui.worker import EmbedderFactory, IndexSummary, QuerySource
from fashion_desktop.resources import resource_path, user_data_dir

KIOSK_STYLESHEET = ("styles", "kiosk.qss")
SCREENS = ("attract", "capture", "results", "detail", "pin")
EXIT_SHORTCUT = "Ctrl+Shift+Q"
#: The hidden exit gesture: this many taps within ``CORNER_TAP_WINDOW_S`` in the top-right
#: square of ``CORNER_SIZE`` px (no control is ever placed there).
CORNER_TAPS = 5
CORNER_TAP_WINDOW_S = 4.0
CORNER_SIZE = 96
USER_INPUT_EVENTS = {
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonRelease,
    QEvent.Type.TouchBegin,
    QEvent.Type.TouchUpdate,
    QEvent.Type.KeyPress,
    QEvent.Type.Wheel,
}


def forget_worker_queries(window: MainWindow) -> None:
    """Drop the customer's decoded photo(s) from the worker, on the worker's own thread."""
    worker = window.controller.worker
    QTimer.singleShot(0, worker, worker.forget_queries)


class KioskWindow(MainWindow):
    """The main window in kiosk dress (see the module docstring)."""

    #: The screen now shown (one of ``SCREENS``).
    screen_changed = Signal(str)
    #: The customer's session was cleared (idle timeout or a new customer).
    session_reset = Signal()
    #: ``--kiosk-screen``: the requested screen is ready to be photographed.
    screenshot_ready = Signal()

    def __init__(
        self,
        *,
        settings: AppSettings,
        embedder_factory: EmbedderFactory | None,
        index_path: Path,
        config: KioskConfig,
        frame_source: FrameSource,
        pin_directory: Path | None = None,
    ) -> None:
        super().__init__(
            settings=settings,
            shortlist_store=None,
            embedder_factory=embedder_factory,
            index_path=index_path,
            initial_filters=dict(config.filters),
        )
        self.setObjectName("KioskWindow")
        self.setWindowFlags(Qt.Window | Qt.FramelessWindowHint)
        self.setAcceptDrops(False)
        self.config = config
        self.fixed_filters = {f: list(v) for f, v in config.filters.items()}
        self.frame_source = frame_source
        frame_source.setParent(self)
        self._pin_directory = pin_directory
        self._exit_allowed = False
        self._corner_taps: list[float] = []
        self._last_tap: tuple[int, int, int] | None = None
        self._screen_before_pin = "attract"
        self._lock_down()
        self._build_kiosk()
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(round(config.idle_timeout_s * 1000))
        self.idle_timer.timeout.connect(self._on_idle)
        self._exit_shortcut = QShortcut(QKeySequence(EXIT_SHORTCUT), self)
        self._exit_shortcut.setContext(Qt.ApplicationShortcut)
        self._exit_shortcut.activated.connect(self.show_pin_pad)
        QApplication.instance().installEventFilter(self)
        with contextlib.suppress(OSError):
            self.setStyleSheet(resource_path(*KIOSK_STYLESHEET).read_text(encoding="utf-8"))
        self.show_screen("attract")

    # ============================================================================ build
    def _lock_down(self) -> None:
        """Nothing of the stylist window stays reachable: actions, shortcuts, dialogs, drops."""
        for action in self.actions():
            action.setEnabled(False)
            self.removeAction(action)
        for action in (
            self.open_action,
            self.paste_action,
            self.camera_action,
            self.open_index_action,
            self.demo_index_action,
            self.shortlist_action,
        ):
            action.setEnabled(False)
        self.result_grid.shortlist_toggled.disconnect()
        self.prediction_chips.filter_requested.disconnect()
        self.preview.open_requested.disconnect()
        for card in self.result_grid.cards:
            card.shortlist_button.hide()
            card.shortlist_button.setEnabled(False)
            card.item_id.hide()
            card.more_button.setMinimumHeight(52)
            card.more_button.setToolButtonStyle(Qt.ToolButtonTextOnly)  # room for the words

    def _build_kiosk(self) -> None:
        # The stylist layout stays alive (hidden) because the shared query code updates some of
        # its widgets; the preview, result grid and notice banner move into the kiosk screens.
        stylist = self.takeCentralWidget()
        stylist.setParent(self)
        stylist.hide()
        self._stylist_body = stylist

        self.attract = AttractScreen()
        self.attract.start_requested.connect(self.show_capture)

        capture_page = QWidget()
        capture_page.setObjectName("KioskPage")
        capture_title = QLabel("Hold the piece up to the camera")
        capture_title.setObjectName("KioskTitle")
        capture_title.setAlignment(Qt.AlignCenter)
        capture_hint = QLabel("Fill the frame with it, then tap Capture.")
        capture_hint.setObjectName("KioskSubtitle")
        capture_hint.setAlignment(Qt.AlignCenter)
        self.capture_view = CaptureView(
            self.frame_source, use_text="Find similar pieces", cancel_text="Back", kiosk=True
        )
        self.capture_view.used.connect(self.search_camera_frame)
        self.capture_view.cancelled.connect(self.reset_session)
        self.capture_view.state_changed.connect(self._on_capture_state)
        capture_layout = QVBoxLayout(capture_page)
        capture_layout.setContentsMargins(56, 36, 56, 40)
        capture_layout.setSpacing(14)
        capture_layout.addWidget(capture_title)
        capture_layout.addWidget(capture_hint)
        capture_layout.addSpacing(8)
        capture_layout.addWidget(self.capture_view, 1)

        self.results_page = self._build_results_page()
        self.detail = KioskDetail(self.thumbnails)
        self.detail.back_requested.connect(lambda: self.show_screen("results"))
        self.detail.more_like_this.connect(self.more_like_this)
        self.detail.start_over.connect(self.new_customer_photo)
        self.pin_pad = PinPad(self.check_pin)
        self.pin_pad.accepted.connect(self.exit_kiosk)
        self.pin_pad.cancelled.connect(lambda: self.show_screen(self._screen_before_pin))

        self.stack = QStackedWidget()
        self.stack.setObjectName("KioskStack")
        for page in (self.attract, capture_page, self.results_page, self.detail, self.pin_pad):
            self.stack.addWidget(page)
        root = QWidget()
        root.setObjectName("KioskRoot")
        root_layout = QVBoxLayout(root)
        root_layout.setContentsMargins(0, 0, 0, 0)
        root_layout.setSpacing(0)
        root_layout.addWidget(self.notice_banner)  # margins in kiosk.qss
        root_layout.addWidget(self.stack, 1)
        self.setCentralWidget(root)

    def _build_results_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("KioskPage")
        self.new_photo_button = kiosk_button("New photo", "camera")
        self.new_photo_button.clicked.connect(self.new_customer_photo)
        self.kiosk_results_title = QLabel("Finding similar pieces…")
        self.kiosk_results_title.setObjectName("KioskTitle")
        self.kiosk_results_subtitle = QLabel("")
        self.kiosk_results_subtitle.setObjectName("KioskSubtitle")
        titles = QVBoxLayout()
        titles.setSpacing(4)
        titles.addWidget(self.kiosk_results_title)
        titles.addWidget(self.kiosk_results_subtitle)
        top = QHBoxLayout()
        top.setSpacing(28)
        top.addLayout(titles, 1)
        top.addWidget(self.new_photo_button, 0, Qt.AlignVCenter)
        top.addSpacing(CORNER_SIZE)  # the hidden exit corner stays free of controls

        photo_panel = QFrame()
        photo_panel.setObjectName("KioskPhotoPanel")
        photo_title = QLabel("Your photo")
        photo_title.setObjectName("KioskSection")
        self.crop_help = QLabel("Drag across your photo to focus on one part of it.")
        self.crop_help.setObjectName("KioskHint")
        self.crop_help.setWordWrap(True)
        self.whole_photo_button = kiosk_button("Whole photo", "reset")
        self.whole_photo_button.clicked.connect(lambda: self.preview.set_crop(None))
        self.preview.setMinimumSize(220, 260)
        photo_layout = QVBoxLayout(photo_panel)
        photo_layout.setContentsMargins(20, 20, 20, 20)
        photo_layout.setSpacing(12)
        photo_layout.addWidget(photo_title)
        photo_layout.addWidget(self.preview, 1)
        photo_layout.addWidget(self.crop_help)
        photo_layout.addWidget(self.whole_photo_button)

        body = QHBoxLayout()
        body.setSpacing(32)
        body.addWidget(photo_panel, 2)
        body.addWidget(self.result_grid, 9)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(48, 28, 48, 32)
        layout.setSpacing(24)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        self.results_model.modelReset.connect(self._update_results_header)
        self.preview.crop_changed.connect(lambda _crop: self._update_crop_controls())
        self._update_crop_controls()
        return page

    def show_kiosk(self) -> None:
        """Cover the whole screen (also without a window manager, e.g. under Xvfb)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:
            self.setGeometry(screen.geometry())
        self.showFullScreen()

    # ========================================================================== screens
    @property
    def current_screen(self) -> str:
        return SCREENS[self.stack.currentIndex()]

    def show_screen(self, name: str) -> None:
        if name != "capture" and self.capture_view.state != "stopped":
            self.capture_view.stop()  # the camera runs only while its screen is shown
        self.stack.setCurrentIndex(SCREENS.index(name))
        if name == "pin":
            self.pin_pad.reset()
            self.pin_pad.setFocus()
        if name != "attract":
            self.idle_timer.start()
        self.screen_changed.emit(name)

    def show_capture(self) -> None:
        self.show_screen("capture")
        self.capture_view.start()
        self.capture_view.setFocus()

    def new_customer_photo(self) -> None:
        """ "New photo": forget this search, then open the camera."""
        self.reset_session(go_to="capture")
        self.capture_view.start()

    def show_pin_pad(self) -> None:
        if self.current_screen != "pin":
            self._screen_before_pin = self.current_screen
            self.show_screen("pin")

    # ========================================================================= sessions
    def reset_session(self, go_to: str = "attract") -> None:
        """Forget the customer: photo, results, detail, camera frames, the worker's cache."""
        self.capture_view.stop()
        self.controller.cancel()  # answers to earlier queries are no longer shown
        self.active = None
        self._shown = None
        self._pending_item_preview = None
        self.results_model.set_response(None)
        self.preview.clear()
        self.preview.set_status("")
        self.prediction_chips.set_predictions(None)
        self.query_caption.setText("No photo yet")
        self.detail.set_hit(None)
        self.notice_banner.dismiss()
        self.result_grid.show_message("similar", "Finding similar pieces…")
        forget_worker_queries(self)
        self._update_results_header()
        self.show_screen(go_to)
        self.session_reset.emit()

    def _on_idle(self) -> None:
        if self.current_screen != "attract":
            self.reset_session()

    # ========================================================================== queries
    def search_sources(self, sources: list[QuerySource]) -> int:
        if not sources:
            return 0
        self.results_model.set_response(None)
        self.result_grid.show_message("similar", "Finding similar pieces…")
        self.show_screen("results")
        return super().search_sources(sources)

    def more_like_this(self, hit: SearchHit) -> int:
        self.show_screen("results")
        return super().more_like_this(hit)

    def show_details(self, hit: SearchHit):  # type: ignore[override]
        self.detail.set_hit(hit)
        self.show_screen("detail")
        return self.detail

    # Everything that would show a file dialog or a path is switched off.
    def open_with_dialog(self) -> None:
        return None

    def open_index_with_dialog(self) -> None:
        return None

    def paste(self) -> int:
        return 0

    def open_camera(self):  # type: ignore[override]
        self.show_capture()

    def set_shortlist_visible(self, visible: bool) -> None:
        super().set_shortlist_visible(False)

    def _on_filters_changed(self, filters: dict[str, list[str]]) -> None:
        """Fixed filters are not the customer's to change (nor saved as a stylist's)."""
        if filters != self.fixed_filters:
            self.filter_bar.set_filters(self.fixed_filters)
        self._rerun_active()

    def _on_index_opened(self, summary: IndexSummary) -> None:
        unknown = sorted(set(self.fixed_filters) - set(summary.fields))
        super()._on_index_opened(summary)
        if unknown:
            self.notify(
                "error",
                f"The kiosk configuration filters on {', '.join(unknown)}, which this catalogue "
                f"does not have (fields: {', '.join(summary.fields)}).",
            )
        self.filter_bar.set_filters(self.fixed_filters)

    def _update_results_header(self) -> None:
        response = self.results_model.response
        hits = self.results_model.hits
        if response is None:
            self.kiosk_results_title.setText("Finding similar pieces…")
        elif hits:
            count = "Five" if len(hits) == 5 else str(len(hits))
            self.kiosk_results_title.setText(f"{count} pieces like yours")
        else:
            self.kiosk_results_title.setText("Nothing quite like it here")
        scope = " · ".join(v for values in self.fixed_filters.values() for v in values)
        hint = "Tap a piece to see it larger."
        self.kiosk_results_subtitle.setText(
            f"{hint}  Showing {scope} only." if scope and hits else hint if hits else ""
        )
        self._update_crop_controls()

    def _update_crop_controls(self) -> None:
        can_crop = self.active is not None and not self.active.is_item and self.preview.has_image
        self.crop_help.setVisible(can_crop and self.preview.crop is None)
        self.whole_photo_button.setVisible(self.preview.crop is not None)

    def _on_capture_state(self, state: str) -> None:
        if state in ("live", "error") and self._screenshot_screen == "capture":
            self._screenshot_screen = None
            QTimer.singleShot(300, self.screenshot_ready)

    # ========================================================================= lock-down
    def check_pin(self, pin: str) -> bool:
        return kiosk_pin.verify_pin(pin, self._pin_directory)

    def exit_kiosk(self) -> None:
        """The right PIN was entered: leave kiosk mode (closes the window and the app)."""
        self.allow_exit()
        self.close()

    def allow_exit(self) -> None:
        self._exit_allowed = True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._exit_allowed:
            event.ignore()  # window close, Alt+F4: only the PIN leaves kiosk mode
            return
        self.idle_timer.stop()
        QApplication.instance().removeEventFilter(self)
        self.capture_view.stop()
        super().closeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key_Escape:
            event.accept()  # Escape never leaves the kiosk
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        kind = event.type()
        if kind not in USER_INPUT_EVENTS or not self.isVisible():
            return False
        if self.current_screen != "attract":
            self.idle_timer.start()  # any touch or key keeps the customer's session alive
        if (
            kind == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key_Escape
            and self.current_screen != "pin"
        ):
            return True  # Escape never leaves the kiosk (the PIN pad uses it for Cancel)
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin):
            self._count_corner_tap(watched, event)
        return False

    def _count_corner_tap(self, watched: QObject, event: QEvent) -> None:
        if event.type() == QEvent.Type.TouchBegin:
            points = event.points()
            if not points:
                return
            global_pos = points[0].globalPosition().toPoint()
        else:
            global_pos = event.globalPosition().toPoint()
        # One press reaches the filter once per receiver (window, widget, its parents): count
        # it once.
        key = (event.timestamp(), global_pos.x(), global_pos.y())
        if key == self._last_tap or not isinstance(watched, QWidget):
            return
        self._last_tap = key
        top_right = self.mapToGlobal(QPoint(self.width() - CORNER_SIZE, 0))
        corner = QRect(top_right, self.mapToGlobal(QPoint(self.width(), CORNER_SIZE)))
        if not corner.contains(global_pos):
            self._corner_taps.clear()
            return
        now = time.monotonic()
        self._corner_taps = [t for t in self._corner_taps if now - t < CORNER_TAP_WINDOW_S]
        self._corner_taps.append(now)
        if len(self._corner_taps) >= CORNER_TAPS:
            self._corner_taps.clear()
            self.show_pin_pad()

    # ======================================================================= screenshots
    _screenshot_screen: str | None = None

    def prepare_screenshot(self, screen: str, *, has_query: bool) -> None:
        """``--kiosk-screen``: show ``screen`` and emit ``screenshot_ready`` once it is painted."""
        self._screenshot_screen = screen
        if screen == "attract":
            self.index_ready.connect(lambda _ok: QTimer.singleShot(300, self.screenshot_ready))
        elif screen == "capture":
            self.index_ready.connect(lambda _ok: self.show_capture())
        elif screen in ("results", "detail") and has_query:
            self.results_presented.connect(self._screenshot_results)
        else:
            raise FashionDesktopError(f"The kiosk screen {screen!r} needs --query IMAGE.")

    def _screenshot_results(self, _request_id: int) -> None:
        if self._screenshot_screen == "detail" and self.results_model.hits:
            self._screenshot_screen = None
            self.detail.image_loaded.connect(lambda: QTimer.singleShot(300, self.screenshot_ready))
            self.show_details(self.results_model.hits[0])
        elif self._screenshot_screen == "results":
            self._screenshot_screen = None
            QTimer.singleShot(300, self.screenshot_ready)


# ================================================================================ building
def kiosk_settings() -> AppSettings:
    """The kiosk's own state file: it never reads or changes a stylist's settings."""
    path = user_data_dir() / "kiosk-state.ini"
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def build_kiosk_window(
    args: argparse.Namespace,
    *,
    settings: AppSettings | None = None,
    embedder_factory: EmbedderFactory | None = None,
    frame_source: FrameSource | None = None,
    pin_directory: Path | None = None,
    require_pin: bool = True,
    load_model: bool = True,
) -> KioskWindow:
    """The kiosk window for ``fashion-desktop --kiosk [--kiosk-config PATH] [--index DIR]``."""
    from fashion_desktop.cli import parse_filters
    from fashion_desktop.gui.app import choose_index, default_embedder_factory

    config = load_kiosk_config(getattr(args, "kiosk_config", None))
    extra = parse_filters(args.filter) if getattr(args, "filter", None) else {}
    if extra:  # --filter adds fixed filters on top of the configuration's
        merged = {f: list(v) for f, v in config.filters.items()}
        for field, values in extra.items():
            merged.setdefault(field, []).extend(v for v in values if v not in merged[field])
        config = KioskConfig(config.idle_timeout_s, merged, config.index, config.source)
    if require_pin and not kiosk_pin.has_pin(pin_directory):
        raise FashionDesktopError(
            "Kiosk mode needs an admin PIN to exit it: set one first with "
            "`fashion-desktop kiosk set-pin`."
        )
    settings = settings or kiosk_settings()
    index = getattr(args, "index", None) or config.index
    return KioskWindow(
        settings=settings,
        embedder_factory=(embedder_factory or default_embedder_factory(args.weights))
        if load_model
        else None,
        index_path=choose_index(index, settings),
        config=config,
        frame_source=frame_source or create_frame_source(),
        pin_directory=pin_directory,
    )
