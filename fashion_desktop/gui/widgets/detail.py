"""The detail view of one item: a large image, every metadata field, and the card's actions."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.search import SearchHit
from fashion_desktop.gui.icons import icon
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.image_view import ImageView
from fashion_desktop.gui.widgets.results import score_text, score_tooltip

DETAIL_IMAGE_SIDE = 1024
#: Friendly labels for the catalogue's column names (others are shown as they are).
FIELD_LABELS = {
    "productDisplayName": "Name",
    "articleType": "Article type",
    "baseColour": "Colour",
    "masterCategory": "Category",
    "subCategory": "Sub-category",
    "gender": "Gender",
    "season": "Season",
    "usage": "Usage",
    "year": "Year",
    "id": "ID",
}
FIELD_ORDER = tuple(FIELD_LABELS)


class ItemDetailDialog(QDialog):
    """Opened from a card (click or Enter); Esc closes it."""

    more_like_this = Signal(object)
    shortlist_toggled = Signal(object, bool)

    def __init__(
        self,
        hit: SearchHit,
        thumbnails: ThumbnailLoader,
        *,
        shortlisted: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ItemDetail")
        self.hit = hit
        self._thumbnails = thumbnails
        name = display_name(hit.item_id, hit.metadata)
        self.setWindowTitle(name)
        self.resize(820, 560)

        self.image = ImageView(aspect=4 / 3)
        self.image.setObjectName("DetailImage")
        self.image.setMinimumSize(320, 420)
        title = QLabel(name)
        title.setObjectName("DetailTitle")
        title.setWordWrap(True)
        score = QLabel(f"Result {hit.rank} · {score_text(hit)}")
        score.setObjectName("MutedLabel")
        score.setToolTip(score_tooltip(hit))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(8)
        keys = [k for k in FIELD_ORDER if k in hit.metadata and k != "productDisplayName"]
        keys += sorted(k for k in hit.metadata if k not in FIELD_LABELS)
        if "id" not in hit.metadata:
            form.addRow(self._key("ID"), self._value(hit.item_id))
        for key in keys:
            form.addRow(self._key(FIELD_LABELS.get(key, key)), self._value(hit.metadata[key]))
        form.addRow(self._key("Image"), self._value(str(hit.image_path)))

        self.more_button = QPushButton(icon("similar", "#ffffff"), "More like this")
        self.more_button.setObjectName("PrimaryButton")
        self.more_button.clicked.connect(self._more_like_this)
        self.shortlist_button = QPushButton()
        self.shortlist_button.setCheckable(True)
        self.shortlist_button.setChecked(shortlisted)
        self.shortlist_button.toggled.connect(self._on_shortlist)
        self._update_shortlist_button()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        actions = QHBoxLayout()
        actions.addWidget(self.more_button)
        actions.addWidget(self.shortlist_button)
        actions.addStretch(1)
        actions.addWidget(buttons)

        info = QVBoxLayout()
        info.setSpacing(8)
        info.addWidget(title)
        info.addWidget(score)
        info.addSpacing(10)
        info.addLayout(form)
        info.addStretch(1)
        body = QHBoxLayout()
        body.setSpacing(24)
        body.addWidget(self.image, 5)
        body.addLayout(info, 6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 20)
        layout.setSpacing(16)
        layout.addLayout(body, 1)
        layout.addLayout(actions)

        thumbnails.ready.connect(self._load_image)
        self._load_image()

    @staticmethod
    def _key(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("FieldName")
        return label

    @staticmethod
    def _value(text: str) -> QLabel:
        label = QLabel(text or "—")
        label.setObjectName("FieldValue")
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _load_image(self, _path: str = "") -> None:
        pixmap = self._thumbnails.request(self.hit.image_path, DETAIL_IMAGE_SIDE)
        if pixmap is not None:
            self.image.set_pixmap(pixmap)
        elif self._thumbnails.has_failed(self.hit.image_path, DETAIL_IMAGE_SIDE):
            self.image.set_pixmap(None, missing=True)

    def _more_like_this(self) -> None:
        self.more_like_this.emit(self.hit)
        self.accept()

    def _on_shortlist(self, checked: bool) -> None:
        self._update_shortlist_button()
        self.shortlist_toggled.emit(self.hit, checked)

    def _update_shortlist_button(self) -> None:
        on = self.shortlist_button.isChecked()
        self.shortlist_button.setText("On the shortlist" if on else "Add to shortlist")
        self.shortlist_button.setIcon(icon("heart-filled", "#e11d48") if on else icon("heart"))
