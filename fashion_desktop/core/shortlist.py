"""Client shortlists: the catalogue items a stylist has put aside for a named client.

Stored in one SQLite file in the user's data directory, so shortlists survive restarts and
index switches: each entry keeps a snapshot of the item's name, image path and metadata, and
needs no index to be shown or exported. Qt-free (the window and the tests both drive it).

The same file holds the whole client book (:mod:`fashion_desktop.core.clients`: profiles,
purchases, likes and dislikes, saved looks). Its schema is versioned with ``PRAGMA user_version``
and upgraded in place, in one transaction, when a store opens a file written by an older version,
so clients and shortlists made before the client book carry over.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fashion_desktop.core.atomic import write_text_atomic
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.spreadsheet import SafeCsvWriter

SHORTLIST_FILE = "shortlists.sqlite"
#: Metadata columns of a CSV export, after id and name (the catalogue's own column names).
CSV_FIELDS = ("articleType", "baseColour", "gender", "season", "usage", "masterCategory")
MAX_CLIENT_NAME = 80

#: Version 0: clients and shortlist entries (before the client book; no ``user_version``).
_SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS clients (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    name TEXT NOT NULL,
    image TEXT NOT NULL,
    metadata TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    added TEXT NOT NULL,
    PRIMARY KEY (client_id, item_id));
"""
#: Version 1: the client book (profiles, purchases, likes/dislikes, looks). Every table hangs
#: off ``clients`` with ``ON DELETE CASCADE``: deleting a client deletes everything about them.
_SCHEMA_V1 = """
CREATE TABLE profiles (
    client_id INTEGER PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    profile TEXT NOT NULL,
    updated TEXT NOT NULL);
CREATE TABLE purchases (
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    date TEXT NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 1,
    price REAL,
    name TEXT NOT NULL DEFAULT '',
    image TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (client_id, item_id, date));
CREATE INDEX purchases_item ON purchases (item_id);
CREATE TABLE feedback (
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    opinion TEXT NOT NULL CHECK (opinion IN ('like', 'dislike')),
    name TEXT NOT NULL DEFAULT '',
    image TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    added TEXT NOT NULL,
    PRIMARY KEY (client_id, item_id));
CREATE TABLE looks (
    id INTEGER PRIMARY KEY,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    anchor_id TEXT NOT NULL,
    items TEXT NOT NULL,
    created TEXT NOT NULL);
CREATE INDEX looks_client ON looks (client_id);
"""
#: ``_MIGRATIONS[v]`` upgrades a version-``v`` file to version ``v + 1``.
_MIGRATIONS = (_SCHEMA_V1,)
SCHEMA_VERSION = len(_MIGRATIONS)


class ShortlistError(FashionDesktopError):
    """A shortlist cannot be read, written or exported."""


@dataclass(frozen=True)
class ShortlistEntry:
    """One shortlisted catalogue item, as it was when added."""

    item_id: str
    name: str
    image_path: Path
    metadata: dict[str, str] = field(default_factory=dict)
    note: str = ""
    added: str = ""


class ShortlistStore:
    """Named client shortlists in SQLite; every change is one committed transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            # Deleted rows are overwritten, not just unlinked: forgetting a client leaves no
            # trace of them in the file's free pages.
            self._db.execute("PRAGMA secure_delete = ON")
            version = self._schema_version()  # before WAL mode rewrites a newer file's header
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._upgrade_schema(version)
        except (OSError, sqlite3.DatabaseError) as error:
            raise ShortlistError(f"Cannot open the shortlists in {self.path}: {error}") from None

    @classmethod
    def in_directory(cls, directory: str | Path) -> ShortlistStore:
        return cls(Path(directory) / SHORTLIST_FILE)

    def close(self) -> None:
        self._db.close()

    def _schema_version(self) -> int:
        """The file's schema version; a file from a newer Fashion Desktop is refused untouched."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            self._db.close()
            raise ShortlistError(
                f"The client book {self.path} was written by a newer Fashion Desktop (schema "
                f"{version}; this version reads up to {SCHEMA_VERSION}). Update the application."
            )
        return int(version)

    def _upgrade_schema(self, version: int) -> None:
        """Create or upgrade the schema to :data:`SCHEMA_VERSION`, all in one transaction."""
        if version == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            if version == 0:
                for statement in _statements(_SCHEMA_V0):
                    db.execute(statement)
            for migration in _MIGRATIONS[version:]:
                for statement in _statements(migration):
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ---------------------------------------------------------------------------- clients
    def clients(self) -> list[str]:
        """Client names, alphabetically (case-insensitive)."""
        return [name for (name,) in self._db.execute("SELECT name FROM clients ORDER BY name")]

    def add_client(self, name: str) -> str:
        """Create a client (or return the existing one with that name, in its stored case)."""
        clean = " ".join(name.split())
        if not clean:
            raise ShortlistError("A client needs a name.")
        if len(clean) > MAX_CLIENT_NAME:
            raise ShortlistError(f"Client names are limited to {MAX_CLIENT_NAME} characters.")
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO clients (name, created) VALUES (?, ?)", (clean, _now())
            )
            (stored,) = db.execute("SELECT name FROM clients WHERE name = ?", (clean,)).fetchone()
        return stored

    def remove_client(self, name: str) -> None:
        """Delete a client and everything the book holds about them (every table cascades);
        :meth:`ClientBook.forget <fashion_desktop.core.clients.ClientBook.forget>` also empties
        the write-ahead log."""
        with self._transaction() as db:
            db.execute("DELETE FROM clients WHERE name = ?", (name,))

    # ---------------------------------------------------------------------------- entries
    def entries(self, client: str) -> list[ShortlistEntry]:
        """The client's shortlist in the order items were added."""
        rows = self._db.execute(
            "SELECT e.item_id, e.name, e.image, e.metadata, e.note, e.added FROM entries e "
            "JOIN clients c ON c.id = e.client_id WHERE c.name = ? ORDER BY e.added, e.rowid",
            (client,),
        ).fetchall()
        return [
            ShortlistEntry(item_id, name, Path(image), json.loads(metadata), note, added)
            for item_id, name, image, metadata, note, added in rows
        ]

    def item_ids(self, client: str) -> set[str]:
        return {entry.item_id for entry in self.entries(client)}

    def contains(self, client: str, item_id: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM entries e JOIN clients c ON c.id = e.client_id "
            "WHERE c.name = ? AND e.item_id = ?",
            (client, item_id),
        ).fetchone()
        return found is not None

    def add(self, client: str, entry: ShortlistEntry) -> None:
        """Add (or refresh) an item on a client's shortlist; the client is created if new."""
        name = self.add_client(client)
        with self._transaction() as db:
            (client_id,) = db.execute("SELECT id FROM clients WHERE name = ?", (name,)).fetchone()
            db.execute(
                "INSERT INTO entries (client_id, item_id, name, image, metadata, note, added) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, item_id) DO UPDATE SET "
                "name = excluded.name, image = excluded.image, metadata = excluded.metadata",
                (
                    client_id,
                    entry.item_id,
                    entry.name,
                    str(entry.image_path),
                    json.dumps(entry.metadata, ensure_ascii=False),
                    entry.note,
                    entry.added or _now(),
                ),
            )

    def remove(self, client: str, item_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM entries WHERE item_id = ? AND client_id = "
                "(SELECT id FROM clients WHERE name = ?)",
                (item_id, client),
            )

    # ----------------------------------------------------------------------------- export
    def to_csv(self, client: str) -> str:
        """The client's shortlist as CSV text (UTF-8, one row per item, header first)."""
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer)
        writer.writerow(["client", "id", "productDisplayName", *CSV_FIELDS, "image", "added"])
        for entry in self.entries(client):
            writer.writerow(
                [
                    client,
                    entry.item_id,
                    entry.name,
                    *(entry.metadata.get(f, "") for f in CSV_FIELDS),
                    str(entry.image_path),
                    entry.added,
                ]
            )
        return buffer.getvalue()

    def export_csv(self, client: str, path: str | Path) -> None:
        """Write :meth:`to_csv` atomically: an interrupted export never leaves half a file."""
        try:
            write_text_atomic(path, self.to_csv(client))
        except OSError as error:
            raise ShortlistError(f"Cannot write {path}: {error.strerror or error}.") from None

    # ---------------------------------------------------------------------------- helpers
    def _transaction(self):
        return _Transaction(self._db, self.path)


class _Transaction:
    """``with self._transaction() as db``: commit on success, roll back and explain on failure."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN")
        return self._db

    def __exit__(self, kind, error, _traceback) -> Literal[False]:
        if kind is None:
            self._db.commit()
            return False
        self._db.rollback()
        if isinstance(error, sqlite3.DatabaseError):
            raise ShortlistError(f"Cannot update the shortlists in {self._path}: {error}") from None
        return False


def iter_csv_rows(text: str) -> Iterator[dict[str, str]]:
    """Parse an exported shortlist CSV back (used by tests and round-trips)."""
    yield from csv.DictReader(io.StringIO(text))


def _statements(script: str) -> list[str]:
    """SQL statements of a schema script (``executescript`` would commit mid-transaction)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
