"""Guards against Qt bindings that drop references they do not own.

PySide6 6.12.0 lost a reference to ``None`` on every ``QAbstractItemModel.data()`` call that
returned ``None`` and to the ``bool`` that every ``Signal.emit()`` returns; on Python 3.11 these
objects are not immortal, so the window aborted ("deallocating None") after about 1,000
queries. These tests fail on such a release long before a user's kiosk would.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal

from fashion_desktop.core.search import SearchHit, SearchResponse
from fashion_desktop.gui.models import ResultsModel

CALLS = 5000


def _drift(action) -> int:
    action()
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(CALLS):
        action()
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    return min(a - b for a, b in zip(after, before, strict=True))


def test_item_model_data_returning_none_keeps_none_alive(tmp_path):
    model = ResultsModel()
    hit = SearchHit(1, "42", 0.9, tmp_path / "42.jpg", {"articleType": "Tshirts"}, 0)
    model.set_response(SearchResponse("query", [hit]))
    index = model.index(0)
    unhandled_role = Qt.ItemDataRole.UserRole + 999
    assert model.data(index, unhandled_role) is None
    assert _drift(lambda: index.data(unhandled_role)) > -CALLS // 10
    assert _drift(lambda: model.data(QModelIndex(), Qt.ItemDataRole.DisplayRole)) > -CALLS // 10


class _Emitter(QObject):
    changed = Signal(object)


def test_signal_emit_keeps_none_and_bools_alive():
    emitter = _Emitter()
    received: list[object] = []
    emitter.changed.connect(received.append)
    assert _drift(lambda: emitter.changed.emit(None)) > -CALLS // 10
    assert len(received) == CALLS + 1
