"""The one inference worker: a QObject on its own QThread that owns the :class:`SearchEngine`.

The window never decodes, embeds or searches on the UI thread. It hands requests to
:class:`SearchController`, which keeps **only the newest pending request** (a burst of 20 drops
runs at most one search behind the current one) and forwards only the newest request's answers.
The model loads on a separate loader thread and is attached to the engine on the worker thread;
an image query that arrives before it is decoded and shown, then runs as soon as the model is
ready. Expected failures (:class:`FashionDesktopError`) travel back as human messages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QThread, Signal, SignalInstance, Slot
from PySide6.QtGui import QImage

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.errors import FashionDesktopError, ImageError
from fashion_desktop.core.imaging import (
    QueryImage,
    image_from_bytes,
    image_from_pil,
    load_image,
)
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.search import SearchEngine, SearchResponse
from fashion_desktop.core.session import ImageSearch, ItemSearch, Query

log = logging.getLogger(__name__)

#: The fields the window offers as filters, in the order they are shown.
FILTER_FIELDS = ("gender", "masterCategory", "articleType", "baseColour")
#: Longest side of the query preview image sent back to the window.
PREVIEW_SIDE = 1200
DECODED_CACHE_SIZE = 8
#: The model loader runs at this "nice" increment (Linux, per thread); LiteRT's compute
#: threads (XNNPACK's pool), created from it, inherit it, so the UI thread wins the CPU while
#: they keep every core busy. The worker thread itself keeps normal priority: it holds the GIL,
#: and a descheduled GIL holder would stall the UI thread (priority inversion).
BACKGROUND_NICENESS = 5

EmbedderFactory = Callable[[], Embedder]


# ------------------------------------------------------------------------------- requests
# The request types (ImageSearch, VectorSearch, ItemSearch) are the core session's
# (fashion_desktop.core.session); an image request's sources are QuerySources.
@dataclass(frozen=True, eq=False)
class QuerySource:
    """One image the user gave: a file, encoded image bytes, or a decoded QImage (clipboard)."""

    label: str
    path: Path | None = None
    data: bytes | None = None
    qimage: QImage | None = None

    @property
    def cache_key(self) -> tuple:
        if self.path is not None:
            return ("path", str(self.path))
        if self.data is not None:
            return ("data", len(self.data), hash(self.data))
        # cacheKey() is unique to these pixels; id() is reused once an image is freed.
        assert self.qimage is not None
        return ("qimage", self.qimage.cacheKey())


@dataclass(frozen=True)
class SearchRequest:
    request_id: int
    query: Query


@dataclass(frozen=True)
class DecodedQuery:
    """What the window shows of an image query before (and while) it is searched."""

    label: str
    previews: tuple[QImage, ...]
    hashes: tuple[str, ...]
    blended: bool
    #: The files that could be read (for the recent-queries strip).
    paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class IndexSummary:
    """What the window needs to know about an opened index, computed on the worker."""

    path: Path
    count: int
    fields: tuple[str, ...]
    field_values: dict[str, list[tuple[str, int]]]
    model_source: str


def lower_thread_priority() -> None:
    """Make the calling thread (and threads it starts later) yield the CPU to the UI thread."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


# -------------------------------------------------------------------------------- mailbox
class LatestRequestMailbox:
    """Holds at most one pending request: a newer one replaces an older one not yet started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: SearchRequest | None = None
        self._latest_id = 0

    def put(self, request: SearchRequest) -> None:
        with self._lock:
            self._pending = request
            self._latest_id = max(self._latest_id, request.request_id)

    def take(self) -> SearchRequest | None:
        with self._lock:
            request, self._pending = self._pending, None
            return request

    @property
    def latest_id(self) -> int:
        with self._lock:
            return self._latest_id

    def is_latest(self, request_id: int) -> bool:
        return request_id == self.latest_id


# --------------------------------------------------------------------------------- worker
class InferenceWorker(QObject):
    """Runs on the worker thread; all engine access happens here."""

    index_opened = Signal(object)  # IndexSummary
    index_failed = Signal(str)
    model_ready = Signal(str)
    model_failed = Signal(str)
    decoded = Signal(int, object)  # request id, DecodedQuery
    waiting_for_model = Signal(int)
    results_ready = Signal(int, object)  # request id, SearchResponse
    search_failed = Signal(int, str)
    notice = Signal(str)

    def __init__(self, mailbox: LatestRequestMailbox) -> None:
        super().__init__()
        self._mailbox = mailbox
        self._engine: SearchEngine | None = None
        self._embedder: Embedder | None = None
        self._waiting: SearchRequest | None = None
        self._decoded_cache: OrderedDict[tuple, QueryImage] = OrderedDict()
        #: Requests actually run (tests check that bursts are coalesced).
        self.runs = 0

    # ------------------------------------------------------------------------- slots
    @Slot(str)
    def open_index(self, path: str) -> None:
        try:
            index = EmbeddingIndex.open(path)
        except FashionDesktopError as error:
            self._engine = None
            self.index_failed.emit(str(error))
            return
        except Exception as error:  # an unreadable folder must not kill the worker
            log.exception("opening index %s", path)
            self._engine = None
            self.index_failed.emit(f"The index {path} cannot be opened: {error}")
            return
        old, self._engine = self._engine, SearchEngine(index)
        if old is not None:
            old.index.close()
        fields = tuple(index.fields)
        summary = IndexSummary(
            path=Path(path),
            count=len(index),
            fields=fields,
            field_values={f: index.field_values(f) for f in FILTER_FIELDS if f in fields},
            model_source=str(index.model.get("source", "")),
        )
        self.index_opened.emit(summary)
        if self._embedder is not None:
            self._attach(self._embedder)

    @Slot(object)
    def attach_embedder(self, embedder: Embedder) -> None:
        self._embedder = embedder
        if self._engine is None:
            self.model_ready.emit(embedder.identity.source)
            return
        self._attach(embedder)

    @Slot()
    def process_pending(self) -> None:
        request = self._mailbox.take()
        if request is not None:
            self._run(request)

    # --------------------------------------------------------------------- internals
    def _attach(self, embedder: Embedder) -> None:
        assert self._engine is not None
        try:
            self._engine.attach_embedder(embedder)
        except FashionDesktopError as error:
            self.model_failed.emit(str(error))
            return
        self.model_ready.emit(embedder.identity.source)
        waiting, self._waiting = self._waiting, None
        if waiting is not None and self._mailbox.is_latest(waiting.request_id):
            self._run(waiting)

    @Slot()
    def forget_queries(self) -> None:
        """Drop every decoded query image and any query waiting for the model (privacy)."""
        self._decoded_cache.clear()
        self._waiting = None

    def _run(self, request: SearchRequest) -> None:
        self.runs += 1
        try:
            response = self._answer(request)
        except FashionDesktopError as error:
            self.search_failed.emit(request.request_id, str(error))
            return
        except ValueError as error:  # e.g. a filter on a field this index does not have
            self.search_failed.emit(request.request_id, str(error))
            return
        except Exception as error:
            log.exception("search request %s failed", request.request_id)
            self.search_failed.emit(
                request.request_id, f"The search failed unexpectedly: {error or type(error)}"
            )
            return
        if response is not None:
            self.results_ready.emit(request.request_id, response)

    def _answer(self, request: SearchRequest) -> SearchResponse | None:
        query = request.query
        if isinstance(query, ImageSearch):
            return self._answer_images(request.request_id, query)
        engine = self._require_engine()
        filters = query.filters
        scoring = engine.scoring.with_match_colour(query.match_colour)
        if isinstance(query, ItemSearch):
            return engine.search_item(query.item_id, filters=filters, scoring=scoring)
        exclude = engine.index.rows_with_sha256(query.exclude_hashes)
        return engine.search_vector(
            query.vector,
            signature=query.signature,
            label=query.label,
            filters=filters,
            exclude_rows=exclude,
            scoring=scoring,
            photo=query.photo,
        )

    def _answer_images(self, request_id: int, query: ImageSearch) -> SearchResponse | None:
        images = self._decode_all(query.sources)
        blended = len(images) > 1
        label = f"{len(images)} images blended" if blended else images[0].label
        self.decoded.emit(
            request_id,
            DecodedQuery(
                label,
                tuple(_preview(image.image) for image in images),
                tuple(image.sha256 for image in images),
                blended,
                tuple(image.path for image in images if image.path is not None),
            ),
        )
        engine = self._require_engine()
        if not engine.ready:
            self._waiting = SearchRequest(request_id, query)
            self.waiting_for_model.emit(request_id)
            return None
        if not self._mailbox.is_latest(request_id):
            return None  # a newer query arrived while decoding: skip the model run
        crop = None if blended else query.crop
        (response,) = engine.search_images(
            images,
            filters=query.filters,
            blend=blended,
            crop=crop,
            scoring=engine.scoring.with_match_colour(query.match_colour),
            localise=query.localise,
        )
        response.query = label
        return response

    def _decode_all(self, sources: Sequence[QuerySource]) -> list[QueryImage]:
        images, problems = [], []
        for source in sources:
            try:
                images.append(self._decode(source))
            except FashionDesktopError as error:
                problems.append(str(error))
        if not images:
            raise ImageError(" ".join(problems) or "There was no image to search.")
        for problem in problems:  # blend what could be read, say what could not
            self.notice.emit(f"Skipped one image: {problem}")
        return images

    def _decode(self, source: QuerySource) -> QueryImage:
        key: tuple | None = source.cache_key
        if source.path is not None:  # a file edited since is decoded afresh
            try:
                stat = source.path.stat()
                key = (*source.cache_key, stat.st_mtime_ns, stat.st_size)
            except OSError:
                key = None
        cached = self._decoded_cache.get(key) if key is not None else None
        if key is not None and cached is not None:
            self._decoded_cache.move_to_end(key)
            return cached
        if source.path is not None:
            image = load_image(source.path)
            image = QueryImage(image.image, image.sha256, source.label, source.path)
        elif source.data is not None:
            image = image_from_bytes(source.data, source.label)
        elif source.qimage is not None and not source.qimage.isNull():
            image = image_from_pil(_qimage_to_pil(source.qimage), source.label)
        else:
            raise ImageError(f"{source.label} holds no image data.")
        if key is None:
            return image
        self._decoded_cache[key] = image
        if len(self._decoded_cache) > DECODED_CACHE_SIZE:
            self._decoded_cache.popitem(last=False)
        return image

    def _require_engine(self) -> SearchEngine:
        if self._engine is None:
            raise FashionDesktopError(
                "No catalogue index is open. Choose one with Catalogue → Open index…"
            )
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.index.close()
            self._engine = None


def _preview(image: Image.Image) -> QImage:
    """A display copy of a decoded query (bounded size, detached from the PIL buffer)."""
    if max(image.size) > PREVIEW_SIDE:
        image = image.copy()
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    width, height = rgb.size
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _qimage_to_pil(qimage: QImage) -> Image.Image:
    converted = qimage.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height = converted.width(), converted.height()
    stride = converted.bytesPerLine()
    buffer = np.frombuffer(converted.constBits(), np.uint8, count=stride * height)
    pixels = buffer.reshape(height, stride)[:, : width * 4].reshape(height, width, 4)
    return Image.fromarray(pixels.copy(), "RGBA")


# ----------------------------------------------------------------------------- controller
class SearchController(QObject):
    """The window's handle on the worker: numbered requests, newest-only answers."""

    index_opened = Signal(object)
    index_failed = Signal(str)
    model_ready = Signal(str)
    model_failed = Signal(str)
    decoded = Signal(int, object)
    waiting_for_model = Signal(int)
    results_ready = Signal(int, object)
    search_failed = Signal(int, str)
    notice = Signal(str)

    _wake = Signal()
    _open_index = Signal(str)
    _embedder_loaded = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mailbox = LatestRequestMailbox()
        self._next_id = 0
        self._thread = QThread()
        self._thread.setObjectName("inference-worker")
        self.worker = InferenceWorker(self._mailbox)
        self.worker.moveToThread(self._thread)
        self._wake.connect(self.worker.process_pending)
        self._open_index.connect(self.worker.open_index)
        self._embedder_loaded.connect(self.worker.attach_embedder)
        self.worker.index_opened.connect(self.index_opened)
        self.worker.index_failed.connect(self.index_failed)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.model_failed.connect(self._on_model_failed)
        self.worker.notice.connect(self.notice)
        self.worker.decoded.connect(self._forward_decoded)
        self.worker.waiting_for_model.connect(self._forward_waiting)
        self.worker.results_ready.connect(self._forward_results)
        self.worker.search_failed.connect(self._forward_failure)
        self._thread.start()
        self._model_state = "not loaded"  # "loading" | "ready" | "failed"
        #: Answers that arrived after a newer request was made, and were not shown.
        self.stale_dropped = 0
        self._loader: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------------ commands
    def open_index(self, path: str | Path) -> None:
        self._open_index.emit(str(path))

    def load_model(self, factory: EmbedderFactory) -> None:
        """Load the model on a loader thread (~0.2 s on LiteRT; converting Keras weights the
        first time takes a minute)."""
        self._model_state = "loading"

        def load() -> None:
            lower_thread_priority()  # LiteRT's thread pools are created from this thread
            try:
                embedder = factory()
            except FashionDesktopError as error:
                self._from_loader(self.worker.model_failed, str(error))
                return
            except Exception as error:
                log.exception("loading the model")
                self._from_loader(
                    self.worker.model_failed, f"The model could not be loaded: {error}"
                )
                return
            self._from_loader(self._embedder_loaded, embedder)

        # A daemon thread: quitting while a model is still loading must not hang the app.
        self._loader = threading.Thread(target=load, name="model-loader", daemon=True)
        self._loader.start()

    def _from_loader(self, signal: SignalInstance, value: object) -> None:
        """Emit the loader thread's outcome, unless the window closed meanwhile: the app may
        quit while the model still loads, and the QObjects are then already deleted."""
        if self._closed:
            return
        try:
            signal.emit(value)
        except RuntimeError:  # deleted between the check and the emit: nobody is listening
            log.debug("model loaded after the window closed")

    def search(self, query: Query) -> int:
        """Queue ``query`` (replacing any not yet started) and return its request id."""
        self._next_id += 1
        self._mailbox.put(SearchRequest(self._next_id, query))
        self._wake.emit()
        return self._next_id

    def cancel(self) -> None:
        """Forget the current query: answers to anything asked so far are no longer shown."""
        self._next_id += 1
        self._mailbox.put(SearchRequest(self._next_id, ImageSearch(())))
        self._mailbox.take()

    @property
    def latest_id(self) -> int:
        return self._next_id

    def is_current(self, request_id: int) -> bool:
        return request_id == self._next_id

    @property
    def model_state(self) -> str:
        return self._model_state

    def shutdown(self) -> None:
        """Stop the worker thread (waits for a running search, never for the model loader)."""
        self._closed = True
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
            self.worker.close()

    # -------------------------------------------------------------------------- relays
    def _on_model_ready(self, source: str) -> None:
        self._model_state = "ready"
        self.model_ready.emit(source)

    def _on_model_failed(self, message: str) -> None:
        self._model_state = "failed"
        self.model_failed.emit(message)

    def _forward_decoded(self, request_id: int, decoded: DecodedQuery) -> None:
        if self._keep(request_id):
            self.decoded.emit(request_id, decoded)

    def _forward_waiting(self, request_id: int) -> None:
        if self._keep(request_id):
            self.waiting_for_model.emit(request_id)

    def _forward_results(self, request_id: int, response: SearchResponse) -> None:
        if self._keep(request_id):
            self.results_ready.emit(request_id, response)

    def _forward_failure(self, request_id: int, message: str) -> None:
        if self._keep(request_id):
            self.search_failed.emit(request_id, message)

    def _keep(self, request_id: int) -> bool:
        if self.is_current(request_id):
            return True
        self.stale_dropped += 1
        return False
