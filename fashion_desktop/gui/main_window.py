"""The main window: wires the widgets, the item models and the inference worker together.

It holds the *active query* (what the results on screen answer) so that filters, crop and
"more like this" can re-run it the cheapest way: from the stored vector, from the stored item
embedding, or — only for a new crop — through the model again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
    QPixmap,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.scoring import COLOUR_HEAD, DEFAULT_SCORING
from fashion_desktop.core.search import SearchHit, SearchResponse
from fashion_desktop.core.shortlist import ShortlistStore
from fashion_desktop.gui.camera import FrameSource, captured_query, create_frame_source
from fashion_desktop.gui.capture_view import CaptureDialog
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.mime import may_contain_image, sources_from_mime
from fashion_desktop.gui.models import ResultsModel
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.detail import DETAIL_IMAGE_SIDE, ItemDetailDialog
from fashion_desktop.gui.widgets.filters import FilterBar
from fashion_desktop.gui.widgets.notice import NoticeBanner, NoticeLevel
from fashion_desktop.gui.widgets.query_panel import (
    PredictionChips,
    QueryPreview,
    RecentQueriesStrip,
)
from fashion_desktop.gui.widgets.results import ResultGrid
from fashion_desktop.gui.widgets.shortlist import ShortlistPanel
from fashion_desktop.gui.worker import (
    DecodedQuery,
    EmbedderFactory,
    ImageSearch,
    IndexSummary,
    ItemSearch,
    Query,
    QuerySource,
    SearchController,
    VectorSearch,
)
from fashion_desktop.resources import APP_NAME, demo_index_path

IMAGE_FILE_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff);;All files (*)"
CROP_HINT = "Drag across the photo to search only that region."
FOUND_HINT = (
    "The garment was found automatically (amber box). Drag its edges or corners to adjust it, "
    "or drag across the photo for a new box."
)
MATCH_COLOUR_TIP = (
    "On: items the model sees in the query's colour rank higher. Off: the same shapes and "
    "styles in any colour."
)


@dataclass
class ActiveQuery:
    """What the results on screen answer, and what is needed to refine it."""

    label: str
    sources: tuple[QuerySource, ...] = ()
    item_id: str | None = None
    crop: CropBox | None = None
    vector: np.ndarray | None = None
    signature: np.ndarray | None = None
    photo: bool = False
    hashes: tuple[str, ...] = ()

    @property
    def is_item(self) -> bool:
        return self.item_id is not None


class ModelStatus(QWidget):
    """The model's loading state: unobtrusive, in the header."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelStatus")
        self.bar = QProgressBar()
        self.bar.setObjectName("ModelProgress")
        self.bar.setRange(0, 0)
        self.bar.setFixedSize(64, 4)
        self.bar.setTextVisible(False)
        self.dot = QLabel()
        self.dot.setObjectName("StatusDot")
        self.dot.setFixedSize(8, 8)
        self.label = QLabel()
        self.label.setObjectName("StatusLabel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.dot)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.state = ""
        self.set_state("loading")

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        text = {
            "loading": "Loading the model…",
            "ready": "Model ready",
            "failed": "Image search unavailable",
        }[state]
        self.label.setText(text)
        self.bar.setVisible(state == "loading")
        self.dot.setProperty("state", state)
        self.dot.style().unpolish(self.dot)
        self.dot.style().polish(self.dot)
        self.setToolTip(detail or text)


class MainWindow(QMainWindow):
    """Drop, paste or open a photo → the five most similar catalogue items."""

    #: Emitted once the newest results and all their thumbnails are on screen.
    results_presented = Signal(int)
    #: Emitted when an index was opened (True) or could not be (False).
    index_ready = Signal(bool)
    #: Every notice shown (level, message): the screenshot hook and tests listen to this.
    notice_posted = Signal(str, str)

    def __init__(
        self,
        *,
        settings: AppSettings,
        shortlist_store: ShortlistStore | None,
        embedder_factory: EmbedderFactory | None,
        index_path: Path,
        initial_filters: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.settings = settings
        self._embedder_factory = embedder_factory
        self.index_path = Path(index_path)
        self.index_summary: IndexSummary | None = None
        self.active: ActiveQuery | None = None
        self._shown: ActiveQuery | None = None
        self._pending_item_preview: SearchHit | None = None
        self._presented_id = 0
        self._answered_id = 0
        self.detail_dialog: ItemDetailDialog | None = None
        self.capture_dialog: CaptureDialog | None = None
        #: Makes the camera for the capture view (tests and the screenshot hook swap it).
        self.frame_source_factory: Callable[[QObject], FrameSource] = create_frame_source

        self.controller = SearchController(self)
        self.thumbnails = ThumbnailLoader(self)
        self.results_model = ResultsModel(self)
        self._build(shortlist_store)
        self._connect()
        self.filter_bar.set_filters(
            initial_filters if initial_filters is not None else settings.filters
        )
        self.recent_strip.set_paths(settings.recent_queries)
        geometry = settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 900)
        self.set_shortlist_visible(settings.shortlist_visible)

    # ============================================================================ build
    def _build(self, store: ShortlistStore | None) -> None:
        self.open_action = QAction(icon("open"), "Open photo…", self)
        self.open_action.setShortcut(QKeySequence.Open)
        self.paste_action = QAction(icon("paste"), "Paste", self)
        self.paste_action.setShortcut(QKeySequence.Paste)
        self.camera_action = QAction(icon("camera"), "Take a photo…", self)
        self.camera_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.open_index_action = QAction(icon("catalogue"), "Open index…", self)
        self.demo_index_action = QAction("Use the demo catalogue", self)
        self.shortlist_action = QAction(icon("heart"), "Shortlist", self)
        self.shortlist_action.setCheckable(True)
        self.shortlist_action.setShortcut(QKeySequence("Ctrl+L"))
        self.reset_crop_action = QAction(icon("reset"), "Reset crop", self)
        self.reset_crop_action.setShortcut(QKeySequence("Ctrl+0"))
        self.match_colour_action = QAction("Match colour", self)
        self.match_colour_action.setCheckable(True)
        self.match_colour_action.setChecked(self.settings.match_colour)
        self.match_colour_action.setToolTip(MATCH_COLOUR_TIP)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        for action in (
            self.open_action,
            self.paste_action,
            self.camera_action,
            self.shortlist_action,
            self.reset_crop_action,
            quit_action,
        ):
            self.addAction(action)

        # -- header
        header = QFrame()
        header.setObjectName("Header")
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(30, 30))
        title = QLabel(APP_NAME)
        title.setObjectName("AppTitle")
        self.catalogue_button = QToolButton()
        self.catalogue_button.setObjectName("CatalogueButton")
        self.catalogue_button.setIcon(icon("catalogue"))
        self.catalogue_button.setIconSize(icon_size(16))
        self.catalogue_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.catalogue_button.setPopupMode(QToolButton.InstantPopup)
        self.catalogue_button.setText("Opening catalogue…")
        catalogue_menu = QMenu(self.catalogue_button)
        catalogue_menu.addAction(self.open_index_action)
        catalogue_menu.addAction(self.demo_index_action)
        self.catalogue_button.setMenu(catalogue_menu)
        open_button = self._header_button(self.open_action, "Open photo", primary=True)
        paste_button = self._header_button(self.paste_action, "Paste")
        self.camera_button = self._header_button(self.camera_action, "Camera")
        self.shortlist_button = self._header_button(self.shortlist_action, "Shortlist")
        self.model_status = ModelStatus()
        header_layout = QHBoxLayout(header)
        header_layout.setContentsMargins(20, 10, 20, 10)
        header_layout.setSpacing(10)
        header_layout.addWidget(logo)
        header_layout.addWidget(title)
        header_layout.addSpacing(14)
        header_layout.addWidget(self.catalogue_button)
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
        self.reset_crop_button = QToolButton()
        self.reset_crop_button.setObjectName("LinkButton")
        self.reset_crop_button.setDefaultAction(self.reset_crop_action)
        self.reset_crop_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.reset_crop_button.setIconSize(icon_size(14))
        query_title = QHBoxLayout()
        query_title.addWidget(self._section("Your photo"))
        query_title.addStretch(1)
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
        filter_scroll.setFrameShape(QFrame.NoFrame)
        filter_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        filter_scroll.setFixedHeight(44)
        self.results_title = QLabel("Similar items")
        self.results_title.setObjectName("ResultsTitle")
        self.results_subtitle = QLabel("")
        self.results_subtitle.setObjectName("MutedLabel")
        self.match_colour_button = QToolButton()
        self.match_colour_button.setObjectName("MatchColourToggle")
        self.match_colour_button.setDefaultAction(self.match_colour_action)
        self.match_colour_button.setCursor(Qt.PointingHandCursor)
        title_text = QVBoxLayout()
        title_text.setSpacing(2)
        title_text.addWidget(self.results_title)
        title_text.addWidget(self.results_subtitle)
        titles = QHBoxLayout()
        titles.addLayout(title_text, 1)
        titles.addWidget(self.match_colour_button, 0, Qt.AlignBottom)
        self.result_grid = ResultGrid(self.results_model, self.thumbnails)
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(24, 16, 24, 16)
        centre_layout.setSpacing(12)
        centre_layout.addWidget(self.notice_banner)
        centre_layout.addWidget(filter_scroll)
        centre_layout.addLayout(titles)
        centre_layout.addWidget(self.result_grid, 1)

        # -- shortlist
        self.shortlist_panel = ShortlistPanel(store, self.thumbnails, client=self.settings.client)

        splitter = QSplitter(Qt.Horizontal)
        splitter.setObjectName("MainSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(1)
        splitter.addWidget(sidebar)
        splitter.addWidget(centre)
        splitter.addWidget(self.shortlist_panel)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([340, 1000, 320])
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
        button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        button.setIconSize(icon_size(16))
        if primary:
            button.setIcon(icon("open", "#ffffff"))
        shortcut = action.shortcut().toString(QKeySequence.NativeText)
        button.setToolTip(f"{action.text().rstrip('…')} ({shortcut})" if shortcut else text)
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
        self.match_colour_action.toggled.connect(self._on_match_colour_toggled)
        self.preview.open_requested.connect(self.open_with_dialog)
        self.preview.crop_changed.connect(self._on_crop_changed)
        self.prediction_chips.filter_requested.connect(self.filter_bar.set_only)
        self.recent_strip.query_requested.connect(lambda path: self.open_paths([path]))
        self.filter_bar.filters_changed.connect(self._on_filters_changed)
        self.result_grid.activated.connect(self.show_details)
        self.result_grid.more_like_this.connect(self.more_like_this)
        self.result_grid.shortlist_toggled.connect(self.shortlist_panel.set_shortlisted)
        self.result_grid.thumbnails_complete.connect(self._on_thumbnails_complete)
        self.shortlist_panel.changed.connect(self._on_shortlist_changed)
        self.shortlist_panel.notice.connect(self.notify)
        self.shortlist_panel.close_requested.connect(lambda: self.set_shortlist_visible(False))
        self.notice_banner.posted.connect(self.notice_posted)
        self.thumbnails.ready.connect(self._on_item_preview_thumbnail)

        c = self.controller
        c.index_opened.connect(self._on_index_opened)
        c.index_failed.connect(self._on_index_failed)
        c.model_ready.connect(self._on_model_ready)
        c.model_failed.connect(self._on_model_failed)
        c.decoded.connect(self._on_decoded)
        c.waiting_for_model.connect(self._on_waiting_for_model)
        c.results_ready.connect(self._on_results)
        c.search_failed.connect(self._on_search_failed)
        c.notice.connect(lambda message: self.notify("warning", message))
        self._on_shortlist_changed()

    # ========================================================================== start-up
    def start(self) -> None:
        """Open the index and start loading the model (call once the window is shown)."""
        self.open_index(self.index_path)
        if self._embedder_factory is not None:
            self.model_status.set_state("loading")
            self.controller.load_model(self._embedder_factory)
        else:
            self.model_status.set_state("failed", "No model was configured.")

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
        dialog.setAttribute(Qt.WA_DeleteOnClose)
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
        if not sources:
            return 0
        label = sources[0].label if len(sources) == 1 else f"{len(sources)} images blended"
        self.active = ActiveQuery(label, sources=tuple(sources))
        self.preview.set_status("Reading the image…")
        return self._submit(
            ImageSearch(tuple(sources), self.filter_bar.filters(), match_colour=self.match_colour)
        )

    @property
    def match_colour(self) -> bool:
        return self.match_colour_action.isChecked()

    def more_like_this(self, hit: SearchHit) -> int:
        """Search from a result's stored embedding (no model needed)."""
        name = hit.metadata.get("productDisplayName") or hit.item_id
        self.active = ActiveQuery(f"More like: {name}", item_id=hit.item_id)
        self._pending_item_preview = hit
        self._show_item_preview()
        return self._submit(
            ItemSearch(hit.item_id, self.filter_bar.filters(), match_colour=self.match_colour)
        )

    def _submit(self, query: Query) -> int:
        request_id = self.controller.search(query)
        self.results_subtitle.setText("Searching…")
        return request_id

    def _rerun_active(self) -> int:
        """Re-run the active query with the current filters, as cheaply as possible."""
        active = self.active
        if active is None:
            return 0
        filters = self.filter_bar.filters()
        colour = self.match_colour
        if active.is_item:
            assert active.item_id is not None
            return self._submit(ItemSearch(active.item_id, filters, match_colour=colour))
        if active.vector is not None:
            return self._submit(
                VectorSearch(
                    active.vector,
                    active.label,
                    active.hashes,
                    filters,
                    signature=active.signature,
                    match_colour=colour,
                    photo=active.photo,
                )
            )
        return self._submit(ImageSearch(active.sources, filters, active.crop, colour))

    # ---------------------------------------------------------------------- refinements
    def _on_filters_changed(self, filters: dict[str, list[str]]) -> None:
        self.settings.filters = filters
        self._rerun_active()

    def _on_match_colour_toggled(self, on: bool) -> None:
        self.settings.match_colour = on
        self._rerun_active()

    def _reset_crop(self) -> None:
        """Manual crop → automatic again; an automatic box → the whole image."""
        if self.preview.crop is None and self.preview.found_box is not None:
            self.preview.set_crop(CropBox(0.0, 0.0, 1.0, 1.0))
        else:
            self.preview.set_crop(None)

    def _on_crop_changed(self, crop: CropBox | None) -> None:
        active = self.active
        self._update_query_controls()
        if active is None or active.is_item or len(active.sources) != 1:
            return
        if crop == active.crop:
            return
        active.crop = crop
        active.vector = active.signature = None  # the model must see the new region
        self.preview.set_status("Searching…")
        self._submit(
            ImageSearch(active.sources, self.filter_bar.filters(), crop, self.match_colour)
        )

    # ======================================================================= worker events
    def _on_index_opened(self, summary: IndexSummary) -> None:
        self.index_summary = summary
        self.index_path = summary.path
        self.settings.last_index = summary.path
        demo = summary.path.resolve() == demo_index_path().resolve()
        name = "Demo catalogue" if demo else summary.path.name
        self.catalogue_button.setText(f"{name} · {summary.count:,} items")
        self.catalogue_button.setToolTip(str(summary.path))
        self.filter_bar.set_field_values(summary.field_values)
        filters = self.filter_bar.filters()
        unknown = sorted(set(filters) - set(summary.fields))
        if unknown:
            self.notify(
                "warning",
                f"This catalogue has no field {', '.join(unknown)}; that filter was removed.",
            )
            self.filter_bar.set_filters({f: v for f, v in filters.items() if f not in unknown})
        if self.active is None:
            self.result_grid.show_message(
                "drop",
                "Drop a photo of a garment here, paste it, or open a file",
                f"Fashion Desktop finds the five most similar of {summary.count:,} items.",
            )
        else:
            self._rerun_active()
        self.index_ready.emit(True)

    def _on_index_failed(self, message: str) -> None:
        self.index_summary = None
        self.catalogue_button.setText("No catalogue open")
        self.filter_bar.set_field_values({})
        self.results_model.set_response(None)
        self.result_grid.show_message(
            "warning",
            "The catalogue index could not be opened",
            "Choose another one from the catalogue menu at the top left.",
        )
        self.notify("error", message)
        self.index_ready.emit(False)

    def _on_model_ready(self, source: str) -> None:
        self.model_status.set_state("ready", f"Model: {source}")

    def _on_model_failed(self, message: str) -> None:
        self.model_status.set_state("failed", message)
        self.notify("error", f"Image search is unavailable: {message}")
        self.preview.set_status("")

    def _on_decoded(self, request_id: int, decoded: DecodedQuery) -> None:
        active = self.active
        if active is None or active.is_item:
            return
        active.label = decoded.label
        active.hashes = decoded.hashes
        if self._shown is not active:  # a new photo, not a new crop of the same one
            self.preview.set_images(
                [QPixmap.fromImage(image) for image in decoded.previews], decoded.label
            )
            self.prediction_chips.set_predictions(None)
            for path in decoded.paths:
                self.recent_strip.set_paths(self.settings.remember_query(path))
        self._shown = active
        self.query_caption.setText(decoded.label)
        waiting = self.controller.model_state != "ready"
        self.preview.set_status("Waiting for the model…" if waiting else "Searching…")
        self._update_query_controls()

    def _on_waiting_for_model(self, _request_id: int) -> None:
        self.preview.set_status("Waiting for the model…")
        self.results_subtitle.setText("The search will run as soon as the model has loaded.")

    def _on_results(self, request_id: int, response: SearchResponse) -> None:
        self._answered_id = request_id
        active = self.active
        if active is not None:
            active.vector = response.vector
            active.signature = response.signature
            active.photo = response.photo
            self._shown = active
            if not active.is_item and response.vector is not None and active.crop is None:
                self.preview.set_found_box(response.found_box)
        self.preview.set_status("")
        if response.predicted is not None:
            self.prediction_chips.set_predictions(response.predicted)
        elif active is not None and active.is_item:
            self.prediction_chips.set_predictions(None)
        self.results_model.set_response(response)
        self._update_titles(response)
        self._update_query_controls()

    def _on_search_failed(self, request_id: int, message: str) -> None:
        self.preview.set_status("")
        self.notify("error", message)
        if self._shown is not None and self._shown is not self.active:
            self.active = self._shown  # the screen still answers the previous query
        elif self._shown is None:
            self.active = None
        self.results_subtitle.setText("")
        self._update_query_controls()

    def _on_thumbnails_complete(self) -> None:
        answered = self._answered_id
        if answered and self.controller.is_current(answered) and self._presented_id != answered:
            self._presented_id = answered
            self.results_presented.emit(answered)

    # ====================================================================== presentation
    def _update_titles(self, response: SearchResponse) -> None:
        count = len(response.hits)
        label = self.active.label if self.active else response.query
        if self.active is not None and self.active.crop is not None:
            label += " (cropped)"
        self.results_title.setText(
            f"{count} most similar to {label}" if count else f"Nothing found for {label}"
        )
        total = sum(response.timings_ms.values())
        filters = self.filter_bar.filters()
        scope = (
            "filtered catalogue"
            if filters
            else f"{self.index_summary.count:,} items"
            if self.index_summary
            else "catalogue"
        )
        self.results_subtitle.setText(f"Searched {scope} in {total:,.0f} ms")

    def _update_query_controls(self) -> None:
        active = self.active
        can_crop = (
            active is not None
            and not active.is_item
            and len(active.sources) == 1
            and self.preview.has_image
        )
        photo = active is not None and active.photo and not active.is_item
        colour_counts = DEFAULT_SCORING.for_query(photo).weights.get(COLOUR_HEAD, 0.0) > 0
        self.match_colour_button.setEnabled(colour_counts)
        self.match_colour_button.setToolTip(
            MATCH_COLOUR_TIP if colour_counts else "This query is ranked by the picture alone."
        )
        manual, found = self.preview.crop, self.preview.found_box
        self.crop_hint.setText(FOUND_HINT if found is not None and manual is None else CROP_HINT)
        self.crop_hint.setVisible(can_crop and manual is None)
        whole_image = manual is None and found is not None
        self.reset_crop_action.setText("Whole image" if whole_image else "Reset crop")
        self.reset_crop_action.setToolTip(
            "Search the whole photo instead of the garment found"
            if whole_image
            else "Forget the crop"
        )
        self.reset_crop_button.setVisible(can_crop and (manual is not None or found is not None))
        self.reset_crop_action.setEnabled(can_crop and (manual is not None or found is not None))

    def _show_item_preview(self, _path: str = "") -> None:
        hit = self._pending_item_preview
        if hit is None:
            return
        pixmap = self.thumbnails.request(hit.image_path, DETAIL_IMAGE_SIDE)
        if pixmap is None and not self.thumbnails.has_failed(hit.image_path, DETAIL_IMAGE_SIDE):
            return
        self._pending_item_preview = None
        self.preview.set_images([pixmap] if pixmap is not None else [], hit.item_id)
        self.prediction_chips.set_predictions(None)
        self.query_caption.setText(self.active.label if self.active else hit.item_id)
        self._update_query_controls()

    def _on_item_preview_thumbnail(self, path: str) -> None:
        hit = self._pending_item_preview
        if hit is not None and str(hit.image_path) == path:
            self._show_item_preview()

    def notify(self, level: NoticeLevel | str, message: str) -> None:
        self.notice_banner.show_notice(message, level)

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
        dialog.setAttribute(Qt.WA_DeleteOnClose)
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

    def _on_shortlist_changed(self) -> None:
        ids = self.shortlist_panel.item_ids()
        self.result_grid.set_shortlisted(ids)
        self.shortlist_button.setText(f"Shortlist ({len(ids)})" if ids else "Shortlist")
        self.settings.client = self.shortlist_panel.client
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
        if self.detail_dialog is not None:
            self.detail_dialog.close()
        if self.capture_dialog is not None:
            self.capture_dialog.close()
        store = self.shortlist_panel.store
        if store is not None:
            store.close()
            self.shortlist_panel.store = None
        super().closeEvent(event)
