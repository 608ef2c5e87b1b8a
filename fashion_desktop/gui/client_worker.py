"""The client-book worker: recommendations, looks and history imports off the UI thread.

Recommendations and looks need only the index's stored vectors and metadata (no model), but the
core's per-index arrays take about a second to build for 40,000 items on first use, and a
history import checks every row: none of it may run on the UI thread, nor queue behind (or
push out) an image search. So this is a second small worker, a QObject on its own QThread, with
its **own** :class:`EmbeddingIndex` handle and its own :class:`ClientBook` connection (SQLite
connections belong to the thread that opened them; the book's change token makes the
recommender see the window's writes). :class:`ClientController` numbers requests and keeps, per
kind, only the newest pending one and only the newest one's answer — the inference worker's
rule (:mod:`fashion_desktop.gui.worker`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from fashion_desktop.core.clients import ClientBook
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.history import ImportReport, import_history
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.looks import Look, LookBuilder
from fashion_desktop.core.recommend import RecommendationList, Recommender

log = logging.getLogger(__name__)

#: The fields a profile picks its preferred and avoided values from.
PROFILE_FIELDS = ("baseColour", "articleType", "usage")
#: Catalogue placeholders that are not values a stylist would pick.
NOT_A_VALUE = {"", "na", "n/a", "none"}
DEFAULT_RECOMMENDATIONS = 10


# ------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class RecommendRequest:
    client: str
    k: int = DEFAULT_RECOMMENDATIONS


@dataclass(frozen=True)
class LookRequest:
    item_id: str
    client: str | None = None


@dataclass(frozen=True)
class ImportRequest:
    path: Path
    skip_invalid: bool = False


ClientRequest = RecommendRequest | LookRequest | ImportRequest
KINDS: dict[type, str] = {
    RecommendRequest: "recommend",
    LookRequest: "look",
    ImportRequest: "import",
}


@dataclass(frozen=True)
class CatalogueVocabulary:
    """An index's values for the profile editor's pick lists (most common first)."""

    path: Path
    values: dict[str, list[str]]


class _Mailbox:
    """At most one pending request per kind; a newer one replaces an older one not started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, ClientRequest]] = {}

    def put(self, request_id: int, request: ClientRequest) -> None:
        with self._lock:
            self._pending[KINDS[type(request)]] = (request_id, request)

    def take(self, kind: str) -> tuple[int, ClientRequest] | None:
        with self._lock:
            return self._pending.pop(kind, None)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()


# --------------------------------------------------------------------------------- worker
class ClientWorker(QObject):
    """Runs on the client thread; owns its index handle, book connection and their caches."""

    index_opened = Signal(object)  # CatalogueVocabulary
    recommendations_ready = Signal(int, object)  # request id, RecommendationList
    look_ready = Signal(int, object)  # request id, Look
    import_finished = Signal(int, object)  # request id, ImportReport
    failed = Signal(int, str, str)  # request id, kind, message

    def __init__(self, mailbox: _Mailbox, book_path: Path | None) -> None:
        super().__init__()
        self._mailbox = mailbox
        self._book_path = book_path
        self._book: ClientBook | None = None
        self._index: EmbeddingIndex | None = None
        self._recommender: Recommender | None = None
        self._looks: LookBuilder | None = None

    @Slot(str)
    def open_index(self, path: str) -> None:
        try:
            index = EmbeddingIndex.open(path)
        except Exception as error:  # the inference worker reports a bad index to the user
            log.warning("client worker: cannot open %s: %s", path, error)
            return
        self.close_index()
        self._index = index
        self._recommender = self._looks = None  # built on first use, on this thread
        values = {
            name: [v for v, _count in index.field_values(name) if v.casefold() not in NOT_A_VALUE]
            for name in PROFILE_FIELDS
            if name in index.fields
        }
        self.index_opened.emit(CatalogueVocabulary(Path(path), values))

    @Slot(str)
    def process(self, kind: str) -> None:
        pending = self._mailbox.take(kind)
        if pending is None:
            return
        request_id, request = pending
        try:
            if isinstance(request, RecommendRequest):
                recommended = self._recommender_for().recommend(request.client, request.k)
                self.recommendations_ready.emit(request_id, recommended)
            elif isinstance(request, LookRequest):
                look = self._look_builder().look(request.item_id, client=request.client)
                self.look_ready.emit(request_id, look)
            else:
                report = import_history(
                    self._require_book(),
                    request.path,
                    index=self._require_index(),
                    skip_invalid=request.skip_invalid,
                )
                self.import_finished.emit(request_id, report)
        except FashionDesktopError as error:
            self.failed.emit(request_id, kind, str(error))
        except Exception as error:  # never a dead worker, never a traceback in the window
            log.exception("client request %s failed", request_id)
            self.failed.emit(request_id, kind, f"Unexpected error: {error or type(error)}")

    # ------------------------------------------------------------------------- helpers
    def _require_index(self) -> EmbeddingIndex:
        if self._index is None:
            raise FashionDesktopError("No catalogue index is open yet.")
        return self._index

    def _require_book(self) -> ClientBook:
        if self._book is None:
            if self._book_path is None:
                raise FashionDesktopError("The client book is unavailable.")
            self._book = ClientBook(self._book_path)
        return self._book

    def _recommender_for(self) -> Recommender:
        if self._recommender is None:
            self._recommender = Recommender(self._require_index(), self._require_book())
        return self._recommender

    def _look_builder(self) -> LookBuilder:
        if self._looks is None:
            self._looks = LookBuilder(self._require_index(), self._require_book())
        return self._looks

    def close_index(self) -> None:
        if self._index is not None:
            self._index.close()
        self._index = None
        self._recommender = self._looks = None

    @Slot()
    def close(self) -> None:
        """Runs on the worker thread as it stops (its SQLite connections are this thread's)."""
        self.close_index()
        if self._book is not None:
            self._book.close()
            self._book = None


# ----------------------------------------------------------------------------- controller
class ClientController(QObject):
    """The window's handle on the client worker: numbered requests, newest-only answers."""

    index_opened = Signal(object)  # CatalogueVocabulary
    recommendations_ready = Signal(int, object)
    look_ready = Signal(int, object)
    import_finished = Signal(int, object)
    failed = Signal(str, str)  # kind, message (the newest request of that kind only)

    _wake = Signal(str)
    _open_index = Signal(str)

    def __init__(self, book_path: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mailbox = _Mailbox()
        self._next_id = 0
        self._latest: dict[str, int] = {}
        self._thread = QThread()
        self._thread.setObjectName("client-worker")
        self.worker = ClientWorker(self._mailbox, book_path)
        self.worker.moveToThread(self._thread)
        self._wake.connect(self.worker.process)
        self._open_index.connect(self.worker.open_index)
        self._thread.finished.connect(self.worker.close, Qt.ConnectionType.DirectConnection)
        self.worker.index_opened.connect(self.index_opened)
        self.worker.recommendations_ready.connect(self._forward_recommendations)
        self.worker.look_ready.connect(self._forward_look)
        self.worker.import_finished.connect(self._forward_import)
        self.worker.failed.connect(self._forward_failure)
        #: Answers that arrived after a newer request of their kind, and were not shown.
        self.stale_dropped = 0
        self._thread.start()

    # ------------------------------------------------------------------------ commands
    def open_index(self, path: str | Path) -> None:
        self._open_index.emit(str(path))

    def recommend(self, client: str, k: int = DEFAULT_RECOMMENDATIONS) -> int:
        return self._submit(RecommendRequest(client, k))

    def look(self, item_id: str, client: str | None = None) -> int:
        return self._submit(LookRequest(item_id, client))

    def import_history(self, path: Path, *, skip_invalid: bool = False) -> int:
        return self._submit(ImportRequest(Path(path), skip_invalid))

    def is_busy(self, kind: str) -> bool:
        """A request of ``kind`` was made and its answer has not arrived yet."""
        return kind in self._latest

    def cancel(self, kind: str) -> None:
        """Answers to requests of ``kind`` made so far are no longer shown."""
        self._next_id += 1
        self._latest.pop(kind, None)
        self._mailbox.take(kind)

    def shutdown(self) -> None:
        """Stop the worker thread (waits for a running request)."""
        if self._thread.isRunning():
            self._mailbox.clear()
            self._thread.quit()
            self._thread.wait()

    # -------------------------------------------------------------------------- relays
    def _submit(self, request: ClientRequest) -> int:
        self._next_id += 1
        kind = KINDS[type(request)]
        self._latest[kind] = self._next_id
        self._mailbox.put(self._next_id, request)
        self._wake.emit(kind)
        return self._next_id

    def _keep(self, kind: str, request_id: int) -> bool:
        if self._latest.get(kind) == request_id:
            del self._latest[kind]
            return True
        self.stale_dropped += 1
        return False

    def _forward_recommendations(self, request_id: int, answer: RecommendationList) -> None:
        if self._keep("recommend", request_id):
            self.recommendations_ready.emit(request_id, answer)

    def _forward_look(self, request_id: int, answer: Look) -> None:
        if self._keep("look", request_id):
            self.look_ready.emit(request_id, answer)

    def _forward_import(self, request_id: int, answer: ImportReport) -> None:
        if self._keep("import", request_id):
            self.import_finished.emit(request_id, answer)

    def _forward_failure(self, request_id: int, kind: str, message: str) -> None:
        if self._keep(kind, request_id):
            self.failed.emit(kind, message)
