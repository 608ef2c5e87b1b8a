"""Complete the look: the anchor item, each complementary slot's alternatives, the colour rule.

The look itself is the core's (:class:`~fashion_desktop.core.looks.Look`, computed on the client
worker); this dialog shows it, lets the stylist pick one alternative per slot, saves that choice
to the client (:meth:`ClientBook.save_look`) and exports the look as CSV, PNG or PDF with the
core's :func:`~fashion_desktop.core.looks.export_look` (on a pool thread). Non-modal.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.looks import COLOUR_RULE, Look, LookItem, saved_items
from fashion_desktop.core.shortlist import ShortlistEntry
from fashion_desktop.gui.icons import icon
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.image_view import ImageView
from fashion_desktop.gui.widgets.results import ElidedLabel

THUMB_SIDE = 256
SLOT_TITLES = {
    "topwear": "Topwear",
    "bottomwear": "Bottomwear",
    "dress": "Dress",
    "footwear": "Footwear",
    "accessory": "Accessory",
}
EXPORT_KINDS = {
    "csv": ("CSV spreadsheet", "CSV files (*.csv)"),
    "png": ("Contact sheet (PNG)", "PNG images (*.png)"),
    "pdf": ("Contact sheet (PDF)", "PDF documents (*.pdf)"),
}


class LookItemCard(QFrame):
    """A compact card: thumbnail, name, colour · type, the first reason; click to choose it."""

    chosen = Signal(object)  # LookItem

    def __init__(self, item: LookItem, thumbnails: ThumbnailLoader, *, anchor: bool = False):
        super().__init__()
        self.setObjectName("LookAnchor" if anchor else "LookCard")
        self.setCursor(Qt.CursorShape.ArrowCursor if anchor else Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setFixedWidth(150)
        self.item = item
        self._thumbnails = thumbnails
        self.image = ImageView(self)
        self.image.setFixedHeight(140)
        name = ElidedLabel(item.name, max_lines=2)
        name.setObjectName("CardName")
        meta = item.metadata
        kind = ElidedLabel(
            " · ".join(v for v in (meta.get("baseColour"), meta.get("articleType")) if v),
            max_lines=1,
        )
        kind.setObjectName("CardKind")
        self.reason = ElidedLabel(item.reasons[0] if item.reasons else "", max_lines=2)
        self.reason.setObjectName("CardReason")
        self.reason.setToolTip("; ".join(item.reasons))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(3)
        layout.addWidget(self.image)
        layout.addWidget(name)
        layout.addWidget(kind)
        layout.addWidget(self.reason)
        self.setToolTip(f"{item.name} (ID {item.item_id})\n" + "\n".join(item.reasons))
        self.set_selected(False)
        self.refresh_thumbnail()

    def refresh_thumbnail(self, path: str | None = None) -> None:
        if path is not None and path != self.item.image:
            return
        pixmap = self._thumbnails.request(Path(self.item.image), THUMB_SIDE)
        if pixmap is not None:
            self.image.set_pixmap(pixmap)
        elif self._thumbnails.has_failed(Path(self.item.image), THUMB_SIDE):
            self.image.set_pixmap(None, missing=True)

    def set_selected(self, on: bool) -> None:
        self.setProperty("selected", on)
        self.style().unpolish(self)
        self.style().polish(self)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.chosen.emit(self.item)
        super().mouseReleaseEvent(event)


class LookDialog(QDialog):
    """One look: slots of alternatives (the first of each chosen), save and export."""

    #: (look name, the look with each slot's chosen item first): save it to the client.
    save_requested = Signal(str, object)
    #: (kind, path, the look): export it.
    export_requested = Signal(str, object, object)

    def __init__(
        self,
        look: Look,
        thumbnails: ThumbnailLoader,
        *,
        client: str | None,
        shortlist: list[ShortlistEntry] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("LookDialog")
        self.setWindowTitle(f"Complete the look: {look.anchor.name}")
        self.look = look
        self.client = client
        self.shortlist = list(shortlist or [])
        self._thumbnails = thumbnails
        #: slot → the chosen alternative (the first by default, as the core saves it)
        self.choice: dict[str, LookItem] = {
            slot: items[0] for slot, items in look.slots.items() if items
        }
        self.slot_cards: dict[str, list[LookItemCard]] = {}

        title = QLabel(f"Complete the look around {look.anchor.name}")
        title.setObjectName("DetailTitle")
        title.setWordWrap(True)
        who = f"for {client}: nothing {client} owns, dislikes or avoids" if client else ""
        subtitle = QLabel(
            " · ".join(
                part
                for part in (
                    look.anchor.metadata.get("gender", ""),
                    look.anchor.metadata.get("usage", ""),
                    look.anchor.metadata.get("season", ""),
                    who,
                )
                if part
            )
        )
        subtitle.setObjectName("MutedLabel")
        subtitle.setWordWrap(True)
        self.rule_label = QLabel(f"Colour rule: {COLOUR_RULE}")
        self.rule_label.setObjectName("LookRule")
        self.rule_label.setWordWrap(True)
        self.notes_label = QLabel("\n".join(look.notes))
        self.notes_label.setObjectName("MutedLabel")
        self.notes_label.setWordWrap(True)
        self.notes_label.setVisible(bool(look.notes))

        anchor_card = LookItemCard(look.anchor, thumbnails, anchor=True)
        anchor_box = QVBoxLayout()
        anchor_label = QLabel("THE ITEM")
        anchor_label.setObjectName("SectionLabel")
        anchor_box.addWidget(anchor_label)
        anchor_box.addWidget(anchor_card)
        anchor_box.addStretch(1)
        self._cards = [anchor_card]

        slots_host = QWidget()
        slots_host.setObjectName("LookSlots")
        slots = QGridLayout(slots_host)
        slots.setContentsMargins(0, 0, 0, 0)
        slots.setHorizontalSpacing(10)
        slots.setVerticalSpacing(6)
        row = 0
        for slot, items in look.slots.items():
            label = QLabel(f"{SLOT_TITLES.get(slot, slot).upper()} · {len(items)} TO CHOOSE FROM")
            label.setObjectName("SectionLabel")
            slots.addWidget(label, row, 0, 1, 6)
            row += 1
            cards = []
            if not items:
                empty = QLabel(f"No {slot} fits the rules for this item.")
                empty.setObjectName("MutedLabel")
                slots.addWidget(empty, row, 0, 1, 6)
            for column, item in enumerate(items):
                card = LookItemCard(item, thumbnails)
                card.chosen.connect(self.choose)
                card.set_selected(column == 0)
                slots.addWidget(card, row, column)
                cards.append(card)
                self._cards.append(card)
            slots.setRowMinimumHeight(row, 0)
            self.slot_cards[slot] = cards
            row += 1
        slots.setColumnStretch(6, 1)
        scroll = QScrollArea()
        scroll.setObjectName("LookScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(slots_host)
        thumbnails.ready.connect(self._on_thumbnail)

        body = QHBoxLayout()
        body.setSpacing(18)
        body.addLayout(anchor_box)
        body.addWidget(scroll, 1)

        self.name_edit = QLineEdit(f"Look with {look.anchor.name}"[:80])
        self.name_edit.setObjectName("LookName")
        self.name_edit.setMaxLength(80)
        self.name_edit.setPlaceholderText("Name of the look")
        self.save_button = QPushButton(icon("check", "#ffffff"), "Save look")
        self.save_button.setObjectName("PrimaryButton")
        self.save_button.setEnabled(client is not None)
        self.save_button.setText(f"Save look to {client}" if client else "Save look")
        self.save_button.setToolTip(
            "Saves the chosen item of each slot to the client's looks"
            if client
            else "Choose a client on the Clients page to save looks"
        )
        self.save_button.clicked.connect(self._save)
        self.export_button = QPushButton(icon("export"), "Export")
        menu = QMenu(self.export_button)
        for kind, (text, _pattern) in EXPORT_KINDS.items():

            def export(k: str = kind) -> None:
                self.export_with_dialog(k)

            menu.addAction(text, export)
        self.export_button.setMenu(menu)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.name_edit, 1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(body, 1)
        layout.addWidget(self.rule_label)
        layout.addWidget(self.notes_label)
        layout.addLayout(buttons)
        self.resize(1120, 760)

    # ---------------------------------------------------------------------------- choice
    def choose(self, item: LookItem) -> None:
        """Make ``item`` its slot's choice (what is saved)."""
        self.choice[item.slot] = item
        for card in self.slot_cards.get(item.slot, []):
            card.set_selected(card.item is item)

    def chosen_look(self) -> Look:
        """The look with each slot's chosen alternative first: what the core saves."""
        slots = {
            slot: [self.choice[slot], *(i for i in items if i is not self.choice[slot])]
            if slot in self.choice
            else items
            for slot, items in self.look.slots.items()
        }
        return replace(self.look, slots=slots)

    def saved_items(self) -> list[dict]:
        return saved_items(self.chosen_look())

    def _save(self) -> None:
        self.save_requested.emit(self.name_edit.text(), self.chosen_look())

    # ---------------------------------------------------------------------------- export
    def export_with_dialog(self, kind: str) -> None:
        label, pattern = EXPORT_KINDS[kind]
        path, _ = QFileDialog.getSaveFileName(self, f"Export the look ({label})", "", pattern)
        if path:
            if not path.lower().endswith(f".{kind}"):
                path += f".{kind}"
            self.export_requested.emit(kind, Path(path), self.look)

    def _on_thumbnail(self, path: str) -> None:
        for card in self._cards:
            card.refresh_thumbnail(path)
