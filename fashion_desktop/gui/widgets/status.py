"""The model's loading state, shown unobtrusively in the stylist window's header."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

STATE_TEXT = {
    "loading": "Loading the model…",
    "ready": "Model ready",
    "failed": "Image search unavailable",
}


class ModelStatus(QWidget):
    """A dot, a word and (while loading) a thin busy bar; the detail is in the tooltip."""

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
        text = STATE_TEXT[state]
        self.label.setText(text)
        self.bar.setVisible(state == "loading")
        self.dot.setProperty("state", state)
        self.dot.style().unpolish(self.dot)
        self.dot.style().polish(self.dot)
        self.setToolTip(detail or text)
