"""Purchase-history import from a point-of-sale export (CSV).

Columns ``client,item_id,date`` (ISO 8601) and optionally ``quantity,price``, in any order and
letter case; other columns are ignored. Every row is checked before anything is written —
unknown item, bad date, missing field, bad quantity or price, over-long or control-character
client name, duplicate row — and each problem is reported with its line number. With any
problem nothing is imported, unless ``skip_invalid`` asks for the valid rows alone. The valid
rows go into the book in one transaction; a purchase the book already has (same client, item
and date) is not added again, so importing a file twice adds nothing the second time.

File-level problems (not found, not text, a BOM-less UTF-16 file, NUL bytes, wrong columns,
empty) raise :class:`HistoryError` before any row is read. UTF-8 with or without a BOM, UTF-16
with a BOM, and any line ending are accepted. Qt-free.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.clients import (
    MAX_QUANTITY,
    AddReport,
    ClientBook,
    ClientError,
    Purchase,
    PurchaseRecord,
    clean_client_name,
)
from fashion_desktop.core.errors import FashionDesktopError

if TYPE_CHECKING:
    from fashion_desktop.core.index import EmbeddingIndex

REQUIRED_COLUMNS = ("client", "item_id", "date")
OPTIONAL_COLUMNS = ("quantity", "price")
#: A point-of-sale export of a million rows is ~40 MB; anything far larger is not a history.
MAX_HISTORY_BYTES = 256 * 1024 * 1024
#: Problems kept for display (all are counted); a garbage file may have millions.
MAX_PROBLEMS_KEPT = 1000
PROGRESS_EVERY_ROWS = 5000
#: A date more than this far in the future is a mistake (a swapped day and month, a typo).
FUTURE_TOLERANCE = timedelta(days=1)

#: ``progress(phase, done, total)``: phase is "checking" or "importing".
ProgressCallback = Callable[[str, int, int], None]


class HistoryError(FashionDesktopError):
    """A history file that cannot be read as a purchase history at all."""


@dataclass(frozen=True)
class HistoryProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class HistoryRow:
    """One valid history row (``date`` in its stored ISO form)."""

    line: int
    client: str
    item_id: str
    date: str
    quantity: int = 1
    price: float | None = None


@dataclass
class HistoryCheck:
    """The result of reading and checking every row of a history file."""

    rows: list[HistoryRow]
    problems: list[HistoryProblem]
    problem_count: int
    total_rows: int
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


@dataclass
class ImportReport:
    """What :func:`import_history` did (``imported`` False: nothing was written)."""

    check: HistoryCheck
    imported: bool
    added: int = 0
    already_present: int = 0
    clients_created: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def skipped(self) -> int:
        return self.check.total_rows - len(self.check.rows) if self.imported else 0


def decode_history(data: bytes, name: str = "the history file") -> str:
    """Bytes → text: UTF-8 (BOM optional) or UTF-16 with a BOM; a clear error otherwise."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise HistoryError(f"{name} starts like UTF-16 text but is not.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise HistoryError(
            f"{name} is not UTF-8 text (an undecodable byte on line {line:,}). Export the "
            "history as CSV in UTF-8."
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise HistoryError(
            f"{name} contains NUL bytes (line {line:,}): it is a binary file, not a CSV export."
        )
    return text


def read_history(
    source: str | Path | bytes,
    known_items: Iterable[str] | None = None,
    *,
    today: date | None = None,
    progress: ProgressCallback | None = None,
) -> HistoryCheck:
    """Read and check every row of a history (a path or its bytes); writes nothing.

    ``known_items``: the item ids that exist (an index's); None checks no id.
    """
    name, data = _read_source(source)
    text = decode_history(data, name)
    known = None if known_items is None else set(known_items)
    today = today or datetime.now(UTC).date()
    latest = today + FUTURE_TOLERANCE
    reader = csv.reader(io.StringIO(text, newline=""))
    columns, ignored, header_line, width = _read_header(reader, name)
    total_estimate = max(text.count("\n") - header_line + 1, 1)
    rows: list[HistoryRow] = []
    problems: list[HistoryProblem] = []
    problem_count = 0
    seen: dict[tuple[str, str, str], int] = {}
    total = 0
    line = header_line + 1

    def problem(at: int, message: str) -> None:
        nonlocal problem_count
        problem_count += 1
        if len(problems) < MAX_PROBLEMS_KEPT:
            problems.append(HistoryProblem(at, message))

    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problem(reader.line_num, f"cannot be read as CSV ({error}); nothing after it was read")
            break
        start, line = line, reader.line_num + 1
        if not any(value.strip() for value in fields):
            continue
        total += 1
        if progress is not None and total % PROGRESS_EVERY_ROWS == 0:
            progress("checking", total, max(total, total_estimate))
        if len(fields) > width and any(value.strip() for value in fields[width:]):
            problem(start, f"{len(fields)} fields where the header has {width}")
            continue
        values = {
            key: fields[at].strip() if at < len(fields) else "" for key, at in columns.items()
        }
        missing = [key for key in REQUIRED_COLUMNS if not values[key]]
        if missing:
            problem(start, f"missing {', '.join(missing)}")
            continue
        messages = []
        try:
            client = clean_client_name(values["client"])
        except ClientError as error:
            messages.append(str(error).rstrip("."))
            client = ""
        item_id = values["item_id"]
        if known is not None and item_id not in known:
            shown = item_id if len(item_id) <= 40 else item_id[:40] + "…"
            messages.append(f"unknown item id {shown!r} (not in the index)")
        try:
            day = parse_history_date(values["date"])
            if date.fromisoformat(day[:10]) > latest:
                messages.append(f"the date {day[:10]} is in the future")
        except ValueError as error:
            messages.append(str(error))
            day = ""
        quantity, price = 1, None
        try:
            quantity = _quantity(values.get("quantity", ""))
        except ValueError as error:
            messages.append(str(error))
        try:
            price = _price(values.get("price", ""))
        except ValueError as error:
            messages.append(str(error))
        if messages:
            problem(start, "; ".join(messages))
            continue
        key = (client.casefold(), item_id, day)
        if key in seen:
            problem(start, f"duplicate of line {seen[key]:,} (same client, item and date)")
            continue
        seen[key] = start
        rows.append(HistoryRow(start, client, item_id, day, quantity, price))
    if total == 0 and problem_count == 0:
        raise HistoryError(f"{name} has a header but no purchases.")
    if progress is not None:
        progress("checking", total, total)
    return HistoryCheck(rows, problems, problem_count, total, ignored)


def import_history(
    book: ClientBook,
    source: str | Path | bytes,
    *,
    index: EmbeddingIndex | None = None,
    skip_invalid: bool = False,
    today: date | None = None,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Check a history and, if it is clean (or ``skip_invalid``), add it in one transaction.

    With an ``index`` every item id must be one of its items, and each purchase keeps a
    snapshot of the item's name, image and metadata (shown even after the index changes).
    """
    started = time.perf_counter()
    rows_of: dict[str, int] | None = None
    if index is not None:
        rows_of = {record[0]: row for row, record in enumerate(index.all_records())}
    check = read_history(source, rows_of, today=today, progress=progress)
    if not check.ok and not skip_invalid:
        return ImportReport(check, imported=False, elapsed_s=time.perf_counter() - started)
    snapshots: dict[str, tuple[str, str, dict[str, str]]] = {}
    if index is not None and rows_of is not None:
        wanted = sorted({rows_of[row.item_id] for row in check.rows})
        for item in index.items(wanted):
            name = display_name(item.item_id, item.metadata)
            snapshots[item.item_id] = (name, str(item.image_path), item.metadata)
    records = []
    for done, row in enumerate(check.rows, start=1):
        title, image, metadata = snapshots.get(row.item_id, ("", "", {}))
        records.append(
            PurchaseRecord(
                row.client,
                Purchase(row.item_id, row.date, row.quantity, row.price, title, image, metadata),
            )
        )
        if progress is not None and done % PROGRESS_EVERY_ROWS == 0:
            progress("importing", done, len(check.rows))
    added: AddReport = book.add_purchases(records)
    if progress is not None:
        progress("importing", len(check.rows), len(check.rows))
    return ImportReport(
        check,
        imported=True,
        added=added.added,
        already_present=added.already_present,
        clients_created=added.clients_created,
        elapsed_s=time.perf_counter() - started,
    )


def parse_history_date(text: str) -> str:
    """An ISO 8601 date or date-time → its stored form (``YYYY-MM-DD`` or with ``THH:MM:SS``).

    Raises ``ValueError`` with a readable message for anything else (``03/05/2024`` is
    ambiguous between countries, so it is refused rather than guessed).
    """
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        if len(value) < 10 or value[4] != "-":
            raise ValueError
        moment = datetime.fromisoformat(value)
    except (ValueError, IndexError):
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ValueError(f"{shown!r} is not an ISO 8601 date (YYYY-MM-DD)") from None
    return moment.isoformat(timespec="seconds")


def history_columns() -> str:
    return f"{','.join(REQUIRED_COLUMNS)} (optional: {','.join(OPTIONAL_COLUMNS)})"


# ------------------------------------------------------------------------------- helpers
def _read_source(source: str | Path | bytes) -> tuple[str, bytes]:
    if isinstance(source, bytes):
        if len(source) > MAX_HISTORY_BYTES:
            raise HistoryError("The history is too large to be a purchase history.")
        return "the history", source
    path = Path(source).expanduser()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise HistoryError(f"{path} is not a file.")
        if size > MAX_HISTORY_BYTES:
            raise HistoryError(
                f"{path.name} is {size / 1e6:,.0f} MB: more than the "
                f"{MAX_HISTORY_BYTES / 1e6:,.0f} MB a purchase history may be."
            )
        return path.name, path.read_bytes()
    except FileNotFoundError:
        raise HistoryError(f"History file not found: {path}") from None
    except OSError as error:
        raise HistoryError(f"Cannot read {path}: {error.strerror or error}.") from None


def _column_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().casefold())


def _read_header(reader, name: str) -> tuple[dict[str, int], list[str], int, int]:
    """The header row: column name → position, ignored columns, its line number and width."""
    try:
        for header in reader:
            if any(value.strip() for value in header):
                break
        else:
            raise HistoryError(f"{name} is empty: expected the columns {history_columns()}.")
    except csv.Error as error:
        raise HistoryError(f"{name} cannot be read as CSV: {error}.") from None
    wanted = {_column_key(c): c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for position, raw in enumerate(header):
        key = wanted.get(_column_key(raw))
        if key is None:
            if raw.strip():
                ignored.append(raw.strip()[:40])
            continue
        if key in columns:
            raise HistoryError(f"{name} has the column {key} twice.")
        columns[key] = position
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(h.strip() for h in header if h.strip())
        shown = found if len(found) <= 120 else found[:120] + "…"
        raise HistoryError(
            f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
            f"a purchase history needs {history_columns()}; its first line has: {shown or '—'}."
        )
    width = max(len(header), max(columns.values()) + 1)
    return columns, ignored, reader.line_num, width


def _quantity(text: str) -> int:
    if not text:
        return 1
    if not re.fullmatch(r"\+?\d{1,9}", text):
        raise ValueError(f"quantity {text[:20]!r} is not a whole number")
    value = int(text)
    if not 1 <= value <= MAX_QUANTITY:
        raise ValueError(f"quantity {value:,} is outside 1–{MAX_QUANTITY:,}")
    return value


def _price(text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        hint = " (use a dot as the decimal separator)" if re.fullmatch(r"\d+,\d+", text) else ""
        raise ValueError(f"price {text[:20]!r} is not a number{hint}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"price {text[:20]!r} must be a positive amount")
    return value


def rows_as_mapping(rows: Iterable[HistoryRow]) -> Mapping[str, list[HistoryRow]]:
    """Valid rows grouped by client (case-insensitive, first spelling kept), in file order."""
    grouped: dict[str, list[HistoryRow]] = {}
    names: dict[str, str] = {}
    for row in rows:
        stored = names.setdefault(row.client.casefold(), row.client)
        grouped.setdefault(stored, []).append(row)
    return grouped
