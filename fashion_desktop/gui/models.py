"""Item models: the current results and the current client's shortlist, for the views."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from fashion_desktop.core.search import SearchHit, SearchResponse
from fashion_desktop.core.shortlist import ShortlistEntry

HitRole = Qt.ItemDataRole.UserRole + 1
EntryRole = Qt.ItemDataRole.UserRole + 2

AnyIndex = QModelIndex | QPersistentModelIndex


class ResultsModel(QAbstractListModel):
    """The hits of the newest answered query, best first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._response: SearchResponse | None = None

    @property
    def response(self) -> SearchResponse | None:
        return self._response

    @property
    def hits(self) -> list[SearchHit]:
        return self._response.hits if self._response else []

    def set_response(self, response: SearchResponse | None) -> None:
        self.beginResetModel()
        self._response = response
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.hits):
            return None
        hit = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return hit.metadata.get("productDisplayName") or hit.item_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{hit.item_id} · match {hit.score:.3f} (cosine {hit.similarity:.3f})"
        if role == HitRole:
            return hit
        return None


class ShortlistModel(QAbstractListModel):
    """One client's shortlist entries (the store is the source of truth; this mirrors it)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[ShortlistEntry] = []

    @property
    def entries(self) -> list[ShortlistEntry]:
        return list(self._entries)

    def set_entries(self, entries: list[ShortlistEntry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.name or entry.item_id
        if role == Qt.ItemDataRole.ToolTipRole:
            meta = entry.metadata
            kind = " · ".join(v for v in (meta.get("articleType"), meta.get("baseColour")) if v)
            return f"{entry.item_id} · {kind}" if kind else entry.item_id
        if role == EntryRole:
            return entry
        return None

    def entry_at(self, row: int) -> ShortlistEntry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None
