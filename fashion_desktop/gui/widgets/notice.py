"""Non-blocking notices: a slim banner above the results instead of modal message boxes."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from fashion_desktop.gui.icons import icon, icon_size

AUTO_HIDE_MS = {"info": 6000, "warning": 12000, "error": 0}
ICON_COLOURS = {"info": "#2563eb", "warning": "#b45309", "error": "#b91c1c"}


class NoticeLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class NoticeBanner(QFrame):
    """Shows one message at a time; errors stay until dismissed or replaced."""

    posted = Signal(str, str)  # level, message

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NoticeBanner")
        self._icon = QLabel()
        self._icon.setFixedSize(20, 20)
        self._text = QLabel()
        self._text.setObjectName("NoticeText")
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setObjectName("NoticeClose")
        close.setIcon(icon("close"))
        close.setIconSize(icon_size(14))
        close.setToolTip("Dismiss")
        close.setAccessibleName("Dismiss notice")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.level = ""
        self.history: list[tuple[str, str]] = []
        self.hide()

    @property
    def message(self) -> str:
        parent = self.parentWidget()
        # isVisibleTo(nullptr) is isVisible() in Qt; the stubs do not take None
        visible = self.isVisibleTo(parent) if parent is not None else self.isVisible()
        return self._text.text() if visible else ""

    def show_notice(self, message: str, level: NoticeLevel | str = NoticeLevel.INFO) -> None:
        level = NoticeLevel(level)
        self.level = level.value
        self.history.append((level.value, message))
        self._text.setText(message)
        self._icon.setPixmap(icon(_icon_name(level), ICON_COLOURS[level]).pixmap(20, 20))
        self.setProperty("level", level.value)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()
        hide_after = AUTO_HIDE_MS[level.value]
        if hide_after:
            self._timer.start(hide_after)
        else:
            self._timer.stop()
        self.posted.emit(level.value, message)

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()


def _icon_name(level: NoticeLevel) -> str:
    return {"info": "info", "warning": "warning", "error": "error"}[level.value]
