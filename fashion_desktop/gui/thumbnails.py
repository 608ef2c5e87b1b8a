"""Lazy, cached thumbnails: read on the thread pool at the size shown, never on the UI thread."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

CACHE_SIZE = 256


class _Delivery(QObject):
    loaded = Signal(str, int, QImage)


class _ReadThumbnail(QRunnable):
    def __init__(self, path: str, side: int, delivery: _Delivery) -> None:
        super().__init__()
        self._path = path
        self._side = side
        self._delivery = delivery

    def run(self) -> None:
        reader = QImageReader(self._path)
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > self._side:
            reader.setScaledSize(
                size.scaled(QSize(self._side, self._side), Qt.AspectRatioMode.KeepAspectRatio)
            )
        image = reader.read()  # a null image when unreadable: the view shows a placeholder
        self._delivery.loaded.emit(self._path, self._side, image)


class ThumbnailLoader(QObject):
    """``request(path, side)`` returns a cached pixmap or schedules a read and emits ``ready``."""

    ready = Signal(str)  # the path whose thumbnail is now available (or failed)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()
        self._failed: set[tuple[str, int]] = set()
        self._pending: set[tuple[str, int]] = set()
        self._delivery = _Delivery()
        self._delivery.loaded.connect(self._on_loaded)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)

    def request(self, path: Path | str, side: int) -> QPixmap | None:
        key = (str(path), int(side))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if key not in self._pending and key not in self._failed:
            self._pending.add(key)
            self._pool.start(_ReadThumbnail(key[0], key[1], self._delivery))
        return None

    def has_failed(self, path: Path | str, side: int) -> bool:
        return (str(path), int(side)) in self._failed

    def is_pending(self, path: Path | str, side: int) -> bool:
        return (str(path), int(side)) in self._pending

    def wait_for_idle(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(msecs)

    def _on_loaded(self, path: str, side: int, image: QImage) -> None:
        key = (path, side)
        self._pending.discard(key)
        if image.isNull():
            self._failed.add(key)
        else:
            self._cache[key] = QPixmap.fromImage(image)
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        self.ready.emit(path)
