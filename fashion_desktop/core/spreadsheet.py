"""CSV that is safe to open in a spreadsheet.

Exports carry text a user or a point-of-sale file typed (client names, notes, product names). A
cell that starts with ``=``, ``+``, ``-`` or ``@`` is run as a formula by Excel, LibreOffice and
Google Sheets (CSV injection), so such cells are written with a leading apostrophe, which those
programs show as plain text. Numbers (``-12.5``) are left alone.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as text that a spreadsheet shows rather than evaluates."""
    text = "" if value is None else str(value)
    if not text.startswith(FORMULA_STARTS):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through :func:`safe_cell`."""

    def __init__(self, buffer: IO[str]) -> None:
        self._writer = csv.writer(buffer, lineterminator="\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def write_dicts(self, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
        """A header of ``columns``, then one row per mapping (missing keys empty)."""
        self.writerow(columns)
        for row in rows:
            self.writerow(row.get(column, "") for column in columns)
