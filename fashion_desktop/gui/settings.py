"""The window's remembered state, in QSettings (INI format, one file per user).

QSettings is not thread-safe (Picard's lesson): only the UI thread touches this object.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from fashion_desktop.core.filters import NO_FILTERS, FilterError, Filters
from fashion_desktop.resources import APP_NAME

ORGANIZATION = "Fashion Desktop"
MAX_RECENT_QUERIES = 8


class AppSettings:
    """Typed access to the last index, filters, window geometry, recent queries and client."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings or QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APP_NAME
        )

    @property
    def file_name(self) -> str:
        return self._settings.fileName()

    def sync(self) -> None:
        self._settings.sync()

    # ------------------------------------------------------------------------- index
    @property
    def last_index(self) -> Path | None:
        value = self._settings.value("index/last", "")
        return Path(str(value)) if value else None

    @last_index.setter
    def last_index(self, path: Path | None) -> None:
        self._settings.setValue("index/last", str(path) if path else "")

    # ----------------------------------------------------------------------- filters
    @property
    def filters(self) -> Filters:
        """The stylist's last filters; a corrupt saved value means no filters."""
        try:
            return Filters.of(json.loads(str(self._settings.value("search/filters", "{}"))))
        except (json.JSONDecodeError, FilterError):
            return NO_FILTERS

    @filters.setter
    def filters(self, filters: Filters) -> None:
        self._settings.setValue("search/filters", json.dumps(filters.to_dict(), ensure_ascii=False))

    # ---------------------------------------------------------------- recent queries
    @property
    def recent_queries(self) -> list[Path]:
        try:
            value = json.loads(str(self._settings.value("search/recent", "[]")))
        except json.JSONDecodeError:
            return []
        return [Path(p) for p in value if isinstance(p, str)][:MAX_RECENT_QUERIES]

    def remember_query(self, path: Path) -> list[Path]:
        """Put ``path`` first in the recent list (no duplicates, at most eight)."""
        paths = [path, *(p for p in self.recent_queries if p != path)][:MAX_RECENT_QUERIES]
        self._settings.setValue("search/recent", json.dumps([str(p) for p in paths]))
        return paths

    # ---------------------------------------------------------------------- window
    @property
    def geometry(self) -> QByteArray | None:
        value = self._settings.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._settings.setValue("window/geometry", value)

    @property
    def shortlist_visible(self) -> bool:
        return str(self._settings.value("window/shortlist", "false")).lower() == "true"

    @shortlist_visible.setter
    def shortlist_visible(self, visible: bool) -> None:
        self._settings.setValue("window/shortlist", "true" if visible else "false")

    @property
    def match_colour(self) -> bool:
        return str(self._settings.value("search/match_colour", "true")).lower() == "true"

    @match_colour.setter
    def match_colour(self, on: bool) -> None:
        self._settings.setValue("search/match_colour", "true" if on else "false")

    # --------------------------------------------------------------------- client
    @property
    def client(self) -> str:
        return str(self._settings.value("shortlist/client", ""))

    @client.setter
    def client(self, name: str) -> None:
        self._settings.setValue("shortlist/client", name)
