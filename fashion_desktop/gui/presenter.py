"""The wiring both windows share: the worker's answers → the query session → the shared widgets.

:class:`SearchPresenter` owns the :class:`~fashion_desktop.core.session.QuerySession` of one
window and drives the widgets every window has — the query preview (photo, crop, found box,
status), the results model (and so the result grid), the notice banner — from the
:class:`SearchController`'s signals. What differs between the stylist's window and the kiosk
(titles, prediction chips, the recent strip, screens) listens to the presenter's signals.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QPixmap

from fashion_desktop.core.filters import Filters
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.search import SearchHit, SearchResponse
from fashion_desktop.core.session import Query, QuerySession
from fashion_desktop.gui.models import ResultsModel
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.detail import DETAIL_IMAGE_SIDE
from fashion_desktop.gui.widgets.query_panel import QueryPreview
from fashion_desktop.gui.widgets.results import ResultGrid
from fashion_desktop.gui.worker import (
    DecodedQuery,
    EmbedderFactory,
    IndexSummary,
    QuerySource,
    SearchController,
)

Notify = Callable[[str, str], None]  # level, message


class SearchPresenter(QObject):
    """One window's query flow (see the module docstring); the windows add only their views."""

    #: A request went to the worker (its id).
    submitted = Signal(int)
    #: The preview shows a new query (a new photo, or the item of "more like this"): its label.
    query_shown = Signal(str)
    #: A new photo was decoded (not a new crop of the same one).
    photo_decoded = Signal(object)  # DecodedQuery
    #: The active image query waits for the model to load.
    waiting_for_model = Signal()
    #: The newest answer is in the results model.
    answered = Signal(object)  # SearchResponse
    #: The newest query failed (the message was posted as a notice).
    failed = Signal(str)
    #: The session changed in a way the windows' query controls depend on.
    changed = Signal()
    index_opened = Signal(object)  # IndexSummary, after the session dropped unknown filters
    index_failed = Signal(str)
    #: An index was opened (True) or could not be (False).
    index_ready = Signal(bool)
    #: The model's state: "loading", "ready" or "failed", and a detail for a tooltip.
    model_state_changed = Signal(str, str)
    #: The newest results and all their thumbnails are on screen.
    results_presented = Signal(int)

    def __init__(
        self,
        session: QuerySession[QuerySource],
        controller: SearchController,
        *,
        preview: QueryPreview,
        results_model: ResultsModel,
        result_grid: ResultGrid,
        thumbnails: ThumbnailLoader,
        notify: Notify,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = controller
        self.preview = preview
        self.results_model = results_model
        self.thumbnails = thumbnails
        self._notify = notify
        self.index_summary: IndexSummary | None = None
        self._pending_item_preview: SearchHit | None = None
        self._answered_id = 0
        self._presented_id = 0

        preview.crop_changed.connect(self._on_crop_changed)
        result_grid.thumbnails_complete.connect(self._on_thumbnails_complete)
        thumbnails.ready.connect(self._on_item_preview_thumbnail)
        c = controller
        c.index_opened.connect(self._on_index_opened)
        c.index_failed.connect(self._on_index_failed)
        c.model_ready.connect(
            lambda source: self.model_state_changed.emit("ready", f"Model: {source}")
        )
        c.model_failed.connect(self._on_model_failed)
        c.decoded.connect(self._on_decoded)
        c.waiting_for_model.connect(self._on_waiting_for_model)
        c.results_ready.connect(self._on_results)
        c.search_failed.connect(self._on_search_failed)
        c.notice.connect(lambda message: self._notify("warning", message))

    # ========================================================================= commands
    def start(self, index_path, embedder_factory: EmbedderFactory | None) -> None:
        """Open the index and start loading the model (once the window is shown)."""
        self.controller.open_index(index_path)
        if embedder_factory is not None:
            self.model_state_changed.emit("loading", "")
            self.controller.load_model(embedder_factory)
        else:
            self.model_state_changed.emit("failed", "No model was configured.")

    def search_sources(self, sources: list[QuerySource]) -> int:
        """Search with images (several are blended into one query)."""
        if not sources:
            return 0
        label = sources[0].label if len(sources) == 1 else f"{len(sources)} images blended"
        self.preview.set_status("Reading the image…")
        return self._submit(self.session.new_images(sources, label))

    def more_like_this(self, hit: SearchHit) -> int:
        """Search from a result's stored embedding (no model needed)."""
        name = hit.metadata.get("productDisplayName") or hit.item_id
        request = self.session.more_like_this(hit.item_id, f"More like: {name}")
        self._pending_item_preview = hit
        self._show_item_preview()
        return self._submit(request)

    def set_filters(self, filters: Filters) -> int:
        return self._submit(self.session.set_filters(filters))

    def set_match_colour(self, on: bool) -> int:
        return self._submit(self.session.set_match_colour(on))

    def reset(self) -> None:
        """Forget the query: answers to it, the preview, the results, the worker's copies."""
        self.controller.cancel()  # answers to earlier queries are no longer shown
        self.session.reset()
        self._pending_item_preview = None
        self.results_model.set_response(None)
        self.preview.clear()
        self.preview.set_status("")
        worker = self.controller.worker  # its decoded photos, dropped on its own thread
        QTimer.singleShot(0, worker, worker.forget_queries)
        self.changed.emit()

    def _submit(self, request: Query | None) -> int:
        if request is None:
            return 0
        request_id = self.controller.search(request)
        self.submitted.emit(request_id)
        return request_id

    def find_garment(self) -> int | None:
        """Search only the garment the model finds in the photo (its box is then shown)."""
        request = self.session.find_garment()
        if request is None:
            return None
        self.preview.set_status("Finding the garment…")
        request_id = self._submit(request)
        self.changed.emit()
        return request_id

    def _on_crop_changed(self, crop: CropBox | None) -> None:
        request = self.session.set_crop(crop)
        if request is not None:
            self.preview.set_status("Searching…")
            self._submit(request)
        self.changed.emit()

    # ==================================================================== worker events
    def _on_index_opened(self, summary: IndexSummary) -> None:
        self.index_summary = summary
        request, notice = self.session.open_index(summary.fields)
        if notice is not None:
            self._notify(notice.level, notice.message)
        self.index_opened.emit(summary)
        self._submit(request)
        self.index_ready.emit(True)

    def _on_index_failed(self, message: str) -> None:
        self.index_summary = None
        self.results_model.set_response(None)
        self.index_failed.emit(message)
        self._notify("error", message)
        self.index_ready.emit(False)

    def _on_model_failed(self, message: str) -> None:
        self.model_state_changed.emit("failed", message)
        self._notify("error", f"Image search is unavailable: {message}")
        self.preview.set_status("")

    def _on_decoded(self, _request_id: int, decoded: DecodedQuery) -> None:
        new_photo = self.session.decoded(decoded.label, decoded.hashes)
        if new_photo is None:
            return
        if new_photo:
            self.preview.set_images(
                [QPixmap.fromImage(image) for image in decoded.previews], decoded.label
            )
            self.photo_decoded.emit(decoded)
        self.query_shown.emit(decoded.label)
        waiting = self.controller.model_state != "ready"
        self.preview.set_status("Waiting for the model…" if waiting else "Searching…")
        self.changed.emit()

    def _on_waiting_for_model(self, _request_id: int) -> None:
        self.preview.set_status("Waiting for the model…")
        self.waiting_for_model.emit()

    def _on_results(self, request_id: int, response: SearchResponse) -> None:
        self._answered_id = request_id
        self.session.answered(response)
        active = self.session.active
        if (
            active is not None
            and not active.is_item
            and response.vector is not None
            and active.crop is None
        ):
            self.preview.set_found_box(response.found_box)
        self.preview.set_status("")
        self.results_model.set_response(response)
        self.answered.emit(response)
        self.changed.emit()

    def _on_search_failed(self, _request_id: int, message: str) -> None:
        self.preview.set_status("")
        self._notify("error", message)
        self.session.failed()
        self.failed.emit(message)
        self.changed.emit()

    def _on_thumbnails_complete(self) -> None:
        answered = self._answered_id
        if answered and self.controller.is_current(answered) and self._presented_id != answered:
            self._presented_id = answered
            self.results_presented.emit(answered)

    # ================================================================ the item preview
    def _show_item_preview(self) -> None:
        hit = self._pending_item_preview
        if hit is None:
            return
        pixmap = self.thumbnails.request(hit.image_path, DETAIL_IMAGE_SIDE)
        if pixmap is None and not self.thumbnails.has_failed(hit.image_path, DETAIL_IMAGE_SIDE):
            return  # shown when the thumbnail arrives
        self._pending_item_preview = None
        self.preview.set_images([pixmap] if pixmap is not None else [], hit.item_id)
        active = self.session.active
        self.query_shown.emit(active.label if active else hit.item_id)
        self.changed.emit()

    def _on_item_preview_thumbnail(self, path: str) -> None:
        hit = self._pending_item_preview
        if hit is not None and str(hit.image_path) == path:
            self._show_item_preview()
