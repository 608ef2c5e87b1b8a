"""The stylist's window: wires its widgets to the query session, the item models and the worker.

The query flow (what the results answer, how a filter, a crop or "more like this" re-runs it) is
the core :class:`~fashion_desktop.core.session.QuerySession`, driven through the
:class:`~fashion_desktop.gui.presenter.SearchPresenter` the kiosk shares; this module holds only
the stylist's layout and slots. The Clients page (:mod:`fashion_desktop.gui.widgets.clients`)
is the header's second tab; its recommendations, looks and history imports run on the client
worker (:mod:`fashion_desktop.gui.client_worker`), and the shortlist panel on the right is the
current client's on both pages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QObject, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.clients import ClientBook
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.history import ImportReport
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.looks import Look, export_look, saved_items
from fashion_desktop.core.scoring import DEFAULT_SCORING
from fashion_desktop.core.search import SearchHit, SearchResponse
from fashion_desktop.core.session import QuerySession
from fashion_desktop.core.shortlist import ShortlistStore
from fashion_desktop.gui.background import run_in_background
from fashion_desktop.gui.camera import FrameSource, captured_query, create_frame_source
from fashion_desktop.gui.capture_view import CaptureDialog
from fashion_desktop.gui.client_worker import CatalogueVocabulary, ClientController
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.mime import may_contain_image, sources_from_mime
from fashion_desktop.gui.models import ResultsModel
from fashion_desktop.gui.presenter import SearchPresenter
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.clients import ClientsPanel
from fashion_desktop.gui.widgets.detail import ItemDetailDialog
from fashion_desktop.gui.widgets.filters import FilterBar
from fashion_desktop.gui.widgets.look_view import LookDialog
from fashion_desktop.gui.widgets.notice import NoticeBanner, NoticeLevel
from fashion_desktop.gui.widgets.query_panel import (
    PredictionChips,
    QueryPreview,
    RecentQueriesStrip,
)
from fashion_desktop.gui.widgets.results import ResultGrid
from fashion_desktop.gui.widgets.shortlist import ShortlistPanel
from fashion_desktop.gui.widgets.status import ModelStatus
from fashion_desktop.gui.worker import (
    DecodedQuery,
    EmbedderFactory,
    IndexSummary,
    QuerySource,
    SearchController,
)
from fashion_desktop.resources import APP_NAME, demo_index_path

IMAGE_FILE_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff);;All files (*)"
CROP_HINT = "Drag across the photo to search only that region."
PHOTO_HINT = (
    "The whole photo is searched. Find garment searches only the garment the model finds; or "
    "drag across the photo to search only that region."
)
FOUND_HINT = (
    "Only the garment found is searched (amber box). Drag its edges or corners to adjust it, "
    "or drag across the photo for a new box."
)
PAGES = ("search", "clients")
#: The header's compact steps (see MainWindow._fit_header): no title text, icon-only buttons.
HEADER_STEPS = 2
MATCH_COLOUR_TIP = (
    "On: items the model sees in the query's colour rank higher. Off: the same shapes and "
    "styles in any colour."
)


class MainWindow(QMainWindow):
    """Drop, paste or open a photo → the five most similar catalogue items."""

    #: Emitted once the newest results and all their thumbnails are on screen.
    results_presented = Signal(int)
    #: Emitted when an index was opened (True) or could not be (False).
    index_ready = Signal(bool)
    #: Every notice shown (level, message): the screenshot hook and tests listen to this.
    notice_posted = Signal(str, str)
    #: A look was exported (its path).
    look_exported = Signal(str)
    #: A client's recommendations and all their thumbnails are on screen (the screenshot hook).
    recommendations_presented = Signal(str)

    def __init__(
        self,
        *,
        settings: AppSettings,
        shortlist_store: ShortlistStore | None,
        embedder_factory: EmbedderFactory | None,
        index_path: Path,
        initial_filters: Filters | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.settings = settings
        self._embedder_factory = embedder_factory
        self.index_path = Path(index_path)
        self.session: QuerySession[QuerySource] = QuerySession(
            user_filters=initial_filters if initial_filters is not None else settings.filters,
            match_colour=settings.match_colour,
        )
        self.detail_dialog: ItemDetailDialog | None = None
        self.capture_dialog: CaptureDialog | None = None
        self.look_dialog: LookDialog | None = None
        self.book = _client_book(shortlist_store)
        #: The Clients page's recommendations need asking for again when it shows.
        self._recommendations_stale = True
        #: The client worker has opened the index (recommendations asked earlier wait for it).
        self._client_index_ready = False
        #: Makes the camera for the capture view (tests and the screenshot hook swap it).
        self.frame_source_factory: Callable[[QObject], FrameSource] = create_frame_source

        self.controller = SearchController(self)
        self.client_controller = ClientController(
            self.book.path if self.book is not None else None, self
        )
        self.thumbnails = ThumbnailLoader(self)
        self.results_model = ResultsModel(self)
        self._build(self.book)
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
        self._connect()
        self.filter_bar.set_filters(self.session.user_filters)
        self.recent_strip.set_paths(settings.recent_queries)
        geometry = settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 900)
        self.set_shortlist_visible(settings.shortlist_visible)

    # ============================================================================ build
    def _build(self, store: ClientBook | None) -> None:
        self.open_action = QAction(icon("open"), "Open photo…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.paste_action = QAction(icon("paste"), "Paste", self)
        self.paste_action.setShortcut(QKeySequence.StandardKey.Paste)
        self.camera_action = QAction(icon("camera"), "Take a photo…", self)
        self.camera_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.open_index_action = QAction(icon("catalogue"), "Open index…", self)
        self.demo_index_action = QAction("Use the demo catalogue", self)
        self.shortlist_action = QAction(icon("heart"), "Shortlist", self)
        self.shortlist_action.setCheckable(True)
        self.shortlist_action.setShortcut(QKeySequence("Ctrl+L"))
        self.reset_crop_action = QAction(icon("reset"), "Reset crop", self)
        self.reset_crop_action.setShortcut(QKeySequence("Ctrl+0"))
        self.find_garment_action = QAction(icon("crop"), "Find garment", self)
        self.find_garment_action.setShortcut(QKeySequence("Ctrl+G"))
        self.find_garment_action.setToolTip("Search only the garment the model finds in the photo")
        self.match_colour_action = QAction("Match colour", self)
        self.match_colour_action.setCheckable(True)
        self.match_colour_action.setChecked(self.session.match_colour)
        self.match_colour_action.setToolTip(MATCH_COLOUR_TIP)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for action in (
            self.open_action,
            self.paste_action,
            self.camera_action,
            self.shortlist_action,
            self.reset_crop_action,
            self.find_garment_action,
            quit_action,
        ):
            self.addAction(action)

        # -- header
        header = QFrame()
        header.setObjectName("Header")
        # The header never sets the window's minimum width: below its natural width the title
        # text goes, then the Paste and Camera buttons show icons only (_fit_header), so
        # 1366 px screens fit.
        header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.header = header
        self._header_level = 0  # how many of the compact steps are applied
        self._header_savings: list[int] = []
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(30, 30))
        title = QLabel(APP_NAME)
        title.setObjectName("AppTitle")
        self.app_title = title
        self.catalogue_button = QToolButton()
        self.catalogue_button.setObjectName("CatalogueButton")
        self.catalogue_button.setIcon(icon("catalogue"))
        self.catalogue_button.setIconSize(icon_size(16))
        self.catalogue_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.catalogue_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.catalogue_button.setText("Opening catalogue…")
        catalogue_menu = QMenu(self.catalogue_button)
        catalogue_menu.addAction(self.open_index_action)
        catalogue_menu.addAction(self.demo_index_action)
        self.catalogue_button.setMenu(catalogue_menu)
        open_button = self._header_button(self.open_action, "Open photo", primary=True)
        self.paste_button = paste_button = self._header_button(self.paste_action, "Paste")
        self.camera_button = self._header_button(self.camera_action, "Camera")
        self.shortlist_button = self._header_button(self.shortlist_action, "Shortlist")
        self.model_status = ModelStatus()
        self.page_buttons: dict[str, QToolButton] = {}
        self._page_group = QButtonGroup(self)
        self._page_group.setExclusive(True)
        pages = QHBoxLayout()
        pages.setSpacing(0)
        for position, (page, text, icon_name) in enumerate(
            (("search", "Search", "similar"), ("clients", "Clients", "client"))
        ):
            button = QToolButton()
            button.setObjectName("PageTab")
            button.setProperty("position", "first" if position == 0 else "last")
            button.setText(text)
            button.setIcon(icon(icon_name))
            button.setIconSize(icon_size(14))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setCheckable(True)
            button.setShortcut(QKeySequence(f"Ctrl+{position + 1}"))
            button.setToolTip(f"{text} (Ctrl+{position + 1})")
            button.clicked.connect(lambda _on=False, name=page: self.show_page(name))
            self._page_group.addButton(button)
            self.page_buttons[page] = button
            pages.addWidget(button)
        self.page_buttons["search"].setChecked(True)
        header_layout = QHBoxLayout(header)
        header_layout.setContentsMargins(20, 10, 20, 10)
        header_layout.setSpacing(10)
        header_layout.addWidget(logo)
        header_layout.addWidget(title)
        header_layout.addSpacing(14)
        header_layout.addWidget(self.catalogue_button)
        header_layout.addSpacing(14)
        header_layout.addLayout(pages)
        header_layout.addStretch(1)
        header_layout.addWidget(self.model_status)
        header_layout.addSpacing(10)
        header_layout.addWidget(paste_button)
        header_layout.addWidget(self.camera_button)
        header_layout.addWidget(open_button)
        header_layout.addWidget(self.shortlist_button)

        # -- query sidebar
        sidebar = QFrame()
        sidebar.setObjectName("Sidebar")
        sidebar.setMinimumWidth(300)
        sidebar.setMaximumWidth(420)
        self.preview = QueryPreview()
        self.query_caption = QLabel("No photo yet")
        self.query_caption.setObjectName("QueryCaption")
        self.query_caption.setWordWrap(True)
        self.crop_hint = QLabel(CROP_HINT)
        self.crop_hint.setObjectName("MutedLabel")
        self.crop_hint.setWordWrap(True)
        self.reset_crop_button = self._link_button(self.reset_crop_action)
        self.find_garment_button = self._link_button(self.find_garment_action)
        query_title = QHBoxLayout()
        query_title.addWidget(self._section("Your photo"))
        query_title.addStretch(1)
        query_title.addWidget(self.find_garment_button)
        query_title.addWidget(self.reset_crop_button)
        self.prediction_chips = PredictionChips()
        self.recent_strip = RecentQueriesStrip(self.thumbnails)
        sidebar_layout = QVBoxLayout(sidebar)
        sidebar_layout.setContentsMargins(20, 18, 20, 18)
        sidebar_layout.setSpacing(10)
        sidebar_layout.addLayout(query_title)
        sidebar_layout.addWidget(self.preview, 1)
        sidebar_layout.addWidget(self.query_caption)
        sidebar_layout.addWidget(self.crop_hint)
        sidebar_layout.addSpacing(8)
        sidebar_layout.addWidget(self._section("What the model sees"))
        sidebar_layout.addWidget(self.prediction_chips)
        sidebar_layout.addSpacing(8)
        sidebar_layout.addWidget(self._section("Recent"))
        sidebar_layout.addWidget(self.recent_strip)

        # -- results
        centre = QFrame()
        centre.setObjectName("Centre")
        self.notice_banner = NoticeBanner()
        self.filter_bar = FilterBar()
        filter_scroll = QScrollArea()
        filter_scroll.setObjectName("FilterScroll")
        filter_scroll.setWidget(self.filter_bar)
        filter_scroll.setWidgetResizable(True)
        filter_scroll.setFrameShape(QFrame.Shape.NoFrame)
        filter_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        filter_scroll.setFixedHeight(44)
        self.results_title = QLabel("Similar items")
        self.results_title.setObjectName("ResultsTitle")
        self.results_subtitle = QLabel("")
        self.results_subtitle.setObjectName("MutedLabel")
        self.match_colour_button = QToolButton()
        self.match_colour_button.setObjectName("MatchColourToggle")
        self.match_colour_button.setDefaultAction(self.match_colour_action)
        self.match_colour_button.setCursor(Qt.CursorShape.PointingHandCursor)
        title_text = QVBoxLayout()
        title_text.setSpacing(2)
        title_text.addWidget(self.results_title)
        title_text.addWidget(self.results_subtitle)
        titles = QHBoxLayout()
        titles.addLayout(title_text, 1)
        titles.addWidget(self.match_colour_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.result_grid = ResultGrid(self.results_model, self.thumbnails)
        self.result_grid.set_actions(look=True, opinions=store is not None)
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(24, 16, 24, 16)
        centre_layout.setSpacing(12)
        centre_layout.addWidget(self.notice_banner)
        centre_layout.addWidget(filter_scroll)
        centre_layout.addLayout(titles)
        centre_layout.addWidget(self.result_grid, 1)

        # -- shortlist (the current client's, beside both pages)
        self.shortlist_panel = ShortlistPanel(store, self.thumbnails, client=self.settings.client)

        # -- clients
        self.clients_panel = ClientsPanel(store, self.thumbnails)
        grid = self.clients_panel.recommendation_grid
        grid.set_actions(look=True, opinions=store is not None)

        search_page = QSplitter(Qt.Orientation.Horizontal)
        search_page.setObjectName("SearchSplitter")
        search_page.setChildrenCollapsible(False)
        search_page.setHandleWidth(1)
        search_page.addWidget(sidebar)
        search_page.addWidget(centre)
        search_page.setStretchFactor(0, 0)
        search_page.setStretchFactor(1, 1)
        search_page.setSizes([340, 1000])
        self.pages = QStackedWidget()
        self.pages.setObjectName("Pages")
        self.pages.addWidget(search_page)
        self.pages.addWidget(self.clients_panel)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("MainSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(1)
        splitter.addWidget(self.pages)
        splitter.addWidget(self.shortlist_panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([1340, 320])
        body = QWidget()
        body.setObjectName("Body")
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(0)
        body_layout.addWidget(header)
        body_layout.addWidget(splitter, 1)
        self.setCentralWidget(body)
        self._update_query_controls()

    def _header_button(self, action: QAction, text: str, *, primary: bool = False) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setText(text)
        button.setObjectName("PrimaryToolButton" if primary else "HeaderButton")
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setIconSize(icon_size(16))
        if primary:
            button.setIcon(icon("open", "#ffffff"))
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        button.setToolTip(f"{action.text().rstrip('…')} ({shortcut})" if shortcut else text)
        return button

    def _fit_header(self) -> None:
        """Drop the title text, then the Paste and Camera words, while the header does not fit
        the window; bring them back when there is room again."""
        layout = self.header.layout()
        assert layout is not None
        width = self.width()
        needed = layout.minimumSize().width()
        while needed > width and self._header_level < HEADER_STEPS:
            self._set_header_step(self._header_level, compact=True)
            self._header_level += 1
            layout.invalidate()
            now = layout.minimumSize().width()
            self._header_savings.append(needed - now)
            needed = now
        while self._header_level and needed + self._header_savings[-1] <= width:
            self._header_level -= 1
            self._set_header_step(self._header_level, compact=False)
            needed += self._header_savings.pop()
            layout.invalidate()

    def _set_header_step(self, step: int, *, compact: bool) -> None:
        if step == 0:
            self.app_title.setVisible(not compact)
            return
        style = (
            Qt.ToolButtonStyle.ToolButtonIconOnly
            if compact
            else Qt.ToolButtonStyle.ToolButtonTextBesideIcon
        )
        for button in (self.paste_button, self.camera_button):
            button.setToolButtonStyle(style)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_header()

    @staticmethod
    def _link_button(action: QAction) -> QToolButton:
        """A text-and-icon link beside a section title, acting as ``action``."""
        button = QToolButton()
        button.setObjectName("LinkButton")
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setIconSize(icon_size(14))
        return button

    @staticmethod
    def _section(text: str) -> QLabel:
        label = QLabel(text.upper())
        label.setObjectName("SectionLabel")
        return label

    def _connect(self) -> None:
        self.open_action.triggered.connect(self.open_with_dialog)
        self.paste_action.triggered.connect(self.paste)
        self.camera_action.triggered.connect(self.open_camera)
        self.open_index_action.triggered.connect(self.open_index_with_dialog)
        self.demo_index_action.triggered.connect(lambda: self.open_index(demo_index_path()))
        self.shortlist_action.toggled.connect(self.set_shortlist_visible)
        self.reset_crop_action.triggered.connect(self._reset_crop)
        self.find_garment_action.triggered.connect(self.presenter.find_garment)
        self.match_colour_action.toggled.connect(self._on_match_colour_toggled)
        self.preview.open_requested.connect(self.open_with_dialog)
        self.prediction_chips.filter_requested.connect(self.filter_bar.set_only)
        self.recent_strip.query_requested.connect(lambda path: self.open_paths([path]))
        self.filter_bar.filters_changed.connect(self._on_filters_changed)
        self.result_grid.activated.connect(self.show_details)
        self.result_grid.more_like_this.connect(self.more_like_this)
        self.result_grid.shortlist_toggled.connect(self.shortlist_panel.set_shortlisted)
        self.shortlist_panel.changed.connect(self._on_shortlist_changed)
        self.shortlist_panel.notice.connect(self.notify)
        self.shortlist_panel.close_requested.connect(lambda: self.set_shortlist_visible(False))
        self.notice_banner.posted.connect(self.notice_posted)
        for grid in (self.result_grid, self.clients_panel.recommendation_grid):
            grid.opinion_changed.connect(self.clients_panel.set_opinion)
            grid.complete_look.connect(self.complete_the_look)
        recommendations = self.clients_panel.recommendation_grid
        recommendations.activated.connect(self.show_details)
        recommendations.more_like_this.connect(self.more_like_this)
        recommendations.shortlist_toggled.connect(self.shortlist_panel.set_shortlisted)
        cp = self.clients_panel
        cp.client_selected.connect(self._on_client_selected)
        cp.recommendations_wanted.connect(self._request_recommendations)
        cp.import_requested.connect(
            lambda path, skip: self.client_controller.import_history(path, skip_invalid=skip)
        )
        cp.opinions_changed.connect(self._show_opinions)
        cp.forgotten.connect(self._on_client_forgotten)
        cp.notice.connect(self.notify)
        cp.notice_banner.posted.connect(self.notice_posted)
        recommendations.thumbnails_complete.connect(self._on_recommendations_painted)
        cc = self.client_controller
        cc.index_opened.connect(self._on_vocabulary)
        cc.recommendations_ready.connect(lambda _id, answer: cp.show_recommendations(answer))
        cc.look_ready.connect(lambda _id, look: self.show_look(look))
        cc.import_finished.connect(self._on_import_finished)
        cc.failed.connect(self._on_client_request_failed)

        p = self.presenter
        p.submitted.connect(lambda _id: self.results_subtitle.setText("Searching…"))
        p.query_shown.connect(self._on_query_shown)
        p.photo_decoded.connect(self._on_photo_decoded)
        p.waiting_for_model.connect(
            lambda: self.results_subtitle.setText(
                "The search will run as soon as the model has loaded."
            )
        )
        p.answered.connect(self._on_answered)
        p.failed.connect(lambda _message: self.results_subtitle.setText(""))
        p.changed.connect(self._update_query_controls)
        p.index_opened.connect(self._on_index_opened)
        p.index_failed.connect(self._on_index_failed)
        p.index_ready.connect(self.index_ready)
        p.model_state_changed.connect(self.model_status.set_state)
        p.model_state_changed.connect(lambda *_state: self._fit_header())
        p.results_presented.connect(self.results_presented)
        self._on_shortlist_changed()

    # ========================================================================== start-up
    def start(self) -> None:
        """Open the index and start loading the model (call once the window is shown)."""
        self.catalogue_button.setText("Opening catalogue…")
        self.presenter.start(self.index_path, self._embedder_factory)

    def open_index(self, path: Path) -> None:
        self.index_path = Path(path)
        self.catalogue_button.setText("Opening catalogue…")
        self.controller.open_index(self.index_path)

    def open_index_with_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a Fashion Desktop index", str(self.index_path.parent)
        )
        if folder:
            self.open_index(Path(folder))

    @property
    def index_summary(self) -> IndexSummary | None:
        return self.presenter.index_summary

    # ============================================================================ queries
    def open_with_dialog(self) -> None:
        recent = self.settings.recent_queries
        start = str(recent[0].parent) if recent else str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(self, "Open a photo", start, IMAGE_FILE_FILTER)
        if paths:
            self.open_paths([Path(p) for p in paths])

    def open_paths(self, paths: list[Path]) -> int:
        """Search with image files (several are blended into one query)."""
        return self.search_sources([QuerySource(Path(p).name, path=Path(p)) for p in paths])

    def open_mime(self, mime: QMimeData, *, origin: str = "dropped image") -> int:
        """Search with what was dropped or pasted; explains what could not be used."""
        found = sources_from_mime(mime, origin=origin)
        for problem in found.problems:
            self.notify("warning", problem)
        return self.search_sources(found.sources) if found.sources else 0

    def paste(self) -> int:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.notify("warning", "The clipboard is empty.")
            return 0
        return self.open_mime(mime, origin="pasted image")

    def open_camera(self) -> CaptureDialog:
        """The capture dialog: live preview → Capture → Use searches with the photo."""
        if self.capture_dialog is not None:
            self.capture_dialog.raise_()
            return self.capture_dialog
        dialog = CaptureDialog(self.frame_source_factory(self), parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.used.connect(self.search_camera_frame)
        dialog.finished.connect(lambda _result: dialog.view.source.deleteLater())
        dialog.destroyed.connect(lambda: setattr(self, "capture_dialog", None))
        self.capture_dialog = dialog
        dialog.open()
        return dialog

    def search_camera_frame(self, image: QImage) -> int:
        """Search with a captured webcam frame (crop it in the preview like any photo)."""
        if image.isNull():
            return 0
        return self.search_sources([captured_query(image)])

    def search_sources(self, sources: list[QuerySource]) -> int:
        if sources:
            self.show_page("search")
        return self.presenter.search_sources(sources)

    def more_like_this(self, hit: SearchHit) -> int:
        """Search from a result's (or a recommendation's) stored embedding (no model needed)."""
        self.show_page("search")
        return self.presenter.more_like_this(hit)

    # ---------------------------------------------------------------------- refinements
    def _on_filters_changed(self, filters: Filters) -> None:
        self.settings.filters = filters
        self.presenter.set_filters(filters)

    def _on_match_colour_toggled(self, on: bool) -> None:
        self.settings.match_colour = on
        self.presenter.set_match_colour(on)

    def _reset_crop(self) -> None:
        """Manual crop → automatic again; an automatic box → the whole image."""
        if self.preview.crop is None and self.preview.found_box is not None:
            self.preview.set_crop(CropBox(0.0, 0.0, 1.0, 1.0))
        else:
            self.preview.set_crop(None)

    # ==================================================================== presenter events
    def _on_index_opened(self, summary: IndexSummary) -> None:
        self._client_index_ready = False
        self.client_controller.open_index(summary.path)  # its own handle, on its own thread
        self.index_path = summary.path
        self.settings.last_index = summary.path
        demo = summary.path.resolve() == demo_index_path().resolve()
        name = "Demo catalogue" if demo else summary.path.name
        self.catalogue_button.setText(f"{name} · {summary.count:,} items")
        self._fit_header()
        self.catalogue_button.setToolTip(str(summary.path))
        self.filter_bar.set_field_values(summary.field_values)
        if self.filter_bar.filters() != self.session.user_filters:  # a field was dropped
            self.filter_bar.set_filters(self.session.user_filters)
        if self.session.active is None:
            self.result_grid.show_message(
                "drop",
                "Drop a photo of a garment here, paste it, or open a file",
                f"Fashion Desktop finds the five most similar of {summary.count:,} items.",
            )

    def _on_index_failed(self, _message: str) -> None:
        self.catalogue_button.setText("No catalogue open")
        self.filter_bar.set_field_values({})
        self.result_grid.show_message(
            "warning",
            "The catalogue index could not be opened",
            "Choose another one from the catalogue menu at the top left.",
        )

    def _on_query_shown(self, label: str) -> None:
        self.query_caption.setText(label)
        active = self.session.active
        if active is not None and active.is_item:
            self.prediction_chips.set_predictions(None)

    def _on_photo_decoded(self, decoded: DecodedQuery) -> None:
        self.prediction_chips.set_predictions(None)
        for path in decoded.paths:
            self.recent_strip.set_paths(self.settings.remember_query(path))

    def _on_answered(self, response: SearchResponse) -> None:
        active = self.session.active
        if response.predicted is not None:
            self.prediction_chips.set_predictions(response.predicted)
        elif active is not None and active.is_item:
            self.prediction_chips.set_predictions(None)
        self._update_titles(response)

    # ====================================================================== presentation
    def _update_titles(self, response: SearchResponse) -> None:
        count = len(response.hits)
        active = self.session.active
        label = active.label if active else response.query
        if active is not None and active.crop is not None:
            label += " (cropped)"
        self.results_title.setText(
            f"{count} most similar to {label}" if count else f"Nothing found for {label}"
        )
        total = sum(response.timings_ms.values())
        scope = (
            "filtered catalogue"
            if self.session.filters
            else f"{self.index_summary.count:,} items"
            if self.index_summary
            else "catalogue"
        )
        self.results_subtitle.setText(f"Searched {scope} in {total:,.0f} ms")

    def _update_query_controls(self) -> None:
        can_crop = self.session.can_crop and self.preview.has_image
        photo = self.session.is_photo
        colour_counts = DEFAULT_SCORING.colour_counts(photo)
        self.match_colour_button.setEnabled(colour_counts)
        self.match_colour_button.setToolTip(
            MATCH_COLOUR_TIP if colour_counts else "This query is ranked by the picture alone."
        )
        manual, found = self.preview.crop, self.preview.found_box
        can_find = can_crop and photo and manual is None and found is None
        self.crop_hint.setText(
            FOUND_HINT
            if found is not None and manual is None
            else PHOTO_HINT
            if can_find
            else CROP_HINT
        )
        self.crop_hint.setVisible(can_crop and manual is None)
        self.find_garment_button.setVisible(can_find)
        self.find_garment_action.setEnabled(can_find)
        whole_image = manual is None and found is not None
        self.reset_crop_action.setText("Whole image" if whole_image else "Reset crop")
        self.reset_crop_action.setToolTip(
            "Search the whole photo instead of the garment found"
            if whole_image
            else "Forget the crop"
        )
        self.reset_crop_button.setVisible(can_crop and (manual is not None or found is not None))
        self.reset_crop_action.setEnabled(can_crop and (manual is not None or found is not None))

    def notify(self, level: NoticeLevel | str, message: str) -> None:
        """A non-blocking notice on the page in view."""
        if self.current_page == "clients":
            self.clients_panel.notice_banner.show_notice(message, level)
        else:
            self.notice_banner.show_notice(message, level)

    # ============================================================================ pages
    @property
    def current_page(self) -> str:
        return PAGES[self.pages.currentIndex()] if hasattr(self, "pages") else "search"

    def show_page(self, page: str) -> None:
        """ "search" or "clients" (recommendations are fetched when the Clients page shows)."""
        if page == self.current_page:
            return
        self.pages.setCurrentIndex(PAGES.index(page))
        self.page_buttons[page].setChecked(True)
        if page == "clients" and self._recommendations_stale:
            self._request_recommendations(self.clients_panel.client)

    def show_client(self, name: str) -> bool:
        """The Clients page for the client ``name`` (any letter case; ``--client``)."""
        if self.book is None:
            self.notify("error", "The client book is unavailable.")
            return False
        try:
            stored = self.book.resolve(name)
        except FashionDesktopError as error:
            self.show_page("clients")
            self.notify("error", str(error))
            return False
        self.clients_panel.set_client(stored)
        self.show_page("clients")
        return True

    # ========================================================================= clients
    def _on_client_selected(self, name: str) -> None:
        if name and name != self.shortlist_panel.client:
            self.shortlist_panel.set_client(name)
        self._show_opinions()
        self._recommendations_stale = True
        if name and self.current_page == "clients":
            self._request_recommendations(name)
        elif not name:
            self.client_controller.cancel("recommend")

    def _request_recommendations(self, name: str) -> None:
        """Recommendations for ``name`` on the client worker (now, or when the page shows)."""
        if not name or name != self.clients_panel.client:
            return
        if self.current_page != "clients" or not self._client_index_ready:
            self._recommendations_stale = True
            return
        self._recommendations_stale = False
        self.clients_panel.recommended_subtitle.setText("Finding what to show next…")
        self.client_controller.recommend(name)

    def _on_recommendations_painted(self) -> None:
        model = self.clients_panel.recommendations_model
        if model.response is not None and self.current_page == "clients":
            self.recommendations_presented.emit(self.clients_panel.client)

    def _show_opinions(self) -> None:
        opinions = self.clients_panel.opinions()
        self.result_grid.set_opinions(opinions)
        self.clients_panel.recommendation_grid.set_opinions(opinions)

    def _on_client_forgotten(self, name: str) -> None:
        if self.look_dialog is not None and self.look_dialog.client == name:
            self.look_dialog.close()
        self.shortlist_panel.reload_clients(select="")

    def _on_vocabulary(self, vocabulary: CatalogueVocabulary) -> None:
        self._client_index_ready = True
        self.clients_panel.profile_editor.set_vocabulary(vocabulary.values)
        self._recommendations_stale = True
        if self.current_page == "clients":
            self._request_recommendations(self.clients_panel.client)

    def _on_import_finished(self, _request_id: int, report: ImportReport) -> None:
        self.clients_panel.import_finished(report)
        if report.clients_created:  # the shortlist's client list too
            self.shortlist_panel.reload_clients(select=self.shortlist_panel.client)

    def _on_client_request_failed(self, kind: str, message: str) -> None:
        if kind == "import":
            self.clients_panel.import_failed(message)
        elif kind == "recommend":
            self.clients_panel.recommendations_failed(message)
        else:
            self.notify("warning", message)

    # ======================================================================== the look
    def complete_the_look(self, hit: SearchHit) -> int:
        """Complete the look around a card's item (for the current client, if any)."""
        client = self.clients_panel.client or None
        return self.client_controller.look(hit.item_id, client)

    def show_look(self, look: Look) -> LookDialog:
        if self.look_dialog is not None:
            self.look_dialog.close()
        client = look.client
        shortlist = self.book.entries(client) if self.book is not None and client else []
        dialog = LookDialog(look, self.thumbnails, client=client, shortlist=shortlist, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.save_requested.connect(self.save_look)
        dialog.export_requested.connect(self.export_look)
        dialog.destroyed.connect(lambda: setattr(self, "look_dialog", None))
        self.look_dialog = dialog
        dialog.show()  # modeless: the stylist can keep browsing beside it
        return dialog

    def save_look(self, name: str, look: Look) -> int:
        """Save a look (each slot's chosen item) to its client: one transaction."""
        if self.book is None or not look.client:
            self.notify("warning", "Choose a client on the Clients page to save looks.")
            return 0
        try:
            look_id = self.book.save_look(look.client, name, look.anchor.item_id, saved_items(look))
        except FashionDesktopError as error:
            self.notify("warning", str(error))
            return 0
        self.clients_panel.reload()
        self.notify("info", f"Saved the look to {look.client}.")
        return look_id

    def export_look(self, kind: str, path: Path, look: Look) -> None:
        """Export a look (and its client's shortlist) with the core's export, off the UI thread."""
        shortlist = self.book.entries(look.client) if self.book is not None and look.client else []
        title = f"Look: {look.anchor.name}" + (f" · for {look.client}" if look.client else "")

        def job() -> Path:
            export_look(look, path, shortlist=shortlist, title=title, fmt=kind)
            return path

        def done(written: Any) -> None:
            self.notify("info", f"Exported the look to {written}.")
            self.look_exported.emit(str(written))

        run_in_background(job, done, lambda message: self.notify("error", message))

    # ============================================================================ details
    def show_details(self, hit: SearchHit) -> ItemDetailDialog:
        if self.detail_dialog is not None:
            self.detail_dialog.close()
        dialog = ItemDetailDialog(
            hit,
            self.thumbnails,
            shortlisted=hit.item_id in self.shortlist_panel.item_ids(),
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.more_like_this.connect(self.more_like_this)
        dialog.shortlist_toggled.connect(self.shortlist_panel.set_shortlisted)
        dialog.destroyed.connect(lambda: setattr(self, "detail_dialog", None))
        self.detail_dialog = dialog
        dialog.open()
        return dialog

    # ========================================================================== shortlist
    def set_shortlist_visible(self, visible: bool) -> None:
        self.shortlist_panel.setVisible(visible)
        self.shortlist_action.blockSignals(True)
        self.shortlist_action.setChecked(visible)
        self.shortlist_action.blockSignals(False)
        self.settings.shortlist_visible = visible
        self._update_shortlist_button()  # the action's text replaced the count

    def _update_shortlist_button(self) -> None:
        ids = self.shortlist_panel.item_ids()
        self.shortlist_button.setText(f"Shortlist ({len(ids)})" if ids else "Shortlist")
        self._fit_header()

    def _on_shortlist_changed(self) -> None:
        ids = self.shortlist_panel.item_ids()
        self.result_grid.set_shortlisted(ids)
        self._update_shortlist_button()
        self.clients_panel.recommendation_grid.set_shortlisted(ids)
        client = self.shortlist_panel.client
        self.settings.client = client
        if client != self.clients_panel.client and client in self.clients_panel.clients():
            self.clients_panel.set_client(client)
        if self.detail_dialog is not None:
            on = self.detail_dialog.hit.item_id in ids
            button = self.detail_dialog.shortlist_button
            if button.isChecked() != on:
                button.blockSignals(True)
                button.setChecked(on)
                button.blockSignals(False)

    # ====================================================================== drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if may_contain_image(event.mimeData()):
            event.acceptProposedAction()
            self.preview.set_drop_highlight(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if may_contain_image(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.preview.set_drop_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.preview.set_drop_highlight(False)
        event.acceptProposedAction()
        self.open_mime(event.mimeData())  # cheap: decoding happens on the worker

    # ============================================================================ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        self.controller.shutdown()
        self.client_controller.shutdown()
        if self.look_dialog is not None:
            self.look_dialog.close()
        if self.detail_dialog is not None:
            self.detail_dialog.close()
        if self.capture_dialog is not None:
            self.capture_dialog.close()
        store = self.shortlist_panel.store
        if store is not None:
            store.close()
            self.shortlist_panel.store = None
        super().closeEvent(event)


def _client_book(store: ShortlistStore | None) -> ClientBook | None:
    """The window's client book: the store itself, or a book over a plain store's file (one
    SQLite file holds shortlists and clients; the book upgrades its schema in place)."""
    if store is None or isinstance(store, ClientBook):
        return store
    try:
        book = ClientBook(store.path)
    except FashionDesktopError:
        return None
    store.close()
    return book
