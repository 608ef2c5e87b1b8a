"""The filter bar: one menu per field (values from the index), active filters as removable chips."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from fashion_desktop.core.filters import Filters
from fashion_desktop.gui.icons import icon, icon_size

FIELD_CAPTIONS = {
    "gender": "Gender",
    "masterCategory": "Category",
    "articleType": "Type",
    "baseColour": "Colour",
}


class FilterBar(QWidget):
    """Multi-select filters (OR within a field, AND across); emits the whole set on change."""

    filters_changed = Signal(object)  # Filters

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FilterBar")
        self._filters: dict[str, list[str]] = {}
        self._values: dict[str, list[tuple[str, int]]] = {}
        self.field_buttons: dict[str, QToolButton] = {}
        self.chips: list[QToolButton] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(8)
        caption = QLabel("Filters")
        caption.setObjectName("SectionLabel")
        self._layout.addWidget(caption)
        for field, text in FIELD_CAPTIONS.items():
            button = QToolButton()
            button.setObjectName("FilterButton")
            button.setText(text)
            button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            menu = QMenu(button)
            menu.aboutToShow.connect(lambda f=field: self._populate_menu(f))
            button.setMenu(menu)
            button.setEnabled(False)
            button.setAccessibleName(f"{text} filter")
            self.field_buttons[field] = button
            self._layout.addWidget(button)
        self._separator = QLabel()
        self._separator.setFixedWidth(6)
        self._layout.addWidget(self._separator)
        self._chip_area = QHBoxLayout()
        self._chip_area.setSpacing(6)
        self._layout.addLayout(self._chip_area)
        self.clear_button = QToolButton()
        self.clear_button.setObjectName("LinkButton")
        self.clear_button.setText("Clear filters")
        self.clear_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.clear_button.clicked.connect(self.clear)
        self._layout.addWidget(self.clear_button)
        self._layout.addStretch(1)
        self._refresh()

    # --------------------------------------------------------------------------- state
    def filters(self) -> Filters:
        return Filters.of(self._filters)

    def set_field_values(self, values: dict[str, list[tuple[str, int]]]) -> None:
        """The values each field has in the open index (with item counts)."""
        self._values = dict(values)
        self._refresh()

    def set_filters(self, filters: Filters, *, notify: bool = False) -> None:
        self._filters = filters.to_dict()
        self._refresh()
        if notify:
            self.filters_changed.emit(self.filters())

    def set_only(self, field: str, value: str) -> None:
        """Filter ``field`` to exactly ``value`` (the prediction chips' one-click filter)."""
        self._filters[field] = [value]
        self._changed()

    def toggle(self, field: str, value: str, on: bool) -> None:
        values = self._filters.setdefault(field, [])
        if on and value not in values:
            values.append(value)
        elif not on and value in values:
            values.remove(value)
        self._changed()

    def remove_field(self, field: str) -> None:
        self._filters.pop(field, None)
        self._changed()

    def clear(self) -> None:
        if self._filters:
            self._filters = {}
            self._changed()

    # -------------------------------------------------------------------------- view
    def _populate_menu(self, field: str) -> None:
        """Built each time it opens, so no action is deleted while it is being triggered."""
        menu = self.field_buttons[field].menu()
        menu.clear()
        selected = self._filters.get(field, [])
        for value, count in self._values.get(field, []):
            action = QAction(f"{value}   ({count:,})", menu)
            action.setCheckable(True)
            action.setChecked(value in selected)
            action.setData(value)
            action.triggered.connect(lambda on, f=field, v=value: self.toggle(f, v, on))
            menu.addAction(action)

    def _changed(self) -> None:
        self._filters = {f: v for f, v in self._filters.items() if v}
        self._refresh()
        self.filters_changed.emit(self.filters())

    def _refresh(self) -> None:
        for field, button in self.field_buttons.items():
            selected = self._filters.get(field, [])
            button.setEnabled(field in self._values)
            button.setProperty("active", bool(selected))
            caption = FIELD_CAPTIONS[field]
            button.setText(f"{caption} ({len(selected)})" if selected else caption)
            button.style().unpolish(button)
            button.style().polish(button)
        for chip in self.chips:
            self._chip_area.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for field, values in self._filters.items():
            chip = QToolButton()
            chip.setObjectName("FilterChip")
            chip.setText(f"{FIELD_CAPTIONS.get(field, field)}: {', '.join(values)}")
            chip.setIcon(icon("close", "#4338ca"))
            chip.setIconSize(icon_size(12))
            chip.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
            chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            chip.setToolTip(f"Remove the {FIELD_CAPTIONS.get(field, field).lower()} filter")
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.setProperty("field", field)
            chip.clicked.connect(lambda _=False, f=field: self.remove_field(f))
            self._chip_area.addWidget(chip)
            self.chips.append(chip)
        self.clear_button.setVisible(bool(self._filters))
