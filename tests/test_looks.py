"""Complete the look: slots, gender/usage/colour rules, client exclusions, save and export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fd_bookdata import item_ids, toy_catalogue
from PIL import Image

from fashion_desktop.core.clients import ClientProfile, ItemSnapshot, Purchase
from fashion_desktop.core.looks import (
    COMPLEMENTS,
    LookBuilder,
    LookError,
    check_look,
    colour_harmony,
    export_look,
    saved_items,
    slot_of,
)
from fashion_desktop.core.shortlist import ShortlistEntry

ROWS, _ = toy_catalogue()


def meta(item_id: str) -> dict[str, str]:
    return next(r for r in ROWS if r["id"] == item_id)


def test_slots_come_from_the_catalogue_categories():
    assert slot_of("Apparel", "Topwear") == "topwear"
    assert slot_of("Apparel", "Bottomwear") == "bottomwear"
    assert slot_of("Apparel", "Saree") == slot_of("Apparel", "Dress") == "dress"
    assert slot_of("Footwear", "Flip Flops") == "footwear"
    assert slot_of("Accessories", "Watches") == "accessory"
    for master, sub in [
        ("Apparel", "Innerwear"),
        ("Accessories", "Socks"),
        ("Personal Care", "Lips"),
    ]:
        assert slot_of(master, sub) is None


@pytest.mark.parametrize(
    ("first", "second", "relation"),
    [
        ("Black", "Magenta", "neutral"),
        ("Navy Blue", "Orange", "neutral"),
        ("Gold", "Green", "neutral"),
        ("Red", "Red", "same"),
        ("Pink", "Red", "analogous"),
        ("Teal", "Rust", "complementary"),
        ("Blue", "Orange", "complementary"),
        ("Red", "Green", "complementary"),
        ("Yellow", "Purple", "complementary"),
        ("Green", "Blue", "analogous"),
        ("Red", "Blue", None),
        ("Yellow", "Pink", None),
        ("Multi", "Red", None),
        ("Multi", "White", "neutral"),
        ("Multi", "Multi", None),
    ],
)
def test_the_colour_rule(first: str, second: str, relation: str | None):
    assert colour_harmony(first, second) == relation
    assert colour_harmony(second, first) == relation


def test_a_kurta_gets_ethnic_womens_alternatives_in_every_slot(book_index):
    kurta = item_ids(ROWS, articleType="Kurtas", baseColour="Blue")[0]
    look = LookBuilder(book_index).look(kurta, alternatives=3)
    assert list(look.slots) == list(COMPLEMENTS["topwear"])
    assert check_look(LookBuilder(book_index).arrays, look) == []
    for slot, items in look.slots.items():
        assert 1 <= len(items) <= 3, slot
        for item in items:
            assert item.metadata["gender"] in ("Women", "Unisex")
            assert colour_harmony("Blue", item.metadata["baseColour"]) is not None
            assert item.reasons and any(
                "neutral" in r or "colours" in r or "family" in r for r in item.reasons
            )
            if item.metadata["usage"] != "Ethnic":
                assert item.usage_fallback and any("too few Ethnic" in r for r in item.reasons)
    bottoms = [(i.metadata["articleType"], i.usage_fallback) for i in look.slots["bottomwear"]]
    # two churidars (the only Ethnic bottoms; the rest are the same two in other colours), then
    # a Casual one, flagged
    assert bottoms == [("Churidar", False), ("Churidar", False), ("Skirts", True)]
    assert look.slots["footwear"][0].metadata["articleType"] == "Heels"  # the Ethnic footwear
    json = look.to_json()
    assert set(json) == {"anchor", "client", "slots", "colour_rule", "notes", "elapsed_ms"}
    assert "Neutrals" in json["colour_rule"]
    assert set(json["slots"]["footwear"][0]) == {
        "slot",
        "rank",
        "id",
        "score",
        "reasons",
        "metadata",
        "image",
    }


def test_a_dress_needs_only_shoes_and_an_accessory(book_index):
    dress = item_ids(ROWS, articleType="Dresses", baseColour="Red")[0]
    look = LookBuilder(book_index).look(dress)
    assert list(look.slots) == ["footwear", "accessory"]
    for item in look.slots["footwear"]:
        assert colour_harmony("Red", item.metadata["baseColour"]) is not None


def test_every_anchor_obeys_the_rules(book_index):
    builder = LookBuilder(book_index)
    checked = 0
    for row in ROWS:
        if slot_of(row["masterCategory"], row["subCategory"]) is None:
            continue
        look = builder.look(row["id"], alternatives=5)
        assert check_look(builder.arrays, look) == [], row["id"]
        for items in look.slots.values():
            ids = [item.item_id for item in items]
            assert len(ids) == len(set(ids)) and row["id"] not in ids
        checked += 1
    assert checked > 100


def test_a_clients_look_leaves_out_what_she_owns_dislikes_or_avoids(book, book_index):
    kurta = item_ids(ROWS, articleType="Kurtas", baseColour="White")[0]
    heels = item_ids(ROWS, articleType="Heels")
    book.set_profile("Asha", ClientProfile(gender="Women", avoided_colours=("Gold",)))
    book.add_purchase("Asha", Purchase(heels[1], "2024-05-01"))
    book.set_opinion("Asha", ItemSnapshot(heels[2]), "dislike")
    look = LookBuilder(book_index, book).look(kurta, client="asha")
    assert look.client == "Asha"
    shown = {item.item_id for items in look.slots.values() for item in items}
    assert not shown & {heels[1], heels[2]}
    assert all(meta(i)["baseColour"] != "Gold" for i in shown)


def test_anchors_that_cannot_start_a_look(book_index):
    builder = LookBuilder(book_index)
    with pytest.raises(LookError, match="not part of an outfit"):
        builder.look(item_ids(ROWS, articleType="Bra")[0])
    with pytest.raises(LookError, match="No item with id 'nope'"):
        builder.look("nope")
    with pytest.raises(LookError, match="1–10 alternatives"):
        builder.look(item_ids(ROWS, articleType="Kurtas")[0], alternatives=0)
    with pytest.raises(LookError, match="needs the client book"):
        builder.look(item_ids(ROWS, articleType="Kurtas")[0], client="Asha")


def test_save_a_look_and_export_it_with_the_shortlist(book, book_index, tmp_path: Path):
    kurta = item_ids(ROWS, articleType="Kurtas", baseColour="Blue")[0]
    look = LookBuilder(book_index, book).look(kurta)
    look_id = book.save_look("Asha", "Diwali", kurta, saved_items(look))
    (saved,) = book.looks("Asha")
    assert saved.look_id == look_id and saved.items[0]["slot"] == "anchor"
    assert len(saved.items) == 1 + len(look.slots)
    top = meta(item_ids(ROWS, articleType="Tops")[0])
    shortlist = [ShortlistEntry(top["id"], top["productDisplayName"], Path("/missing.jpg"), top)]
    export_look(look, tmp_path / "look.csv", shortlist=shortlist)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "look.csv").read_text(encoding="utf-8"))))
    assert rows[0]["slot"] == "anchor" and rows[0]["id"] == kurta
    assert rows[-1]["section"] == "shortlist" and rows[-1]["id"] == top["id"]
    assert sum(r["section"] == "look" for r in rows) == 1 + sum(len(v) for v in look.slots.values())
    export_look(look, tmp_path / "look.png", shortlist=shortlist, title="Asha · Diwali")
    with Image.open(tmp_path / "look.png") as image:
        assert image.format == "PNG" and image.width > 500
    export_look(saved.__dict__, tmp_path / "saved.pdf", shortlist=shortlist)
    assert (tmp_path / "saved.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(LookError, match="formats are csv, png, pdf"):
        export_look(look, tmp_path / "look.docx")
