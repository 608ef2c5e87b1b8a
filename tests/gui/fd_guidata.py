"""Helpers for the window tests that need Qt (the Qt-free ones are in tests/fd_testdata.py)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget


def send_drop(window: QWidget, mime) -> bool:
    """Drag ``mime`` over the query preview and drop it; returns whether the drag was accepted."""
    preview = window.preview  # type: ignore[attr-defined]
    point = preview.mapTo(window, preview.rect().center())
    enter = QDragEnterEvent(point, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(point), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, drop)
    return True
