"""Short jobs off the UI thread (exports): a QRunnable on the global pool, answered by signal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from fashion_desktop.core.errors import FashionDesktopError

log = logging.getLogger(__name__)


class _JobSignals(QObject):
    finished = Signal(object)
    failed = Signal(str)


class _Job(QRunnable):
    def __init__(self, function: Callable[[], Any], signals: _JobSignals) -> None:
        super().__init__()
        self._function = function
        self._signals = signals

    def run(self) -> None:
        try:
            result = self._function()
        except FashionDesktopError as error:
            self._signals.failed.emit(str(error))
        except OSError as error:
            self._signals.failed.emit(f"{error.strerror or error}: {error.filename or ''}".strip())
        except Exception as error:
            log.exception("background job failed")
            self._signals.failed.emit(f"Unexpected error: {error}")
        else:
            self._signals.finished.emit(result)


_running: set[_JobSignals] = set()


def run_in_background(
    function: Callable[[], Any],
    on_finished: Callable[[Any], None],
    on_failed: Callable[[str], None],
) -> None:
    """Run ``function`` on the thread pool; the callbacks run on the UI thread."""
    signals = _JobSignals()
    _running.add(signals)

    def finished(result: Any) -> None:
        _running.discard(signals)
        on_finished(result)

    def failed(message: str) -> None:
        _running.discard(signals)
        on_failed(message)

    signals.finished.connect(finished)
    signals.failed.connect(failed)
    QThreadPool.globalInstance().start(_Job(function, signals))
