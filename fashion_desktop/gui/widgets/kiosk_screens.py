"""The kiosk's own screens: the attract screen and the large item detail.

Big type and touch-sized targets (every button at least 64 px high); nothing relies on hover.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.search import SearchHit
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.detail import DETAIL_IMAGE_SIDE, FIELD_LABELS
from fashion_desktop.gui.widgets.image_view import ImageView

ATTRACT_TITLE = "Show us a piece you like"
ATTRACT_SUBTITLE = (
    "Hold it up to the camera and we'll find the five most similar pieces in our collection."
)
PRIVACY_NOTE = "Your photo is never stored. It is forgotten as soon as you walk away."
#: Fields a customer cares about, in this order (file paths and internal fields are left out).
CUSTOMER_FIELDS = ("articleType", "baseColour", "gender", "masterCategory", "season", "usage")


def kiosk_button(text: str, icon_name: str, *, primary: bool = False) -> QPushButton:
    button = QPushButton(icon(icon_name, "#ffffff" if primary else "#1e1b4b"), text)
    button.setObjectName("KioskPrimary" if primary else "KioskSecondary")
    button.setIconSize(icon_size(30))
    button.setMinimumHeight(72)
    button.setAutoDefault(False)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class AttractScreen(QWidget):
    """A calm full-screen invitation; touching anywhere starts the camera."""

    start_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttractScreen")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.logo = logo = QLabel()
        logo.setPixmap(icon("app").pixmap(96, 96))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel(ATTRACT_TITLE)
        self.title.setObjectName("AttractTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.subtitle = QLabel(ATTRACT_SUBTITLE)
        self.subtitle.setObjectName("AttractSubtitle")
        self.subtitle.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.subtitle.setWordWrap(True)
        self.start_button = kiosk_button("Take a photo", "camera", primary=True)
        self.start_button.setObjectName("AttractStart")
        self.start_button.setIconSize(icon_size(40))
        self.start_button.setMinimumSize(420, 110)
        self.start_button.clicked.connect(self.start_requested)
        self.note = QLabel(PRIVACY_NOTE)
        self.note.setObjectName("AttractNote")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        column = QVBoxLayout(self)
        column.setContentsMargins(80, 60, 80, 60)
        column.setSpacing(24)
        column.addStretch(3)
        column.addWidget(logo)
        column.addWidget(self.title)
        column.addWidget(self.subtitle)
        column.addSpacing(36)
        column.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(4)
        column.addWidget(self.note)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.start_requested.emit()

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        gradient = QLinearGradient(0, 0, self.width(), self.height())
        gradient.setColorAt(0.0, QColor("#eef2ff"))
        gradient.setColorAt(1.0, QColor("#fdf2f8"))
        painter.fillRect(QRectF(self.rect()), gradient)


class KioskDetail(QWidget):
    """One item, large: image, name, what it is, and how to ask staff for it."""

    back_requested = Signal()
    more_like_this = Signal(object)  # SearchHit
    start_over = Signal()
    image_loaded = Signal()

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("KioskDetail")
        self._thumbnails = thumbnails
        self.hit: SearchHit | None = None
        self.image = ImageView(aspect=4 / 3)
        self.image.setObjectName("DetailImage")
        self.image.setMinimumSize(240, 280)
        self.name = QLabel()
        self.name.setObjectName("KioskTitle")
        self.name.setWordWrap(True)
        self.ask = QLabel()
        self.ask.setObjectName("KioskAsk")
        self.ask.setWordWrap(True)
        self.form = QFormLayout()
        self.form.setHorizontalSpacing(28)
        self.form.setVerticalSpacing(14)
        self.back_button = kiosk_button("Back to results", "arrow-left")
        self.more_button = kiosk_button("More like this", "similar", primary=True)
        self.start_button = kiosk_button("New photo", "camera")
        self.back_button.clicked.connect(self.back_requested)
        self.more_button.clicked.connect(lambda: self.hit and self.more_like_this.emit(self.hit))
        self.start_button.clicked.connect(self.start_over)
        info = QVBoxLayout()
        info.setSpacing(18)
        info.addWidget(self.name)
        info.addWidget(self.ask)
        info.addSpacing(10)
        info.addLayout(self.form)
        info.addStretch(1)
        body = QHBoxLayout()
        body.setSpacing(48)
        body.addWidget(self.image, 5)
        body.addLayout(info, 6)
        actions = QHBoxLayout()
        actions.setSpacing(24)
        actions.addWidget(self.back_button)
        actions.addStretch(1)
        actions.addWidget(self.start_button)
        actions.addWidget(self.more_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(56, 40, 56, 40)
        layout.setSpacing(32)
        layout.addLayout(body, 1)
        layout.addLayout(actions)
        thumbnails.ready.connect(self._load_image)

    def buttons(self) -> tuple[QPushButton, ...]:
        return (self.back_button, self.more_button, self.start_button)

    def set_hit(self, hit: SearchHit | None) -> None:
        self.hit = hit
        while self.form.rowCount():
            self.form.removeRow(0)
        self.image.set_pixmap(None)
        if hit is None:
            self.name.setText("")
            self.ask.setText("")
            return
        meta = hit.metadata
        self.name.setText(display_name(hit.item_id, meta))
        self.ask.setText(f"Like it? Ask a member of staff for item {hit.item_id}.")
        for key in CUSTOMER_FIELDS:
            if meta.get(key):
                name = QLabel(FIELD_LABELS.get(key, key))
                name.setObjectName("FieldName")
                value = QLabel(meta[key])
                value.setObjectName("FieldValue")
                value.setWordWrap(True)
                self.form.addRow(name, value)
        self._load_image()

    def _load_image(self, _path: str = "") -> None:
        if self.hit is None:
            return
        pixmap = self._thumbnails.request(self.hit.image_path, DETAIL_IMAGE_SIDE)
        if pixmap is not None:
            self.image.set_pixmap(pixmap)
            self.image_loaded.emit()
        elif self._thumbnails.has_failed(self.hit.image_path, DETAIL_IMAGE_SIDE):
            self.image.set_pixmap(None, missing=True)
            self.image_loaded.emit()
