"""The client shortlist panel: pick a client, see their items, remove, export CSV/PNG/PDF."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.search import SearchHit
from fashion_desktop.core.shortlist import ShortlistEntry, ShortlistStore
from fashion_desktop.gui.background import run_in_background
from fashion_desktop.gui.export import export_contact_sheet
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.models import EntryRole, ShortlistModel
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.image_view import fitted_rect

DEFAULT_CLIENT = "My picks"
ROW_HEIGHT = 64
THUMB_SIDE = 128
EXPORT_KINDS = {
    "csv": ("CSV spreadsheet", "CSV files (*.csv)"),
    "png": ("Contact sheet (PNG)", "PNG images (*.png)"),
    "pdf": ("Contact sheet (PDF)", "PDF documents (*.pdf)"),
}


def entry_from_hit(hit: SearchHit) -> ShortlistEntry:
    return ShortlistEntry(
        hit.item_id,
        display_name(hit.item_id, hit.metadata),
        hit.image_path,
        dict(hit.metadata),
    )


class ShortlistDelegate(QStyledItemDelegate):
    """A row: thumbnail, name, and type · colour · id."""

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:  # noqa: N802
        view = self.parent()  # rows as wide as the list (names elided), never wider
        if isinstance(view, QListView):
            return QSize(max(60, view.viewport().width() - 2), ROW_HEIGHT)
        return QSize(option.rect.width(), ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        entry: ShortlistEntry = index.data(EntryRole)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = option.rect.adjusted(2, 2, -2, -2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#eef2ff") if selected else QColor("#ffffff"))
        painter.drawRoundedRect(rect, 8, 8)
        thumb = QRect(rect.left() + 6, rect.top() + 4, 42, rect.height() - 8)
        pixmap = self._thumbnails.request(entry.image_path, THUMB_SIDE)
        if pixmap is not None:
            painter.drawPixmap(fitted_rect(pixmap.size(), thumb.toRectF()).toRect(), pixmap)
        text_left = thumb.right() + 10
        width = rect.right() - text_left - 6
        name_font = QFont(option.font)
        name_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(name_font)
        painter.setPen(QColor("#0f172a"))
        metrics = painter.fontMetrics()
        painter.drawText(
            QRect(text_left, rect.top() + 10, width, metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(entry.name, Qt.TextElideMode.ElideRight, width),
        )
        painter.setFont(option.font)
        painter.setPen(QColor("#64748b"))
        meta = entry.metadata
        detail = " · ".join(
            v for v in (meta.get("articleType"), meta.get("baseColour"), f"ID {entry.item_id}") if v
        )
        metrics = painter.fontMetrics()
        painter.drawText(
            QRect(text_left, rect.top() + 34, width, metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(detail, Qt.TextElideMode.ElideRight, width),
        )
        painter.restore()


class ShortlistPanel(QFrame):
    """Owns the shortlist store for the window; emits what changed for the result cards."""

    changed = Signal()  # the current client's items changed (or another client was chosen)
    notice = Signal(str, str)  # level, message
    close_requested = Signal()
    export_finished = Signal(str)  # path

    def __init__(
        self,
        store: ShortlistStore | None,
        thumbnails: ThumbnailLoader,
        *,
        client: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ShortlistPanel")
        self.setMinimumWidth(300)
        self.store = store
        self._thumbnails = thumbnails
        self.model = ShortlistModel(self)

        title = QLabel("Client shortlist")
        title.setObjectName("PanelTitle")
        close = QToolButton()
        close.setObjectName("NoticeClose")
        close.setIcon(icon("close"))
        close.setIconSize(icon_size(14))
        close.setToolTip("Hide the shortlist")
        close.clicked.connect(self.close_requested)
        header = QHBoxLayout()
        header.addWidget(title, 1)
        header.addWidget(close)

        self.client_box = QComboBox()
        self.client_box.setObjectName("ClientBox")
        self.client_box.setAccessibleName("Client")
        self.client_box.currentTextChanged.connect(self._on_client_chosen)
        self.new_client_edit = QLineEdit()
        self.new_client_edit.setPlaceholderText("New client name…")
        self.new_client_edit.returnPressed.connect(self._create_client_from_edit)
        add_client = QToolButton()
        add_client.setObjectName("IconButton")
        add_client.setIcon(icon("plus"))
        add_client.setToolTip("Add this client")
        add_client.clicked.connect(self._create_client_from_edit)
        new_row = QHBoxLayout()
        new_row.setSpacing(6)
        new_row.addWidget(self.new_client_edit, 1)
        new_row.addWidget(add_client)

        self.list_view = QListView()
        self.list_view.setObjectName("ShortlistView")
        self.list_view.setModel(self.model)
        self.list_view.setItemDelegate(ShortlistDelegate(thumbnails, self.list_view))
        self.list_view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.list_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_view.setResizeMode(QListView.ResizeMode.Adjust)
        thumbnails.ready.connect(lambda _p: self.list_view.viewport().update())
        self.empty_label = QLabel(
            "No items yet.\nUse the heart on a result to add it to this client's shortlist."
        )
        self.empty_label.setObjectName("MutedLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)

        self.remove_button = QPushButton(icon("trash"), "Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.export_button = QPushButton(icon("export", "#ffffff"), "Export")
        self.export_button.setObjectName("PrimaryButton")
        menu = QMenu(self.export_button)
        for kind, (label, _) in EXPORT_KINDS.items():

            def export(k: str = kind) -> None:
                self.export_with_dialog(k)

            menu.addAction(label, export)
        self.export_button.setMenu(menu)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.client_box)
        layout.addLayout(new_row)
        layout.addWidget(self.list_view, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addLayout(buttons)

        self._reload_clients(select=client)

    # ---------------------------------------------------------------------------- clients
    @property
    def client(self) -> str:
        return self.client_box.currentText()

    def set_client(self, name: str) -> None:
        if self.store is None:
            return
        try:
            stored = self.store.add_client(name)
        except FashionDesktopError as error:
            self.notice.emit("warning", str(error))
            return
        self._reload_clients(select=stored)

    def reload_clients(self, select: str = "") -> None:
        """The client list from the store again (clients added or forgotten elsewhere)."""
        self._reload_clients(select=select)

    def _create_client_from_edit(self) -> None:
        name = self.new_client_edit.text().strip()
        if name:
            self.set_client(name)
            self.new_client_edit.clear()

    def _reload_clients(self, select: str = "") -> None:
        clients = self.store.clients() if self.store is not None else []
        self.client_box.blockSignals(True)
        self.client_box.clear()
        self.client_box.addItems(clients)
        if select in clients:
            self.client_box.setCurrentText(select)
        self.client_box.blockSignals(False)
        self._on_client_chosen(self.client_box.currentText())

    def _on_client_chosen(self, _name: str) -> None:
        self.reload()

    # ---------------------------------------------------------------------------- entries
    def reload(self) -> None:
        entries = self.store.entries(self.client) if self.store and self.client else []
        self.model.set_entries(entries)
        has_entries = bool(entries)
        self.list_view.setVisible(has_entries)
        self.empty_label.setVisible(not has_entries)
        self.remove_button.setEnabled(has_entries)
        self.export_button.setEnabled(has_entries)
        self.changed.emit()

    def item_ids(self) -> set[str]:
        return {entry.item_id for entry in self.model.entries}

    def set_shortlisted(self, hit: SearchHit, on: bool) -> None:
        """Add or remove a result; the first add creates a default client if there is none."""
        if self.store is None:
            self.notice.emit("error", "The shortlist store is unavailable.")
            self.changed.emit()
            return
        try:
            if not self.client:
                self._reload_clients(select=self.store.add_client(DEFAULT_CLIENT))
            if on:
                self.store.add(self.client, entry_from_hit(hit))
            else:
                self.store.remove(self.client, hit.item_id)
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
        self.reload()

    def remove_selected(self) -> None:
        if self.store is None:
            return
        rows = sorted({index.row() for index in self.list_view.selectedIndexes()})
        for row in rows:
            entry = self.model.entry_at(row)
            if entry is not None:
                self.store.remove(self.client, entry.item_id)
        self.reload()

    # ----------------------------------------------------------------------------- export
    def export_with_dialog(self, kind: str) -> None:
        label, pattern = EXPORT_KINDS[kind]
        default = f"{_safe_file_name(self.client) or 'shortlist'}-shortlist.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {label}", default, pattern)
        if path:
            if not path.lower().endswith(f".{kind}"):
                path += f".{kind}"
            self.export(kind, Path(path))

    def export(self, kind: str, path: Path) -> None:
        """Export the current client's shortlist in the background; reports by notice."""
        if self.store is None or not self.client:
            self.notice.emit("warning", "Choose a client first.")
            return
        client = self.client
        if kind == "csv":
            store = self.store
            csv_text = store.to_csv(client)  # read here: the store belongs to this thread

            def job() -> Path:
                from fashion_desktop.core.atomic import write_text_atomic

                try:
                    write_text_atomic(path, csv_text)
                except OSError as error:
                    raise FashionDesktopError(
                        f"Cannot write {path}: {error.strerror or error}."
                    ) from None
                return path
        else:
            entries = self.model.entries

            def job() -> Path:
                return export_contact_sheet(entries, client, path)

        run_in_background(job, self._exported, lambda m: self.notice.emit("error", m))

    def _exported(self, path: Path) -> None:
        self.notice.emit("info", f"Exported the shortlist to {path}.")
        self.export_finished.emit(str(path))


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
