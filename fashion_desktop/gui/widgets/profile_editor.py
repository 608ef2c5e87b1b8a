"""A client's profile form: gender, sizes, preferred and avoided values, notes.

Values are picked from the open index's own vocabulary (``Navy Blue``, ``Kurtas``, ``Ethnic``)
where it has them, or typed; the form builds a :class:`ClientProfile` and the core checks it
(:meth:`ClientProfile.checked`): the form holds no rules of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.clients import GENDERS, ClientProfile
from fashion_desktop.gui.icons import icon

#: (label, profile field suffix, index field) for the preferred / avoided pickers.
PICKED = (
    ("Colours", "colours", "baseColour"),
    ("Article types", "article_types", "articleType"),
    ("Usages", "usages", "usage"),
)
#: Size categories offered in a new row (any text is accepted).
SIZE_CATEGORIES = ("Topwear", "Bottomwear", "Dress", "Footwear", "Innerwear")
CHIP_ROW_HEIGHT = 30


class ValueChips(QWidget):
    """Chosen values as removable chips, and an editable box (with completion) to add one."""

    changed = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = QComboBox()
        self.box.setObjectName("ChipAdder")
        self.box.setEditable(True)
        self.box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line = self.box.lineEdit()
        assert line is not None
        line.setPlaceholderText(placeholder)
        line.returnPressed.connect(self._add_typed)
        self.box.activated.connect(lambda _i: self._add_typed())
        self.chips = QListWidget()
        self.chips.setObjectName("ValueChips")
        self.chips.setFlow(QListWidget.Flow.LeftToRight)
        self.chips.setWrapping(True)
        self.chips.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.chips.setSpacing(3)
        self.chips.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.chips.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.chips.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chips.setFixedHeight(CHIP_ROW_HEIGHT * 2 + 6)
        self.chips.setToolTip("Click a value to remove it")
        self.chips.itemClicked.connect(self._remove_item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.box)
        layout.addWidget(self.chips)

    def set_choices(self, choices: Sequence[str]) -> None:
        text = self.box.currentText()
        self.box.blockSignals(True)
        self.box.clear()
        self.box.addItems(list(choices))
        self.box.setCurrentIndex(-1)
        self.box.setEditText(text)
        self.box.blockSignals(False)
        completer = QCompleter(list(choices), self.box)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.box.setCompleter(completer)

    def values(self) -> list[str]:
        return [self._value_of(self.chips.item(row)) for row in range(self.chips.count())]

    def set_values(self, values: Iterable[str]) -> None:
        self.chips.clear()
        for value in values:
            self._append(value)

    def add(self, value: str) -> bool:
        clean = " ".join(value.split())
        if not clean or clean.casefold() in {v.casefold() for v in self.values()}:
            return False
        # the index's own spelling when it has the value (the box lists the index's values)
        found = self.box.findText(clean, Qt.MatchFlag.MatchFixedString)
        self._append(self.box.itemText(found) if found >= 0 else clean)
        self.changed.emit()
        return True

    def _append(self, value: str) -> None:
        item = QListWidgetItem(icon("close"), value)
        item.setData(Qt.ItemDataRole.UserRole, value)
        item.setSizeHint(QSize(self.chips.fontMetrics().horizontalAdvance(value) + 38, 26))
        self.chips.addItem(item)

    def _add_typed(self) -> None:
        if self.add(self.box.currentText()):
            self.box.setCurrentIndex(-1)
            self.box.setEditText("")

    def _remove_item(self, item: QListWidgetItem) -> None:
        self.chips.takeItem(self.chips.row(item))
        self.changed.emit()

    @staticmethod
    def _value_of(item: QListWidgetItem | None) -> str:
        return "" if item is None else str(item.data(Qt.ItemDataRole.UserRole))


class ProfileEditor(QScrollArea):
    """The form; ``save_requested`` carries the :class:`ClientProfile` the user entered."""

    save_requested = Signal(object)  # ClientProfile
    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ProfileEditor")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("ProfileBody")
        self._loaded = ClientProfile()

        self.gender_box = QComboBox()
        self.gender_box.setObjectName("GenderBox")
        self.gender_box.addItem("Not set", "")
        for gender in GENDERS:
            self.gender_box.addItem(gender, gender)
        self.gender_box.currentIndexChanged.connect(lambda _i: self.edited.emit())

        self.sizes = QTableWidget(0, 2)
        self.sizes.setObjectName("SizesTable")
        self.sizes.setHorizontalHeaderLabels(["Category", "Size"])
        header = self.sizes.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        vertical = self.sizes.verticalHeader()
        vertical.setVisible(False)
        vertical.setDefaultSectionSize(28)
        self.sizes.setFixedHeight(28 * 4 + 30)
        self.sizes.itemChanged.connect(lambda _item: self.edited.emit())
        add_size = QPushButton(icon("plus"), "Add size")
        add_size.clicked.connect(self._add_size_clicked)
        remove_size = QPushButton(icon("trash"), "Remove")
        remove_size.clicked.connect(self._remove_size_row)
        size_buttons = QHBoxLayout()
        size_buttons.addWidget(add_size)
        size_buttons.addWidget(remove_size)
        size_buttons.addStretch(1)
        sizes_box = QVBoxLayout()
        sizes_box.setSpacing(6)
        sizes_box.addWidget(self.sizes)
        sizes_box.addLayout(size_buttons)

        self.pickers: dict[str, ValueChips] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(6)
        for column, title in ((1, "Preferred"), (2, "Avoided")):
            label = QLabel(title.upper())
            label.setObjectName("SectionLabel")
            grid.addWidget(label, 0, column)
        for row, (title_text, suffix, _field) in enumerate(PICKED, start=1):
            name = QLabel(title_text)
            name.setObjectName("FieldName")
            grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
            for column, side in ((1, "preferred"), (2, "avoided")):
                picker = ValueChips(f"Add a {'preferred' if column == 1 else 'avoided'} value…")
                picker.changed.connect(self.edited)
                self.pickers[f"{side}_{suffix}"] = picker
                grid.addWidget(picker, row, column)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)

        self.notes = QPlainTextEdit()
        self.notes.setObjectName("NotesEdit")
        self.notes.setPlaceholderText("Fit, occasions, what she asked for last time…")
        self.notes.setFixedHeight(84)
        self.notes.textChanged.connect(self.edited)

        self.save_button = QPushButton(icon("check", "#ffffff"), "Save profile")
        self.save_button.setObjectName("PrimaryButton")
        self.save_button.clicked.connect(lambda: self.save_requested.emit(self.profile()))
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(lambda: self.set_profile(self._loaded))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(10)
        form.addRow(self._field_label("Gender"), self.gender_box)
        form.addRow(self._field_label("Sizes"), sizes_box)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 8, 12, 8)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addWidget(self._field_label("Notes"))
        layout.addWidget(self.notes)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setWidget(body)

    @staticmethod
    def _field_label(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("FieldName")
        return label

    # ---------------------------------------------------------------------------- values
    def set_vocabulary(self, values: Mapping[str, Sequence[str]]) -> None:
        """The open index's values, offered in the pickers (most common first)."""
        for _label, suffix, field_name in PICKED:
            for side in ("preferred", "avoided"):
                self.pickers[f"{side}_{suffix}"].set_choices(values.get(field_name, []))

    def set_profile(self, profile: ClientProfile) -> None:
        self._loaded = profile
        found = self.gender_box.findData(profile.gender)
        self.gender_box.setCurrentIndex(max(found, 0))
        self.sizes.setRowCount(0)
        for category, size in profile.sizes.items():
            self.add_size_row(category, size)
        for key, picker in self.pickers.items():
            picker.set_values(getattr(profile, key))
        self.notes.setPlainText(profile.notes)

    def profile(self) -> ClientProfile:
        """What the form says now (unchecked: the core checks it when it is saved)."""
        sizes: dict[str, str] = {}
        for row in range(self.sizes.rowCount()):
            category, size = (self._cell(row, column) for column in (0, 1))
            if category or size:
                sizes[category or f"Size {row + 1}"] = size
        lists = {key: tuple(picker.values()) for key, picker in self.pickers.items()}
        return ClientProfile(
            gender=str(self.gender_box.currentData() or ""),
            sizes=sizes,
            notes=self.notes.toPlainText(),
            **lists,
        )

    def add_size_row(self, category: str = "", size: str = "") -> None:
        if not category:
            used = {self._cell(row, 0).casefold() for row in range(self.sizes.rowCount())}
            category = next((c for c in SIZE_CATEGORIES if c.casefold() not in used), "")
        row = self.sizes.rowCount()
        self.sizes.blockSignals(True)
        self.sizes.insertRow(row)
        self.sizes.setItem(row, 0, QTableWidgetItem(category))
        self.sizes.setItem(row, 1, QTableWidgetItem(size))
        self.sizes.blockSignals(False)
        self.edited.emit()

    def _add_size_clicked(self) -> None:
        self.add_size_row()
        self.sizes.setCurrentCell(self.sizes.rowCount() - 1, 1)
        cell = self.sizes.item(self.sizes.rowCount() - 1, 1)
        if cell is not None:
            self.sizes.editItem(cell)

    def _remove_size_row(self) -> None:
        row = self.sizes.currentRow()
        if row < 0:
            row = self.sizes.rowCount() - 1
        if row >= 0:
            self.sizes.removeRow(row)
            self.edited.emit()

    def _cell(self, row: int, column: int) -> str:
        item = self.sizes.item(row, column)
        return item.text().strip() if item is not None else ""
