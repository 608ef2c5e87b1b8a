"""Kiosk mode (``fashion-desktop --kiosk``): a self-service, camera-first, locked-down window.

The kiosk is its own window built from the stylist window's parts — the same query session
and presenter (:mod:`fashion_desktop.gui.presenter`), worker, item models, result grid and
query preview (with its crop) — dressed as full-screen touch screens:

    attract ("Show us a piece you like") → capture → five large result cards → detail

Locked down: it has no file dialogs, paths, settings, shortlists or exports to reach; drops are
off; closing the window, Alt+F4 and Escape do nothing. Staff leave with the admin PIN
(``fashion-desktop kiosk set-pin``) on a PIN pad opened by Ctrl+Shift+Q or by five taps in the
top-right corner. After ``idle_timeout_s`` without a touch it returns to the attract screen and
forgets the customer's photo and results — in the widgets, the models and the worker's cache.
Every screen lays out for the window it is in: type scales with the screen, titles wrap, the
photo goes above the results on a portrait screen and the result grid picks its columns so that
every card is seen whole.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import cast

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPointerEvent,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core import kiosk_pin
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.kiosk_config import KioskConfig, load_kiosk_config
from fashion_desktop.core.search import SearchHit
from fashion_desktop.core.session import QuerySession
from fashion_desktop.gui.camera import FrameSource, captured_query, create_frame_source
from fashion_desktop.gui.capture_view import CaptureView
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.models import ResultsModel
from fashion_desktop.gui.presenter import SearchPresenter
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.kiosk_screens import AttractScreen, KioskDetail, kiosk_button
from fashion_desktop.gui.widgets.notice import NoticeBanner, NoticeLevel
from fashion_desktop.gui.widgets.pin_pad import PinPad
from fashion_desktop.gui.widgets.query_panel import QueryPreview
from fashion_desktop.gui.widgets.results import ResultGrid
from fashion_desktop.gui.worker import EmbedderFactory, IndexSummary, QuerySource, SearchController
from fashion_desktop.resources import APP_NAME, resource_path, user_data_dir

KIOSK_STYLESHEET = ("styles", "kiosk.qss")
SCREENS = ("attract", "capture", "results", "detail", "pin")
EXIT_SHORTCUT = "Ctrl+Shift+Q"
#: The hidden exit gesture: this many taps within ``CORNER_TAP_WINDOW_S`` in the top-right
#: square of ``CORNER_SIZE`` px (no control is ever placed there).
CORNER_TAPS = 5
CORNER_TAP_WINDOW_S = 4.0
CORNER_SIZE = 96
#: Type and spacing are designed for a 1440 × 900 window and scale with the window (the short
#: side against 900, the long against 1440), within these bounds.
DESIGN_SIZE = (1440, 900)
SCALE_RANGE = (0.6, 2.5)
USER_INPUT_EVENTS = {
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonRelease,
    QEvent.Type.TouchBegin,
    QEvent.Type.TouchUpdate,
    QEvent.Type.KeyPress,
    QEvent.Type.Wheel,
}


def layout_scale(width: int, height: int) -> float:
    """How much larger than the 1440 × 900 design the kiosk's type and spacing are drawn."""
    long_side, short_side = max(width, height), min(width, height)
    scale = min(long_side / DESIGN_SIZE[0], short_side / DESIGN_SIZE[1])
    return round(min(max(scale, SCALE_RANGE[0]), SCALE_RANGE[1]) * 20) / 20


_SIZE = re.compile(r"(?P<prop>[\w-]+)\s*:\s*(?P<values>[^;{}]*\d(?:pt|px)[^;{}]*)")
_LENGTH = re.compile(r"(\d+(?:\.\d+)?)(pt|px)")


def scaled_stylesheet(qss: str, scale: float) -> str:
    """``qss`` with every length multiplied by ``scale``; minimum and maximum sizes (touch
    targets) never shrink below the design's."""

    def declaration(match: re.Match) -> str:
        prop = match.group("prop")
        if prop.startswith(("min-", "max-")):
            factor = max(scale, 1.0)
        elif prop == "border-radius":  # beyond half a button's height Qt drops the rounding
            factor = min(scale, 1.0)
        else:
            factor = scale
        values = _LENGTH.sub(
            lambda m: f"{max(1, round(float(m.group(1)) * factor))}{m.group(2)}",
            match.group("values"),
        )
        return f"{prop}: {values}"

    return _SIZE.sub(declaration, qss)


def _title(text: str, name: str, *, centred: bool = False) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)  # a narrow screen wraps titles instead of running under buttons
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    if centred:
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


class KioskWindow(QMainWindow):
    """The self-service kiosk (see the module docstring)."""

    #: Emitted once the newest results and all their thumbnails are on screen.
    results_presented = Signal(int)
    #: Emitted when the index was opened (True) or could not be (False).
    index_ready = Signal(bool)
    #: Every notice shown (level, message).
    notice_posted = Signal(str, str)
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
        super().__init__()
        self.setObjectName("KioskWindow")
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(icon("app"))
        self.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint)
        self.setAcceptDrops(False)
        self.settings = settings
        self.config = config
        self.index_path = Path(index_path)
        self._embedder_factory = embedder_factory
        self.frame_source = frame_source
        frame_source.setParent(self)
        self._pin_directory = pin_directory
        self._exit_allowed = False
        self._corner_taps: list[float] = []
        self._last_tap: tuple[int, int, int] | None = None
        self._screen_before_pin = "attract"
        self._scale = 0.0
        try:
            self._stylesheet = resource_path(*KIOSK_STYLESHEET).read_text(encoding="utf-8")
        except OSError:
            self._stylesheet = ""

        self.session: QuerySession[QuerySource] = QuerySession(fixed_filters=config.filters)
        self.controller = SearchController(self)
        self.thumbnails = ThumbnailLoader(self)
        self.results_model = ResultsModel(self)
        self.notice_banner = NoticeBanner()
        self.preview = QueryPreview()
        self.result_grid = ResultGrid(self.results_model, self.thumbnails, fit_on_screen=True)
        self.result_grid.customer_view()
        self.presenter = SearchPresenter(
            self.session,
            self.controller,
            preview=self.preview,
            results_model=self.results_model,
            result_grid=self.result_grid,
            thumbnails=self.thumbnails,
            notify=self.notify,
            parent=self,
        )
        self._build()
        self._connect()
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(round(config.idle_timeout_s * 1000))
        self.idle_timer.timeout.connect(self._on_idle)
        self._exit_shortcut = QShortcut(QKeySequence(EXIT_SHORTCUT), self)
        self._exit_shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self._exit_shortcut.activated.connect(self.show_pin_pad)
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)
        self._apply_scale()
        self.show_screen("attract")

    # ============================================================================ build
    def _build(self) -> None:
        self.attract = AttractScreen()
        self.capture_page = self._build_capture_page()
        self.results_page = self._build_results_page()
        self.detail = KioskDetail(self.thumbnails)
        self.pin_pad = PinPad(self.check_pin)
        self.stack = QStackedWidget()
        self.stack.setObjectName("KioskStack")
        for page in (self.attract, self.capture_page, self.results_page, self.detail, self.pin_pad):
            self.stack.addWidget(page)
        root = QWidget()
        root.setObjectName("KioskRoot")
        root_layout = QVBoxLayout(root)
        root_layout.setContentsMargins(0, 0, 0, 0)
        root_layout.setSpacing(0)
        root_layout.addWidget(self.notice_banner)  # margins in kiosk.qss
        root_layout.addWidget(self.stack, 1)
        self.setCentralWidget(root)

    def _build_capture_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("KioskPage")
        title = _title("Hold the piece up to the camera", "KioskTitle", centred=True)
        hint = _title("Fill the frame with it, then tap Capture.", "KioskSubtitle", centred=True)
        self.capture_view = CaptureView(
            self.frame_source, use_text="Find similar pieces", cancel_text="Back", kiosk=True
        )
        self._capture_layout = QVBoxLayout(page)
        self._capture_layout.setSpacing(14)
        self._capture_layout.addWidget(title)
        self._capture_layout.addWidget(hint)
        self._capture_layout.addSpacing(8)
        self._capture_layout.addWidget(self.capture_view, 1)
        return page

    def _build_results_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("KioskPage")
        self.new_photo_button = kiosk_button("New photo", "camera")
        self.new_photo_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.kiosk_results_title = _title("Finding similar pieces…", "KioskTitle")
        self.kiosk_results_subtitle = _title("", "KioskSubtitle")
        titles = QVBoxLayout()
        titles.setSpacing(4)
        titles.addWidget(self.kiosk_results_title)
        titles.addWidget(self.kiosk_results_subtitle)
        self._results_top = QHBoxLayout()
        self._results_top.addLayout(titles, 1)
        self._results_top.addWidget(self.new_photo_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self._results_top.addSpacing(CORNER_SIZE)  # the hidden exit corner stays free

        self.photo_panel = QFrame()
        self.photo_panel.setObjectName("KioskPhotoPanel")
        photo_title = QLabel("Your photo")
        photo_title.setObjectName("KioskSection")
        self.crop_help = _title("Drag across your photo to focus on one part of it.", "KioskHint")
        self.whole_photo_button = kiosk_button("Whole photo", "reset")
        self._photo_layout = QVBoxLayout(self.photo_panel)
        self._photo_layout.addWidget(photo_title)
        self._photo_layout.addWidget(self.preview, 1)
        self._photo_layout.addWidget(self.crop_help)
        self._photo_layout.addWidget(self.whole_photo_button)

        self._results_body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self._results_body.addWidget(self.photo_panel, 2)
        self._results_body.addWidget(self.result_grid, 9)
        self._results_layout = QVBoxLayout(page)
        self._results_layout.addLayout(self._results_top)
        self._results_layout.addLayout(self._results_body, 1)
        return page

    def _connect(self) -> None:
        self.attract.start_requested.connect(self.show_capture)
        self.capture_view.used.connect(self.search_camera_frame)
        self.capture_view.cancelled.connect(self.reset_session)
        self.capture_view.state_changed.connect(self._on_capture_state)
        self.new_photo_button.clicked.connect(self.new_customer_photo)
        self.whole_photo_button.clicked.connect(lambda: self.preview.set_crop(None))
        self.result_grid.activated.connect(self.show_details)
        self.result_grid.more_like_this.connect(self.more_like_this)
        self.detail.back_requested.connect(lambda: self.show_screen("results"))
        self.detail.more_like_this.connect(self.more_like_this)
        self.detail.start_over.connect(self.new_customer_photo)
        self.pin_pad.accepted.connect(self.exit_kiosk)
        self.pin_pad.cancelled.connect(lambda: self.show_screen(self._screen_before_pin))
        self.notice_banner.posted.connect(self.notice_posted)
        self.results_model.modelReset.connect(self._update_results_header)
        p = self.presenter
        p.changed.connect(self._update_crop_controls)
        p.index_opened.connect(self._on_index_opened)
        p.index_ready.connect(self.index_ready)
        p.results_presented.connect(self.results_presented)
        self._update_crop_controls()

    # ========================================================================== layout
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._apply_scale()

    def _apply_scale(self) -> None:
        """Type and spacing for this window's size; the photo above the results when portrait."""
        width, height = max(1, self.width()), max(1, self.height())
        portrait = height > width
        self._results_body.setDirection(
            QBoxLayout.Direction.TopToBottom if portrait else QBoxLayout.Direction.LeftToRight
        )
        self._results_body.setStretch(0, 3 if portrait else 2)
        self._results_body.setStretch(1, 8 if portrait else 9)
        scale = layout_scale(width, height)
        if scale == self._scale:
            return
        self._scale = scale
        margin, gap = round(48 * scale), round(28 * scale)
        self._results_layout.setContentsMargins(margin, round(28 * scale), margin, margin)
        self._results_layout.setSpacing(round(24 * scale))
        self._results_top.setSpacing(gap)
        self._results_body.setSpacing(round(32 * scale))
        self._capture_layout.setContentsMargins(
            round(56 * scale), round(36 * scale), round(56 * scale), round(40 * scale)
        )
        self._photo_layout.setContentsMargins(*[round(16 * scale)] * 4)
        self._photo_layout.setSpacing(round(10 * scale))
        self.preview.setMinimumSize(round(160 * min(scale, 1.0)), round(180 * min(scale, 1.0)))
        self.result_grid.set_scale(scale)
        large = max(scale, 1.0)
        for button in (self.new_photo_button, self.whole_photo_button, *self.detail.buttons()):
            button.setIconSize(icon_size(round(30 * large)))
        self.attract.logo.setPixmap(icon("app").pixmap(round(96 * large), round(96 * large)))
        self.attract.start_button.setIconSize(icon_size(round(40 * large)))
        self.setStyleSheet(scaled_stylesheet(self._stylesheet, scale))

    def show_kiosk(self) -> None:
        """Cover the whole screen (also without a window manager, e.g. under Xvfb)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:
            self.setGeometry(screen.geometry())
        self.showFullScreen()

    # ========================================================================== start-up
    def start(self) -> None:
        """Open the index and start loading the model (call once the window is shown)."""
        self.presenter.start(self.index_path, self._embedder_factory)

    def _on_index_opened(self, summary: IndexSummary) -> None:
        self.index_path = summary.path
        self.settings.last_index = summary.path
        self._update_results_header()

    def notify(self, level: NoticeLevel | str, message: str) -> None:
        self.notice_banner.show_notice(message, level)

    # ========================================================================== screens
    @property
    def current_screen(self) -> str:
        return SCREENS[self.stack.currentIndex()]

    def show_screen(self, name: str) -> None:
        if name != "capture" and self.capture_view.state != "stopped":
            self.capture_view.stop()  # the camera runs only while its screen is shown
        self.stack.setCurrentIndex(SCREENS.index(name))
        for index in range(self.stack.count()):  # only the screen shown sets the minimum size
            shown = index == self.stack.currentIndex()
            policy = QSizePolicy.Policy.Preferred if shown else QSizePolicy.Policy.Ignored
            widget = self.stack.widget(index)
            assert widget is not None
            widget.setSizePolicy(policy, policy)
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

    def show_details(self, hit: SearchHit) -> KioskDetail:
        self.detail.set_hit(hit)
        self.show_screen("detail")
        return self.detail

    # ========================================================================= sessions
    def reset_session(self, go_to: str = "attract") -> None:
        """Forget the customer: photo, results, detail, camera frames, the worker's cache."""
        self.capture_view.stop()
        self.presenter.reset()
        self.detail.set_hit(None)
        self.notice_banner.dismiss()
        self.result_grid.show_message("similar", "Finding similar pieces…")
        self._update_results_header()
        self.show_screen(go_to)
        self.session_reset.emit()

    def _on_idle(self) -> None:
        if self.current_screen != "attract":
            self.reset_session()

    # ========================================================================== queries
    def search_camera_frame(self, image: QImage) -> int:
        """Search with the customer's captured photo (cropped in the preview if they like)."""
        if image.isNull():
            return 0
        return self.search_sources([captured_query(image)])

    def open_paths(self, paths: list[Path]) -> int:
        """``--query IMAGE`` (screenshots, tests): search with image files, like a capture."""
        return self.search_sources([QuerySource(Path(p).name, path=Path(p)) for p in paths])

    def search_sources(self, sources: list[QuerySource]) -> int:
        if not sources:
            return 0
        self.results_model.set_response(None)
        self.result_grid.show_message("similar", "Finding similar pieces…")
        self.show_screen("results")
        return self.presenter.search_sources(sources)

    def more_like_this(self, hit: SearchHit) -> int:
        self.show_screen("results")
        return self.presenter.more_like_this(hit)

    @property
    def fixed_filters(self) -> Filters:
        return self.session.fixed_filters

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
        scope = self.session.fixed_filters.value_summary()
        hint = "Tap a piece to see it larger."
        self.kiosk_results_subtitle.setText(
            f"{hint}  Showing {scope} only." if scope and hits else hint if hits else ""
        )
        self._update_crop_controls()

    def _update_crop_controls(self) -> None:
        can_crop = self.session.can_crop and self.preview.has_image
        self.crop_help.setVisible(can_crop and self.preview.crop is None)
        self.whole_photo_button.setVisible(self.preview.crop is not None)

    def _on_capture_state(self, state: str) -> None:
        if state in ("live", "error") and self._screenshot_screen == "capture":
            self._screenshot_screen = None
            QTimer.singleShot(300, self, self.screenshot_ready.emit)

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
        app = QApplication.instance()
        assert app is not None
        app.removeEventFilter(self)
        self.capture_view.stop()
        self.controller.shutdown()
        super().closeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
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
            and event.key() == Qt.Key.Key_Escape
            and self.current_screen != "pin"
        ):
            return True  # Escape never leaves the kiosk (the PIN pad uses it for Cancel)
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin):
            self._count_corner_tap(watched, event)
        return False

    def _count_corner_tap(self, watched: QObject, event: QEvent) -> None:
        # Only presses come here: PySide6 delivers a TouchBegin as a QTouchEvent and a
        # MouseButtonPress as a QMouseEvent, both QPointerEvents.
        pointer = cast(QPointerEvent, event)
        if event.type() == QEvent.Type.TouchBegin:
            points = pointer.points()
            if not points:
                return
            global_pos = points[0].globalPosition().toPoint()
        else:
            global_pos = cast(QMouseEvent, event).globalPosition().toPoint()
        # One press reaches the filter once per receiver (window, widget, its parents): count
        # it once.
        key = (pointer.timestamp(), global_pos.x(), global_pos.y())
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
            self.index_ready.connect(
                lambda _ok: QTimer.singleShot(300, self, self.screenshot_ready.emit)
            )
        elif screen == "capture":
            self.index_ready.connect(lambda _ok: self.show_capture())
        elif screen in ("results", "detail") and has_query:
            self.results_presented.connect(self._screenshot_results)
        else:
            raise FashionDesktopError(f"The kiosk screen {screen!r} needs --query IMAGE.")

    def _screenshot_results(self, _request_id: int) -> None:
        if self._screenshot_screen == "detail" and self.results_model.hits:
            self._screenshot_screen = None
            self.detail.image_loaded.connect(
                lambda: QTimer.singleShot(300, self, self.screenshot_ready.emit)
            )
            self.show_details(self.results_model.hits[0])
        elif self._screenshot_screen == "results":
            self._screenshot_screen = None
            QTimer.singleShot(300, self, self.screenshot_ready.emit)


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
    from fashion_desktop.gui.app import choose_index, default_embedder_factory

    config = load_kiosk_config(getattr(args, "kiosk_config", None))
    # --filter adds fixed filters on top of the configuration's
    config = config.with_filters(Filters.parse(getattr(args, "filter", None)))
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
