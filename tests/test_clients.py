"""The client book: schema upgrade, profiles, purchases, opinions, looks, export, forget."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from pathlib import Path

import pytest

from fashion_desktop.core import atomic
from fashion_desktop.core.clients import (
    ClientBook,
    ClientError,
    ClientProfile,
    ItemSnapshot,
    Purchase,
    PurchaseRecord,
    pronoun,
)
from fashion_desktop.core.shortlist import (
    SCHEMA_VERSION,
    ShortlistEntry,
    ShortlistError,
    ShortlistStore,
)

OLD_SCHEMA = """
CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created TEXT NOT NULL);
CREATE TABLE entries (client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL, name TEXT NOT NULL, image TEXT NOT NULL, metadata TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', added TEXT NOT NULL, PRIMARY KEY (client_id, item_id));
INSERT INTO clients VALUES (1, 'Asha Rao', '2024-01-01T00:00:00+00:00');
INSERT INTO entries VALUES (1, '42', 'Blue Kurta', '/x/42.jpg', '{"baseColour": "Blue"}',
    'for Diwali', '2024-01-02T00:00:00+00:00');
"""


def snapshot(item_id: str, **metadata: str) -> ItemSnapshot:
    return ItemSnapshot(item_id, f"Item {item_id}", f"/images/{item_id}.jpg", metadata)


# ---------------------------------------------------------------------------- schema
def test_an_old_shortlist_file_is_upgraded_in_place_and_keeps_its_clients(tmp_path: Path):
    path = tmp_path / "shortlists.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    book = ClientBook(path)
    try:
        assert book.clients() == ["Asha Rao"]
        (entry,) = book.entries("Asha Rao")
        assert (entry.item_id, entry.note, entry.metadata) == (
            "42",
            "for Diwali",
            {"baseColour": "Blue"},
        )
        book.add_purchase("Asha Rao", Purchase("42", "2024-05-03"))
        assert [p.item_id for p in book.purchases("asha rao")] == ["42"]
    finally:
        book.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # the GUI's plain ShortlistStore still reads and writes the upgraded file
    store = ShortlistStore(path)
    try:
        store.add("Asha Rao", ShortlistEntry("43", "Red Kurta", Path("/x/43.jpg"), {}))
        assert store.item_ids("Asha Rao") == {"42", "43"}
    finally:
        store.close()


def test_a_file_from_a_newer_version_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "shortlists.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    with pytest.raises(ShortlistError, match="newer Fashion Desktop"):
        ClientBook(path)
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- profiles
def test_profile_round_trip_and_tidying(book: ClientBook):
    profile = ClientProfile(
        gender="women",
        sizes={" Kurtas ": " M ", "Shoes": "38"},
        preferred_colours=("Navy Blue", " White ", "navy blue"),
        avoided_colours=("Orange",),
        preferred_usages=("Ethnic",),
        notes="  Prefers cotton.  ",
    )
    stored = book.set_profile("  Asha   Rao ", profile)
    assert stored == "Asha Rao"
    read = book.profile("ASHA RAO")
    assert read.gender == "Women"
    assert read.sizes == {"Kurtas": "M", "Shoes": "38"}
    assert read.preferred_colours == ("Navy Blue", "White")
    assert read.avoided_colours == ("Orange",)
    assert read.notes == "Prefers cotton."
    assert pronoun("Asha Rao", read) == "she"
    assert pronoun("Sam Lee", ClientProfile()) == "Sam"


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (ClientProfile(gender="Robot"), "Gender must be one of"),
        (
            ClientProfile(preferred_colours=("Red",), avoided_colours=("red",)),
            "both preferred and avoided",
        ),
        (ClientProfile(avoided_colours=("x" * 200,)), "limited to 80"),
        (ClientProfile(notes="n" * 6000), "Notes are limited"),
        (ClientProfile(preferred_colours="Red"), "must be a list"),  # type: ignore[arg-type]
        (ClientProfile(sizes={f"c{i}": "M" for i in range(60)}), "at most 50"),
    ],
)
def test_bad_profiles_are_refused_and_nothing_is_stored(book: ClientBook, profile, message):
    with pytest.raises(ClientError, match=message):
        book.set_profile("Asha", profile)
    assert book.clients() == []


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "needs a name"), ("x" * 10_000, "limited to 80 characters"), ("a\x07b", "control")],
)
def test_bad_client_names(book: ClientBook, name: str, message: str):
    with pytest.raises(ClientError, match=message):
        book.add_client(name)
    assert book.clients() == []


def test_unknown_client_suggests_close_names(book: ClientBook):
    book.add_client("Asha Rao")
    with pytest.raises(ClientError, match="Did you mean Asha Rao"):
        book.profile("Asha Roa")


def test_rename_and_search(book: ClientBook):
    book.add_client("Asha Rao")
    book.add_client("Bina")
    assert book.rename_client("asha rao", "Asha R. Rao") == "Asha R. Rao"
    with pytest.raises(ClientError, match="already a client"):
        book.rename_client("Bina", "asha r. rao")
    assert book.search_clients("r. r") == ["Asha R. Rao"]


# -------------------------------------------------------------------------- purchases
def test_purchases_are_idempotent_and_ordered_by_date(book: ClientBook):
    records = [
        PurchaseRecord("Asha", Purchase("2", "2024-05-04", 2, 19.5)),
        PurchaseRecord("asha", Purchase("1", "2024-05-03")),
        PurchaseRecord("Bina", Purchase("1", "2024-05-03")),
    ]
    report = book.add_purchases(records)
    assert (report.added, report.already_present, report.clients_created) == (
        3,
        0,
        ["Asha", "Bina"],
    )
    again = book.add_purchases(records)
    assert (again.added, again.already_present, again.clients_created) == (0, 3, [])
    assert [(p.item_id, p.quantity, p.price) for p in book.purchases("Asha")] == [
        ("1", 1, None),
        ("2", 2, 19.5),
    ]
    assert book.owned_item_ids("Asha") == {"1", "2"}
    assert sorted(book.all_purchases()) == [
        ("Asha", "1", "2024-05-03", 1),
        ("Asha", "2", "2024-05-04", 2),
        ("Bina", "1", "2024-05-03", 1),
    ]


def test_a_batch_with_one_bad_record_adds_nothing(book: ClientBook):
    records = [
        PurchaseRecord("Asha", Purchase("1", "2024-05-03")),
        PurchaseRecord("x" * 10_000, Purchase("2", "2024-05-03")),
    ]
    with pytest.raises(ClientError):
        book.add_purchases(records)
    assert book.clients() == []


def test_change_token_moves_with_every_write(book: ClientBook):
    first = book.change_token()
    book.add_purchase("Asha", Purchase("1", "2024-05-03"))
    assert book.change_token() != first


# --------------------------------------------------------------------- opinions, looks
def test_likes_and_dislikes(book: ClientBook):
    book.set_opinion("Asha", snapshot("1", baseColour="Blue"), "like")
    book.set_opinion("Asha", snapshot("2"), "dislike")
    book.set_opinion("Asha", snapshot("1"), "dislike")  # changing one's mind
    assert [(f.item_id, f.opinion) for f in book.opinions("Asha")] == [
        ("2", "dislike"),
        ("1", "dislike"),
    ]
    book.set_opinion("Asha", snapshot("2"), None)
    assert [f.item_id for f in book.opinions("Asha")] == ["1"]
    with pytest.raises(ClientError, match="'like' or 'dislike'"):
        book.set_opinion("Asha", snapshot("3"), "love")  # type: ignore[arg-type]


def test_looks_are_saved_listed_and_removed(book: ClientBook):
    items = [{"slot": "anchor", "id": "1", "name": "Blue Kurta"}, {"slot": "footwear", "id": "9"}]
    look_id = book.save_look("Asha", "Diwali", "1", items)
    (look,) = book.looks("Asha")
    assert (look.look_id, look.name, look.anchor_id, look.items) == (look_id, "Diwali", "1", items)
    book.remove_look("Asha", look_id)
    assert book.looks("Asha") == []


# ----------------------------------------------------------------------------- export
def filled_book(book: ClientBook) -> None:
    book.set_profile("Asha", ClientProfile(gender="Women", preferred_colours=("Blue",)))
    book.add_purchase(
        "Asha",
        Purchase("1", "2024-05-03", 1, 25.0, "Blue Kurta", "/i/1.jpg", {"baseColour": "Blue"}),
    )
    book.set_opinion("Asha", snapshot("2"), "like")
    book.add("Asha", ShortlistEntry("3", "Red Top", Path("/i/3.jpg"), {"articleType": "Tops"}))
    book.save_look("Asha", "Party", "1", [{"slot": "footwear", "id": "4", "name": "Heels"}])


def test_export_json_holds_everything(book: ClientBook, tmp_path: Path):
    filled_book(book)
    assert book.export("Asha", tmp_path / "asha.json") == "json"
    data = json.loads((tmp_path / "asha.json").read_text(encoding="utf-8"))
    assert data["client"] == "Asha"
    assert data["profile"]["preferred_colours"] == ["Blue"]
    assert [p["item_id"] for p in data["purchases"]] == ["1"]
    assert data["purchases"][0]["price"] == 25.0
    assert [o["opinion"] for o in data["opinions"]] == ["like"]
    assert [s["item_id"] for s in data["shortlist"]] == ["3"]
    assert data["looks"][0]["items"][0]["id"] == "4"


def test_export_csv_has_a_row_per_record(book: ClientBook, tmp_path: Path):
    filled_book(book)
    book.export("Asha", tmp_path / "asha.txt", fmt="csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "asha.txt").read_text(encoding="utf-8"))))
    records = [r["record"] for r in rows]
    assert "profile:gender" in records
    assert {"purchase", "like", "shortlist", "look:Party"} <= set(records)
    purchase = next(r for r in rows if r["record"] == "purchase")
    assert (purchase["item_id"], purchase["price"], purchase["baseColour"]) == ("1", "25", "Blue")


def test_csv_exports_never_carry_a_live_spreadsheet_formula(book: ClientBook, tmp_path: Path):
    """A note or a product name typed as "=HYPERLINK(...)" must open as text, not run."""
    formula = '=HYPERLINK("http://example.invalid","click")'
    book.set_profile("Asha", ClientProfile(notes=formula))
    book.add("Asha", ShortlistEntry("3", "@SUM(A1:A9)", Path("/i/3.jpg"), {}))
    book.add_purchase("Asha", Purchase("1", "2024-05-03", 1, -5.0, "+Kurta", "/i/1.jpg", {}))
    book.export("Asha", tmp_path / "asha.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "asha.csv").read_text(encoding="utf-8"))))
    cells = [value for row in rows for value in row.values() if value]
    assert "'" + formula in cells and "'@SUM(A1:A9)" in cells and "'+Kurta" in cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert "-5" in [r["price"] for r in rows]  # a number stays a number
    shortlist_rows = list(csv.reader(io.StringIO(book.to_csv("Asha"))))
    assert shortlist_rows[1][2] == "'@SUM(A1:A9)"


def test_export_refuses_unknown_formats_and_is_atomic(
    book: ClientBook, tmp_path: Path, monkeypatch
):
    filled_book(book)
    with pytest.raises(ClientError, match="formats are json, csv"):
        book.export("Asha", tmp_path / "asha.xlsx")
    target = tmp_path / "asha.json"
    target.write_text("previous export", encoding="utf-8")

    def broken_replace(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(ClientError, match="No space left"):
        book.export("Asha", target)
    assert target.read_text(encoding="utf-8") == "previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ----------------------------------------------------------------------------- forget
def test_forget_deletes_everything_and_leaves_no_trace_in_the_files(tmp_path: Path):
    book = ClientBook.in_directory(tmp_path)
    secret = "Zanzibar Quintessa"
    try:
        filled_book(book)
        book.set_profile(secret, ClientProfile(notes="Allergic to wool, lives at 12 Rue Secrète"))
        book.add_purchase(secret, Purchase("1", "2024-05-03", name="Secret Kurta"))
        book.set_opinion(secret, snapshot("2"), "dislike")
        book.save_look(secret, "Secret look", "1", [{"slot": "footwear", "id": "4"}])
        book.add(secret, ShortlistEntry("3", "Red Top", Path("/i/3.jpg"), {}))
        deleted = book.forget(secret.lower())
        assert deleted == {"purchases": 1, "opinions": 1, "looks": 1, "shortlist": 1}
        assert book.clients() == ["Asha"]
        with pytest.raises(ClientError):
            book.profile(secret)
        counts = {
            table: book._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("profiles", "purchases", "feedback", "looks", "entries")
        }
        assert counts == {"profiles": 1, "purchases": 1, "feedback": 1, "looks": 1, "entries": 1}
        for path in tmp_path.iterdir():
            data = path.read_bytes()
            assert secret.encode() not in data, path.name
            assert "Rue Secrète".encode() not in data, path.name
    finally:
        book.close()


def test_forget_an_unknown_client_changes_nothing(book: ClientBook):
    filled_book(book)
    with pytest.raises(ClientError, match="No client named"):
        book.forget("Nobody")
    assert book.clients() == ["Asha"]
    assert os.path.exists(book.path)
