"""The client book: who each client is, what they bought, liked, disliked and wore.

:class:`ClientBook` is a :class:`~fashion_desktop.core.shortlist.ShortlistStore` over the same
SQLite file in the user data folder (``shortlists.sqlite``, schema upgraded in place), so every
client keeps their shortlist and gains a profile (gender, sizes, preferred and avoided colours,
article types and usages, notes), a purchase history, likes and dislikes, and saved looks.
Every write is one SQLite transaction. Client data leaves the machine only through
:meth:`ClientBook.export` (JSON or CSV, written atomically); :meth:`ClientBook.forget` deletes
everything about a client and scrubs the deleted bytes from the file. Qt-free.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from fashion_desktop.core.atomic import write_text_atomic
from fashion_desktop.core.shortlist import (
    CSV_FIELDS,
    MAX_CLIENT_NAME,
    SHORTLIST_FILE,
    ShortlistError,
    ShortlistStore,
    _now,
)
from fashion_desktop.core.spreadsheet import SafeCsvWriter

CLIENT_BOOK_FILE = SHORTLIST_FILE
GENDERS = ("Women", "Men", "Girls", "Boys", "Unisex")
#: Limits on what a profile may hold (a hand-edited or hostile value gets a clear message).
MAX_PROFILE_TEXT = 80
MAX_PROFILE_VALUES = 50
MAX_NOTES = 5000
MAX_QUANTITY = 10_000
Opinion = Literal["like", "dislike"]
EXPORT_FORMATS = ("json", "csv")


class ClientError(ShortlistError):
    """A client, profile or history entry that cannot be used or stored."""


@dataclass(frozen=True)
class ClientProfile:
    """What a stylist knows about a client besides their history (every field optional).

    Colours, article types and usages use the catalogue's own vocabulary (``Navy Blue``,
    ``Kurtas``, ``Ethnic``); they are compared case-insensitively. Avoided values are hard
    rules for recommendations and looks; preferred ones raise an item's score.
    """

    gender: str = ""
    sizes: Mapping[str, str] = field(default_factory=dict)
    preferred_colours: tuple[str, ...] = ()
    avoided_colours: tuple[str, ...] = ()
    preferred_article_types: tuple[str, ...] = ()
    avoided_article_types: tuple[str, ...] = ()
    preferred_usages: tuple[str, ...] = ()
    avoided_usages: tuple[str, ...] = ()
    notes: str = ""

    def checked(self) -> ClientProfile:
        """The profile with whitespace tidied, or :class:`ClientError` saying what is wrong."""
        gender = " ".join(self.gender.split())
        if gender and gender.casefold() not in {g.casefold() for g in GENDERS}:
            raise ClientError(
                f"Gender must be one of {', '.join(GENDERS)} (or empty), not {gender!r}."
            )
        gender = next((g for g in GENDERS if g.casefold() == gender.casefold()), "")
        lists = {
            name: _checked_values(name, getattr(self, name))
            for name in (
                "preferred_colours",
                "avoided_colours",
                "preferred_article_types",
                "avoided_article_types",
                "preferred_usages",
                "avoided_usages",
            )
        }
        for kind in ("colours", "article_types", "usages"):
            both = {v.casefold() for v in lists[f"preferred_{kind}"]} & {
                v.casefold() for v in lists[f"avoided_{kind}"]
            }
            if both:
                raise ClientError(
                    f"{', '.join(sorted(both))} cannot be both preferred and avoided "
                    f"({kind.replace('_', ' ')})."
                )
        if not isinstance(self.sizes, Mapping) or len(self.sizes) > MAX_PROFILE_VALUES:
            raise ClientError(f"Sizes must be at most {MAX_PROFILE_VALUES} category: size pairs.")
        sizes = {}
        for category, size in self.sizes.items():
            category_text = _checked_text("size category", category)
            size_text = _checked_text(f"size for {category_text}", size)
            if category_text and size_text:
                sizes[category_text] = size_text
        if not isinstance(self.notes, str) or len(self.notes) > MAX_NOTES:
            raise ClientError(f"Notes are limited to {MAX_NOTES:,} characters.")
        return replace(self, gender=gender, sizes=sizes, notes=self.notes.strip(), **lists)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sizes"] = dict(self.sizes)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in data.items()
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClientProfile:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


@dataclass(frozen=True)
class ItemSnapshot:
    """An item as it was when recorded: shown and exported without any index."""

    item_id: str
    name: str = ""
    image: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Purchase:
    """One line of a client's purchase history (``date`` is ISO 8601: a date or a date-time)."""

    item_id: str
    date: str
    quantity: int = 1
    price: float | None = None
    name: str = ""
    image: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def day(self) -> dt.date:
        return dt.date.fromisoformat(self.date[:10])


@dataclass(frozen=True)
class PurchaseRecord:
    """A purchase to add for the named ``client`` (created if new): one history-file row."""

    client: str
    purchase: Purchase


@dataclass(frozen=True)
class Feedback:
    item_id: str
    opinion: Opinion
    name: str = ""
    image: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    added: str = ""


@dataclass(frozen=True)
class SavedLook:
    """A look saved to a client: the anchor item and one chosen item per slot."""

    look_id: int
    name: str
    anchor_id: str
    items: list[dict[str, Any]]
    created: str


@dataclass(frozen=True)
class AddReport:
    """What :meth:`ClientBook.add_purchases` did."""

    added: int
    already_present: int
    clients_created: list[str]


@dataclass(frozen=True)
class ClientActivity:
    """:meth:`ClientBook.activity`: ``purchases`` (item, date, quantity, name), ``opinions``
    (item, opinion, added, name), ``shortlist`` (item, added, name)."""

    name: str
    profile: ClientProfile
    purchases: list[tuple[str, str, int, str]]
    opinions: list[tuple[str, str, str, str]]
    shortlist: list[tuple[str, str, str]]


def clean_client_name(name: object) -> str:
    """A client's name with whitespace tidied; :class:`ClientError` if it cannot be one."""
    if not isinstance(name, str):
        raise ClientError("A client needs a name.")
    clean = " ".join(name.split())
    if not clean:
        raise ClientError("A client needs a name.")
    if len(clean) > MAX_CLIENT_NAME:
        raise ClientError(
            f"Client names are limited to {MAX_CLIENT_NAME} characters "
            f"(this one has {len(clean):,})."
        )
    if any(unicodedata.category(c) in {"Cc", "Cf"} for c in clean):
        raise ClientError("A client name cannot contain control characters.")
    return clean


def pronoun(client: str, profile: ClientProfile) -> str:
    """How a reason refers to the client: she / he, or their first name."""
    if profile.gender in {"Women", "Girls"}:
        return "she"
    if profile.gender in {"Men", "Boys"}:
        return "he"
    return client.split(maxsplit=1)[0]


class ClientBook(ShortlistStore):
    """Client profiles, purchases, likes/dislikes, looks and shortlists in one SQLite file."""

    @classmethod
    def in_directory(cls, directory: str | Path) -> ClientBook:
        return cls(Path(directory) / CLIENT_BOOK_FILE)

    # ---------------------------------------------------------------------------- clients
    def add_client(self, name: str) -> str:
        return super().add_client(clean_client_name(name))

    def resolve(self, name: str) -> str:
        """The stored name of an existing client (case-insensitive), or a did-you-mean error."""
        clean = " ".join(str(name).split())
        found = self._db.execute("SELECT name FROM clients WHERE name = ?", (clean,)).fetchone()
        if found is not None:
            return str(found[0])
        names = self.clients()
        close = difflib.get_close_matches(clean, names, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        shown = clean if len(clean) <= 40 else clean[:40] + "…"
        raise ClientError(f"No client named {shown!r} in the client book.{hint}")

    def rename_client(self, old: str, new: str) -> str:
        stored = self.resolve(old)
        clean = clean_client_name(new)
        with self._transaction() as db:
            clash = db.execute("SELECT name FROM clients WHERE name = ?", (clean,)).fetchone()
            if clash is not None and clash[0].casefold() != stored.casefold():
                raise ClientError(f"There is already a client named {clash[0]!r}.")
            db.execute("UPDATE clients SET name = ? WHERE name = ?", (clean, stored))
        return clean

    def search_clients(self, text: str) -> list[str]:
        """Clients whose name contains ``text`` (case-insensitive), alphabetically."""
        needle = text.casefold().strip()
        return [name for name in self.clients() if needle in name.casefold()]

    def forget(self, name: str) -> dict[str, int]:
        """Delete everything about a client (profile, purchases, opinions, looks, shortlist).

        One transaction; deleted bytes are overwritten (``secure_delete``) and the write-ahead
        log is emptied, so nothing about the client stays in the files. Returns what was deleted.
        """
        stored = self.resolve(name)
        client_id = self._client_id(stored)
        counts = {
            table: int(
                self._db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE client_id = ?", (client_id,)
                ).fetchone()[0]
            )
            for table in ("purchases", "feedback", "looks", "entries")
        }
        with self._transaction() as db:
            db.execute("DELETE FROM clients WHERE id = ?", (client_id,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {
            "purchases": counts["purchases"],
            "opinions": counts["feedback"],
            "looks": counts["looks"],
            "shortlist": counts["entries"],
        }

    # ---------------------------------------------------------------------------- profile
    def profile(self, name: str) -> ClientProfile:
        client_id = self._client_id(self.resolve(name))
        found = self._db.execute(
            "SELECT profile FROM profiles WHERE client_id = ?", (client_id,)
        ).fetchone()
        return ClientProfile.from_json(json.loads(found[0])) if found else ClientProfile()

    def set_profile(self, name: str, profile: ClientProfile) -> str:
        """Store a client's profile (the client is created if new); returns the stored name."""
        checked = profile.checked()
        stored = self.add_client(name)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO profiles (client_id, profile, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (client_id) DO UPDATE SET profile = excluded.profile, "
                "updated = excluded.updated",
                (
                    self._client_id(stored),
                    json.dumps(checked.to_json(), ensure_ascii=False),
                    _now(),
                ),
            )
        return stored

    # -------------------------------------------------------------------------- purchases
    def purchases(self, name: str) -> list[Purchase]:
        """A client's purchases, oldest first."""
        rows = self._db.execute(
            "SELECT item_id, date, quantity, price, name, image, metadata FROM purchases "
            "WHERE client_id = ? ORDER BY date, rowid",
            (self._client_id(self.resolve(name)),),
        ).fetchall()
        return [
            Purchase(item, day, quantity, price, title, image, json.loads(metadata))
            for item, day, quantity, price, title, image, metadata in rows
        ]

    def add_purchase(self, name: str, purchase: Purchase) -> bool:
        """Record one purchase; False when the book already had it (same item, same date)."""
        return self.add_purchases([PurchaseRecord(name, purchase)]).added == 1

    def add_purchases(self, records: Iterable[PurchaseRecord]) -> AddReport:
        """Record many purchases in ONE transaction, creating unknown clients.

        A purchase already in the book (same client, item and date) is left as it is, so
        importing the same history twice adds nothing the second time.
        """
        added = already = 0
        created: list[str] = []
        ids: dict[str, int] = {}
        with self._transaction() as db:
            for record in records:
                key = record.client.casefold()
                client_id = ids.get(key)
                if client_id is None:
                    clean = clean_client_name(record.client)
                    found = db.execute("SELECT id FROM clients WHERE name = ?", (clean,)).fetchone()
                    if found is None:
                        cursor = db.execute(
                            "INSERT INTO clients (name, created) VALUES (?, ?)", (clean, _now())
                        )
                        client_id = int(cursor.lastrowid or 0)
                        created.append(clean)
                    else:
                        client_id = int(found[0])
                    ids[key] = client_id
                p = record.purchase
                cursor = db.execute(
                    "INSERT OR IGNORE INTO purchases (client_id, item_id, date, quantity, price, "
                    "name, image, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        client_id,
                        p.item_id,
                        p.date,
                        p.quantity,
                        p.price,
                        p.name,
                        p.image,
                        json.dumps(dict(p.metadata), ensure_ascii=False),
                    ),
                )
                if cursor.rowcount:
                    added += 1
                else:
                    already += 1
        return AddReport(added, already, created)

    def remove_purchase(self, name: str, item_id: str, day: str) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM purchases WHERE client_id = ? AND item_id = ? AND date = ?",
                (self._client_id(self.resolve(name)), item_id, day),
            )

    def all_purchases(self) -> list[tuple[str, str, str, int]]:
        """(client, item_id, date, quantity) for the whole book: the collaborative signal."""
        return [
            (client, item, day, int(quantity))
            for client, item, day, quantity in self._db.execute(
                "SELECT c.name, p.item_id, p.date, p.quantity FROM purchases p "
                "JOIN clients c ON c.id = p.client_id ORDER BY p.date"
            )
        ]

    # --------------------------------------------------------------------------- opinions
    def set_opinion(self, name: str, item: ItemSnapshot, opinion: Opinion | None) -> str:
        """Like or dislike an item for a client (None clears it); the client is created if new."""
        if opinion not in ("like", "dislike", None):
            raise ClientError(f"An opinion is 'like' or 'dislike', not {opinion!r}.")
        stored = self.add_client(name)
        client_id = self._client_id(stored)
        with self._transaction() as db:
            if opinion is None:
                db.execute(
                    "DELETE FROM feedback WHERE client_id = ? AND item_id = ?",
                    (client_id, item.item_id),
                )
            else:
                db.execute(
                    "INSERT INTO feedback (client_id, item_id, opinion, name, image, metadata, "
                    "added) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, item_id) DO "
                    "UPDATE SET opinion = excluded.opinion, added = excluded.added",
                    (
                        client_id,
                        item.item_id,
                        opinion,
                        item.name,
                        item.image,
                        json.dumps(dict(item.metadata), ensure_ascii=False),
                        _now(),
                    ),
                )
        return stored

    def opinions(self, name: str) -> list[Feedback]:
        rows = self._db.execute(
            "SELECT item_id, opinion, name, image, metadata, added FROM feedback "
            "WHERE client_id = ? ORDER BY added, rowid",
            (self._client_id(self.resolve(name)),),
        ).fetchall()
        return [
            Feedback(item, opinion, title, image, json.loads(metadata), added)
            for item, opinion, title, image, metadata, added in rows
        ]

    # ------------------------------------------------------------------------------ looks
    def save_look(
        self, name: str, look_name: str, anchor_id: str, items: Sequence[Mapping[str, Any]]
    ) -> int:
        """Save a look (``items``: one ``{slot, id, name, image, metadata}`` per slot)."""
        title = " ".join(look_name.split()) or f"Look with {anchor_id}"
        if len(title) > MAX_PROFILE_TEXT:
            raise ClientError(f"Look names are limited to {MAX_PROFILE_TEXT} characters.")
        stored = self.add_client(name)
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO looks (client_id, name, anchor_id, items, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    self._client_id(stored),
                    title,
                    anchor_id,
                    json.dumps([dict(item) for item in items], ensure_ascii=False),
                    _now(),
                ),
            )
        return int(cursor.lastrowid or 0)

    def looks(self, name: str) -> list[SavedLook]:
        rows = self._db.execute(
            "SELECT id, name, anchor_id, items, created FROM looks WHERE client_id = ? "
            "ORDER BY created, id",
            (self._client_id(self.resolve(name)),),
        ).fetchall()
        return [
            SavedLook(look_id, title, anchor, json.loads(items), created)
            for look_id, title, anchor, items, created in rows
        ]

    def remove_look(self, name: str, look_id: int) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM looks WHERE id = ? AND client_id = ?",
                (look_id, self._client_id(self.resolve(name))),
            )

    # ------------------------------------------------------------------------ the signals
    def owned_item_ids(self, name: str) -> set[str]:
        """Items the client already has: bought (never recommended again, never in a look)."""
        return {
            item
            for (item,) in self._db.execute(
                "SELECT item_id FROM purchases WHERE client_id = ?",
                (self._client_id(self.resolve(name)),),
            )
        }

    def activity(self, name: str) -> ClientActivity:
        """A client's profile and the bare facts of their history, without item snapshots'
        metadata (what a recommendation reads: a few fast queries)."""
        stored = self.resolve(name)
        client_id = self._client_id(stored)
        return ClientActivity(
            stored,
            self.profile(stored),
            [
                (item, day, int(quantity), title)
                for item, day, quantity, title in self._db.execute(
                    "SELECT item_id, date, quantity, name FROM purchases WHERE client_id = ? "
                    "ORDER BY date, rowid",
                    (client_id,),
                )
            ],
            self._db.execute(
                "SELECT item_id, opinion, added, name FROM feedback WHERE client_id = ? "
                "ORDER BY added, rowid",
                (client_id,),
            ).fetchall(),
            self._db.execute(
                "SELECT item_id, added, name FROM entries WHERE client_id = ? "
                "ORDER BY added, rowid",
                (client_id,),
            ).fetchall(),
        )

    def change_token(self) -> tuple[int, int]:
        """Changes when anything in the book changes (this connection's or another's commits):
        lets a recommender rebuild its cached book arrays only when needed."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return int(version), self._db.total_changes

    # ----------------------------------------------------------------------------- export
    def export_data(self, name: str) -> dict[str, Any]:
        """Everything the book holds about one client, as plain JSON-able data."""
        stored = self.resolve(name)
        (created,) = self._db.execute(
            "SELECT created FROM clients WHERE name = ?", (stored,)
        ).fetchone()
        return {
            "format": "fashion-desktop-client",
            "format_version": 1,
            "client": stored,
            "created": created,
            "exported": _now(),
            "profile": self.profile(stored).to_json(),
            "purchases": [_json_of(p) for p in self.purchases(stored)],
            "opinions": [_json_of(f) for f in self.opinions(stored)],
            "shortlist": [
                {
                    "item_id": e.item_id,
                    "name": e.name,
                    "image": str(e.image_path),
                    "metadata": e.metadata,
                    "note": e.note,
                    "added": e.added,
                }
                for e in self.entries(stored)
            ],
            "looks": [_json_of(look) for look in self.looks(stored)],
        }

    def to_csv_rows(self, name: str) -> str:
        """One CSV: a row per profile field, purchase, opinion, shortlist item and look item."""
        data = self.export_data(name)
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer)
        header = ["client", "record", "item_id", "name", "date", "quantity", "price", *CSV_FIELDS]
        writer.writerow([*header, "detail"])
        client = data["client"]

        def meta(values: Mapping[str, str]) -> list[str]:
            return [values.get(f, "") for f in CSV_FIELDS]

        blank_meta = [""] * len(CSV_FIELDS)
        for key, value in data["profile"].items():
            text = (
                json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
            )
            writer.writerow([client, f"profile:{key}", "", "", "", "", "", *blank_meta, text])
        for p in data["purchases"]:
            price = "" if p["price"] is None else f"{p['price']:g}"
            writer.writerow(
                [
                    client,
                    "purchase",
                    p["item_id"],
                    p["name"],
                    p["date"],
                    p["quantity"],
                    price,
                    *meta(p["metadata"]),
                    "",
                ]
            )
        for f in data["opinions"]:
            writer.writerow(
                [
                    client,
                    f["opinion"],
                    f["item_id"],
                    f["name"],
                    f["added"],
                    "",
                    "",
                    *meta(f["metadata"]),
                    "",
                ]
            )
        for e in data["shortlist"]:
            writer.writerow(
                [
                    client,
                    "shortlist",
                    e["item_id"],
                    e["name"],
                    e["added"],
                    "",
                    "",
                    *meta(e["metadata"]),
                    e["note"],
                ]
            )
        for look in data["looks"]:
            for item in look["items"]:
                writer.writerow(
                    [
                        client,
                        f"look:{look['name']}",
                        item.get("id", ""),
                        item.get("name", ""),
                        look["created"],
                        "",
                        "",
                        *meta(item.get("metadata", {})),
                        item.get("slot", ""),
                    ]
                )
        return buffer.getvalue()

    def export(self, name: str, path: str | Path, fmt: str | None = None) -> str:
        """Write one client's data to ``path`` (JSON or CSV, from ``fmt`` or the suffix),
        atomically: the only way client data leaves the book. Returns the format written."""
        target = Path(path)
        kind = (fmt or target.suffix.lstrip(".")).lower()
        if kind not in EXPORT_FORMATS:
            raise ClientError(
                f"Cannot export to {target.name}: the formats are {', '.join(EXPORT_FORMATS)} "
                "(from the file's suffix or the format option)."
            )
        text = (
            json.dumps(self.export_data(name), ensure_ascii=False, indent=2) + "\n"
            if kind == "json"
            else self.to_csv_rows(name)
        )
        try:
            write_text_atomic(target, text)
        except OSError as error:
            raise ClientError(f"Cannot write {target}: {error.strerror or error}.") from None
        return kind

    # ---------------------------------------------------------------------------- helpers
    def _client_id(self, stored_name: str) -> int:
        found = self._db.execute("SELECT id FROM clients WHERE name = ?", (stored_name,)).fetchone()
        if found is None:
            raise ClientError(f"No client named {stored_name!r} in the client book.")
        return int(found[0])


def _checked_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ClientError(f"The {what} must be text.")
    clean = " ".join(value.split())
    if len(clean) > MAX_PROFILE_TEXT:
        raise ClientError(f"The {what} is limited to {MAX_PROFILE_TEXT} characters.")
    return clean


def _checked_values(name: str, values: object) -> tuple[str, ...]:
    what = name.replace("_", " ")
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ClientError(f"The {what} must be a list of values.")
    unique: dict[str, str] = {}
    for value in values:
        clean = _checked_text(what, value)
        if clean:
            unique.setdefault(clean.casefold(), clean)
    if len(unique) > MAX_PROFILE_VALUES:
        raise ClientError(f"The {what} are limited to {MAX_PROFILE_VALUES} values.")
    return tuple(unique.values())


def _json_of(record: Any) -> dict[str, Any]:
    data = asdict(record)
    return {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in data.items()
    }
