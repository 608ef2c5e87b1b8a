"""Complete the look: for one anchor item, alternatives for each complementary slot.

**Slots** come from the catalogue's own categories (:func:`slot_of`): ``topwear`` (Apparel /
Topwear), ``bottomwear`` (Apparel / Bottomwear), ``dress`` (Apparel / Dress, Saree, Apparel Set:
a dress fills the topwear and the bottomwear slot), ``footwear`` (Footwear) and ``accessory``
(bags, watches, belts, eyewear, jewellery, headwear, ties, scarves, stoles, mufflers, gloves,
wallets, cufflinks). Innerwear, nightwear, socks and personal care are no part of a look. An
item whose article type lies in another slot at least 90% of the time takes its type's slot (a
catalogue's filing slips: a T-shirt under Accessories / Belts). An anchor of one slot gets
alternatives for each other slot (:data:`COMPLEMENTS`).

**Hard rules** for every alternative: its slot; the anchor's gender or Unisex (a Unisex anchor
takes the client's gender, or any); the anchor's usage (Casual, Formal, Ethnic, Sports, ...) —
and only where a slot has fewer than the alternatives asked for in that usage, the documented
neighbour usages of :data:`USAGE_FALLBACK` (e.g. Casual footwear for Men's Ethnic wear: the
catalogue has none), each such alternative saying so; a colour that goes with the anchor's;
for a client, nothing they bought or disliked and none of their avoided colours, article types
or usages. The season is preferred, not required: same season first, then a neighbouring one.

**The colour rule** (:func:`colour_harmony`): each catalogue colour is a *neutral* (black, white,
greys, navy, beiges and browns, metals, denim-free naturals: :data:`NEUTRAL_COLOURS`) or has a
hue on the painter's colour wheel (:data:`HUES`, degrees: red faces green, blue faces orange,
yellow faces purple). Two colours go together when either is a neutral (neutrals go with
anything), when their hues lie within 60° (the same family or analogous: pink with red, green
with blue), or within 30° of opposite (complementary: teal with rust). ``Multi``
(a print) goes with neutrals only. Anything else clashes and is never proposed. Every
alternative's reasons say which case applies.

Alternatives are ranked by style similarity to the anchor (stored vectors), the colour
relation, the season, the book's co-purchases with the anchor and, for a client, the same
taste terms :mod:`~fashion_desktop.core.recommend` uses; no two are near-duplicates. Looks are
saved to a client (:meth:`ClientBook.save_look`) and exported with a shortlist as CSV, PNG or
PDF (:func:`export_look`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_desktop.core.atomic import atomic_file, write_text_atomic
from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.clients import ClientBook
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.recommend import (
    DEFAULT_BLEND,
    NEUTRAL_GENDER,
    CatalogueArrays,
    ClientHistory,
    allowed_mask,
    catalogue_arrays,
    score_terms,
    select_diverse,
)
from fashion_desktop.core.shortlist import CSV_FIELDS, ShortlistEntry
from fashion_desktop.core.spreadsheet import SafeCsvWriter

if TYPE_CHECKING:
    from PIL import Image

    from fashion_desktop.core.index import EmbeddingIndex

SLOTS = ("topwear", "bottomwear", "dress", "footwear", "accessory")
ACCESSORY_SUBCATEGORIES = (
    "Bags", "Watches", "Belts", "Eyewear", "Jewellery", "Headwear", "Ties", "Scarves",
    "Stoles", "Mufflers", "Gloves", "Wallets", "Cufflinks",
)  # fmt: skip
DRESS_SUBCATEGORIES = ("Dress", "Saree", "Apparel Set")
#: Anchor slot → the slots that complete it.
COMPLEMENTS = {
    "topwear": ("bottomwear", "footwear", "accessory"),
    "bottomwear": ("topwear", "footwear", "accessory"),
    "dress": ("footwear", "accessory"),
    "footwear": ("topwear", "bottomwear", "accessory"),
    "accessory": ("topwear", "bottomwear", "footwear"),
}
#: Usages a slot may fall back to, in order, when the anchor's usage has too few items there.
USAGE_FALLBACK = {
    "Ethnic": ("Casual",),
    "Formal": ("Smart Casual", "Casual"),
    "Smart Casual": ("Casual", "Formal"),
    "Party": ("Formal", "Casual"),
    "Sports": ("Casual",),
    "Travel": ("Casual",),
    "Casual": ("Smart Casual",),
    "Home": ("Casual",),
}
NEUTRAL_COLOURS = frozenset(
    c.casefold()
    for c in (
        "Black", "White", "Off White", "Grey", "Grey Melange", "Charcoal", "Navy Blue",
        "Beige", "Cream", "Khaki", "Tan", "Brown", "Coffee Brown", "Mushroom Brown", "Taupe",
        "Nude", "Skin", "Silver", "Steel", "Gold", "Bronze", "Copper", "Metallic",
        "Transparent",
    )
)  # fmt: skip
#: Hue of each chromatic catalogue colour in degrees on the painter's (red-yellow-blue) colour
#: wheel stylists use, where red faces green, blue faces orange and yellow faces purple.
HUES = {
    c.casefold(): hue
    for c, hue in (
        ("Red", 0), ("Maroon", 355), ("Pink", 350), ("Burgundy", 345), ("Rose", 340),
        ("Magenta", 320), ("Mauve", 305), ("Purple", 300), ("Lavender", 290), ("Blue", 240),
        ("Turquoise Blue", 220), ("Teal", 210), ("Sea Green", 195), ("Green", 180),
        ("Fluorescent Green", 165), ("Lime Green", 150), ("Olive", 140), ("Yellow", 120),
        ("Mustard", 105), ("Orange", 60), ("Peach", 50), ("Rust", 30),
    )
}  # fmt: skip
ANALOGOUS_DEGREES = 60
COMPLEMENTARY_TOLERANCE = 30
SEASON_CYCLE = ("Spring", "Summer", "Fall", "Winter")
DEFAULT_ALTERNATIVES = 4
#: Share of an article type's items in one slot above which that slot is the type's own.
TYPE_MAJORITY = 0.9
MIN_ALTERNATIVES, MAX_ALTERNATIVES = 1, 10
#: Ranking weights of an alternative's terms.
STYLE_WEIGHT = 1.0
HARMONY_BONUS = {"neutral": 0.0, "same": 0.08, "analogous": 0.05, "complementary": 0.1}
SEASON_BONUS = {"same": 0.3, "near": 0.1, "other": 0.0}
TOGETHER_WEIGHT = 0.5
TASTE_WEIGHT = 0.15
EXPORT_FORMATS = ("csv", "png", "pdf")


class LookError(FashionDesktopError):
    """A look that cannot be made or exported."""


def slot_of(master: str, sub: str) -> str | None:
    """The outfit slot of an item from its master and sub category (None: not in a look)."""
    if master == "Apparel":
        if sub == "Topwear":
            return "topwear"
        if sub == "Bottomwear":
            return "bottomwear"
        if sub in DRESS_SUBCATEGORIES:
            return "dress"
        return None
    if master == "Footwear":
        return "footwear"
    if master == "Accessories" and sub in ACCESSORY_SUBCATEGORIES:
        return "accessory"
    return None


def colour_harmony(first: str, second: str) -> str | None:
    """How two catalogue colours relate: ``neutral``, ``same``, ``analogous``,
    ``complementary``, or None when they clash (the module's colour rule)."""
    a, b = first.casefold(), second.casefold()
    if not a or not b or a in NEUTRAL_COLOURS or b in NEUTRAL_COLOURS:
        return "neutral"
    if a == b and a != "multi":
        return "same"
    if a not in HUES or b not in HUES:  # Multi and unknown colours: neutrals only
        return None
    distance = abs(HUES[a] - HUES[b]) % 360
    distance = min(distance, 360 - distance)
    if distance <= ANALOGOUS_DEGREES:
        return "analogous"
    if distance >= 180 - COMPLEMENTARY_TOLERANCE:
        return "complementary"
    return None


def harmony_reason(relation: str, anchor_colour: str, colour: str) -> str:
    if relation == "neutral":
        if colour.casefold() in NEUTRAL_COLOURS:
            return f"{colour} is a neutral: goes with anything"
        if anchor_colour:
            return f"goes with the anchor's {anchor_colour}, a neutral"
        return "no colour recorded for the anchor: any colour goes"
    if relation == "same":
        return f"{colour} on {colour}: one colour family"
    if relation == "analogous":
        return f"{colour} with {anchor_colour}: neighbouring colours"
    return f"{colour} with {anchor_colour}: complementary colours"


def season_relation(anchor: str, season: str) -> str:
    if not anchor or not season or anchor == season:
        return "same"
    if anchor in SEASON_CYCLE and season in SEASON_CYCLE:
        gap = abs(SEASON_CYCLE.index(anchor) - SEASON_CYCLE.index(season))
        if min(gap, 4 - gap) == 1:
            return "near"
    return "other"


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class LookItem:
    slot: str
    rank: int
    item_id: str
    row: int
    score: float
    reasons: list[str]
    metadata: dict[str, str]
    image: str
    usage_fallback: bool = False

    @property
    def name(self) -> str:
        return display_name(self.item_id, self.metadata)

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "rank": self.rank,
            "id": self.item_id,
            "score": round(self.score, 4),
            "reasons": self.reasons,
            "metadata": self.metadata,
            "image": self.image,
        }


@dataclass(frozen=True)
class Look:
    anchor: LookItem
    slots: dict[str, list[LookItem]]
    client: str | None
    notes: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def chosen(self) -> list[LookItem]:
        """The anchor and the first alternative of each slot: the look as saved by default."""
        return [self.anchor, *(items[0] for items in self.slots.values() if items)]

    def to_json(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor.to_json(),
            "client": self.client,
            "slots": {slot: [i.to_json() for i in items] for slot, items in self.slots.items()},
            "colour_rule": COLOUR_RULE,
            "notes": self.notes,
            "elapsed_ms": round(self.elapsed_ms, 2),
        }


COLOUR_RULE = (
    "Neutrals (black, white, greys, navy, beiges, browns, metals) go with anything; two "
    f"colours go together within {ANALOGOUS_DEGREES}° on the painter's colour wheel (one family or "
    f"neighbours) or within {COMPLEMENTARY_TOLERANCE}° of opposite (complementary); prints "
    "(Multi) go with neutrals only."
)


# ---------------------------------------------------------------------------- builder
class LookBuilder:
    """Complete-the-look over one index, with an optional client book (cached arrays)."""

    def __init__(self, index: EmbeddingIndex, book: ClientBook | None = None) -> None:
        from fashion_desktop.core.recommend import Recommender

        self.index = index
        self.book = book
        self.arrays = catalogue_arrays(index)
        self._recommender = Recommender(index, book)
        self.slots = _slot_codes(self.arrays)

    def look(
        self,
        item_id: str,
        *,
        client: str | None = None,
        alternatives: int = DEFAULT_ALTERNATIVES,
        today: date | None = None,
    ) -> Look:
        started = time.perf_counter()
        if not MIN_ALTERNATIVES <= alternatives <= MAX_ALTERNATIVES:
            raise LookError(
                f"Ask for {MIN_ALTERNATIVES}–{MAX_ALTERNATIVES} alternatives per slot, "
                f"not {alternatives}."
            )
        arrays = self.arrays
        anchor = arrays.row_of.get(str(item_id).strip())
        if anchor is None:
            shown = str(item_id)[:40]
            raise LookError(f"No item with id {shown!r} in the index {self.index.path.name}.")
        anchor_slot = SLOTS[self.slots[anchor]] if self.slots[anchor] >= 0 else None
        if anchor_slot is None:
            raise LookError(
                f"{arrays.names[anchor]} ({arrays.value('subCategory', anchor) or 'no category'})"
                " is not part of an outfit: complete the look starts from topwear, bottomwear, "
                "a dress, footwear or an accessory."
            )
        book = self._recommender.book_arrays()
        history = None
        if client is not None:
            if self.book is None:
                raise LookError("A look for a named client needs the client book.")
            history = ClientHistory.from_book(self.book, client, arrays)
        allowed = self._rules(anchor, history)
        style = arrays.compact @ arrays.compact[anchor]
        score = STYLE_WEIGHT * style.astype(np.float64)
        season_codes = arrays.codes["season"]
        anchor_season = arrays.value("season", anchor)
        bonus = np.array(
            [SEASON_BONUS[season_relation(anchor_season, s)] for s in arrays.vocab["season"]]
        )
        score += bonus[season_codes]
        colour_relation = self._colour_relations(arrays.value("baseColour", anchor))
        relation_bonus = np.array(
            [HARMONY_BONUS.get(r or "", 0.0) for r in colour_relation], np.float64
        )
        score += relation_bonus[arrays.codes["baseColour"]]
        together = np.zeros(len(arrays))
        if len(book.pair_row):
            together = book.co_purchase(
                np.array([anchor]),
                np.ones(1),
                exclude_client=None,
            )
            peak = together.max()
            if peak > 0:
                score += TOGETHER_WEIGHT * together / peak
        terms = None
        if history is not None and history.events:
            reference = (today or datetime.now(UTC).date()).toordinal()
            terms = score_terms(arrays, book, history, reference=reference)
            taste = terms.total(DEFAULT_BLEND)
            spread = np.ptp(taste[allowed]) if allowed.any() else 0.0
            if spread > 0:
                score += TASTE_WEIGHT * (taste - taste[allowed].min()) / spread
        anchor_usage = arrays.value("usage", anchor)
        usage_codes = arrays.codes["usage"]
        slots: dict[str, list[LookItem]] = {}
        notes: list[str] = []
        anchor_gender = arrays.value("gender", anchor)
        if (
            history is not None
            and history.profile.gender not in ("", NEUTRAL_GENDER)
            and anchor_gender not in ("", NEUTRAL_GENDER, history.profile.gender)
        ):
            notes.append(
                f"{arrays.names[anchor]} is {anchor_gender}'s; {history.name}'s profile says "
                f"{history.profile.gender}, so no item fits both."
            )
        for slot in COMPLEMENTS[anchor_slot]:
            in_slot = allowed & (self.slots == SLOTS.index(slot))
            rows, fallback_usage = self._pick(
                in_slot, score, anchor_usage, usage_codes, alternatives, slot
            )
            if fallback_usage:
                notes.append(
                    f"Too few {anchor_usage} {slot} items fit: {', '.join(fallback_usage)} "
                    "ones complete the list."
                )
            if not rows:
                notes.append(f"No {slot} fits the rules for this item.")
            items = self.index.items(rows)
            slots[slot] = [
                LookItem(
                    slot,
                    rank,
                    arrays.ids[row],
                    row,
                    float(score[row]),
                    self._reasons(anchor, row, colour_relation, together, anchor_usage, history),
                    item.metadata,
                    str(item.image_path),
                    usage_fallback=arrays.value("usage", row) != anchor_usage
                    and bool(anchor_usage),
                )
                for rank, (row, item) in enumerate(zip(rows, items, strict=True), start=1)
            ]
        (anchor_item,) = self.index.items([anchor])
        anchor_look = LookItem(
            anchor_slot,
            0,
            arrays.ids[anchor],
            anchor,
            1.0,
            ["the item the look starts from"],
            anchor_item.metadata,
            str(anchor_item.image_path),
        )
        elapsed = (time.perf_counter() - started) * 1000
        return Look(anchor_look, slots, history.name if history else None, notes, elapsed)

    # ------------------------------------------------------------------------- helpers
    def _rules(self, anchor: int, history: ClientHistory | None) -> np.ndarray:
        """Gender and colour rules, plus a client's own hard rules (owned, disliked, avoided)."""
        arrays = self.arrays
        gender = arrays.value("gender", anchor)
        if gender == NEUTRAL_GENDER and history is not None and history.profile.gender:
            gender = history.profile.gender
        allowed = np.ones(len(arrays), bool)
        if gender and gender != NEUTRAL_GENDER:
            allowed &= arrays.mask_of("gender", (gender, NEUTRAL_GENDER))
        relations = self._colour_relations(arrays.value("baseColour", anchor))
        fits = np.array([r is not None for r in relations])
        allowed &= fits[arrays.codes["baseColour"]]
        if history is not None:
            allowed &= allowed_mask(arrays, history)
        allowed[anchor] = False
        return allowed

    def _colour_relations(self, anchor_colour: str) -> list[str | None]:
        """The colour rule's verdict for each colour code against the anchor's colour."""
        return [colour_harmony(anchor_colour, colour) for colour in self.arrays.vocab["baseColour"]]

    def _pick(
        self,
        in_slot: np.ndarray,
        score: np.ndarray,
        anchor_usage: str,
        usage_codes: np.ndarray,
        alternatives: int,
        slot: str,
    ) -> tuple[list[int], list[str]]:
        """Best diverse rows of one slot: the anchor's usage first, the fallback usages after."""
        arrays = self.arrays
        usages = [anchor_usage, *USAGE_FALLBACK.get(anchor_usage, ())] if anchor_usage else [""]
        chosen: list[int] = []
        used_fallback: list[str] = []
        share = 0.25 if slot == "accessory" else 0.5
        for position, usage in enumerate(usages):
            if len(chosen) >= alternatives:
                break
            candidates = in_slot.copy()
            if usage:
                code = arrays.code("usage", usage)
                if code < 0:
                    continue
                candidates &= usage_codes == code
            candidates[chosen] = False
            masked = np.where(candidates, score, -np.inf)
            if chosen:  # no near-duplicate of what the exact usage already gave
                families = np.isin(arrays.families, arrays.families[chosen])
                masked[families] = -np.inf
            picked = select_diverse(
                arrays, masked, alternatives - len(chosen), max_share_per_type=share
            )
            if picked and position > 0:
                used_fallback.append(usage)
            chosen += picked
        return chosen, used_fallback

    def _reasons(
        self,
        anchor: int,
        row: int,
        relations: Sequence[str | None],
        together: np.ndarray,
        anchor_usage: str,
        history: ClientHistory | None,
    ) -> list[str]:
        arrays = self.arrays
        colour = arrays.value("baseColour", row)
        anchor_colour = arrays.value("baseColour", anchor)
        relation = relations[int(arrays.codes["baseColour"][row])] or "neutral"
        reasons = [harmony_reason(relation, anchor_colour, colour)]
        usage = arrays.value("usage", row)
        if anchor_usage and usage != anchor_usage:
            reasons.append(f"{usage}: too few {anchor_usage} ones in the catalogue")
        elif usage:
            reasons.append(f"{usage}, like the anchor")
        season = arrays.value("season", row)
        relation_to_season = season_relation(arrays.value("season", anchor), season)
        if relation_to_season == "same" and season:
            reasons.append(f"for {season}")
        elif season:
            reasons.append(f"from {season}: few {arrays.value('season', anchor)} matches")
        if together[row] > 0:
            reasons.insert(0, "bought together with it in the client book")
        if (
            history is not None
            and history.profile.preferred_colours
            and colour.casefold() in {c.casefold() for c in history.profile.preferred_colours}
        ):
            reasons.append(f"one of {history.name}'s colours")
        return reasons


def _slot_codes(arrays: CatalogueArrays) -> np.ndarray:
    """(n,) index into :data:`SLOTS` of every item's slot, -1 for none.

    From the master and sub category; an item whose article type almost always lies in another
    slot (a catalogue's filing slip: a T-shirt under Accessories / Belts) takes its type's slot.
    """
    master, sub = arrays.vocab["masterCategory"], arrays.vocab["subCategory"]
    pairs = arrays.codes["masterCategory"].astype(np.int64) * len(sub) + arrays.codes["subCategory"]
    table = np.full(len(master) * len(sub), -1, np.int32)
    for m, master_name in enumerate(master):
        for s, sub_name in enumerate(sub):
            slot = slot_of(master_name, sub_name)
            if slot is not None:
                table[m * len(sub) + s] = SLOTS.index(slot)
    slots = table[pairs]
    types = arrays.codes["articleType"]
    counts = np.zeros((len(arrays.vocab["articleType"]), len(SLOTS) + 1), np.int64)
    np.add.at(counts, (types, slots + 1), 1)  # column 0: no slot
    majority = counts.argmax(axis=1)
    clear = counts.max(axis=1) >= TYPE_MAJORITY * counts.sum(axis=1)
    fixed = np.where(clear[types], majority[types] - 1, slots)
    fixed[types == 0] = slots[types == 0]  # no article type: the categories decide
    return fixed.astype(np.int32)


def check_look(arrays: CatalogueArrays, look: Look) -> list[str]:
    """Every broken rule of a look (gender, usage, slot, colour): the benchmark's audit."""
    slots = _slot_codes(arrays)
    anchor = look.anchor.row
    gender = arrays.value("gender", anchor)
    usage = arrays.value("usage", anchor)
    colour = arrays.value("baseColour", anchor)
    anchor_slot = SLOTS[slots[anchor]]
    problems = []
    for slot, items in look.slots.items():
        if slot not in COMPLEMENTS[anchor_slot]:
            problems.append(f"slot {slot} does not complete a {anchor_slot}")
        for item in items:
            row = item.row
            if SLOTS[slots[row]] != slot:
                problems.append(f"{item.item_id} is {SLOTS[slots[row]]}, listed as {slot}")
            other = arrays.value("gender", row)
            if gender not in ("", NEUTRAL_GENDER) and other not in (gender, NEUTRAL_GENDER):
                problems.append(f"{item.item_id}: gender {other} with a {gender} anchor")
            own_usage = arrays.value("usage", row)
            if usage and own_usage != usage:
                allowed = USAGE_FALLBACK.get(usage, ())
                if own_usage not in allowed or not item.usage_fallback:
                    problems.append(f"{item.item_id}: usage {own_usage} with a {usage} anchor")
            if colour_harmony(colour, arrays.value("baseColour", row)) is None:
                problems.append(
                    f"{item.item_id}: {arrays.value('baseColour', row)} clashes with {colour}"
                )
    return problems


# ----------------------------------------------------------------------------- export
def look_rows(
    look: Look | Mapping[str, Any], shortlist: Sequence[ShortlistEntry] = ()
) -> list[dict[str, str]]:
    """Rows of an export: the look's items (a :class:`Look`: every alternative; a saved look's
    JSON: the chosen items), then the shortlist."""
    rows: list[dict[str, str]] = []
    if isinstance(look, Look):
        items = [look.anchor, *(i for slot in look.slots.values() for i in slot)]
        for item in items:
            rows.append(
                {
                    "section": "look",
                    "slot": "anchor" if item.rank == 0 else item.slot,
                    "rank": str(item.rank),
                    "id": item.item_id,
                    "name": item.name,
                    "image": item.image,
                    "reasons": "; ".join(item.reasons),
                    **{f: item.metadata.get(f, "") for f in CSV_FIELDS},
                }
            )
    else:
        for item in look.get("items", []):
            meta = item.get("metadata", {})
            rows.append(
                {
                    "section": "look",
                    "slot": str(item.get("slot", "")),
                    "rank": "",
                    "id": str(item.get("id", "")),
                    "name": str(item.get("name", "")),
                    "image": str(item.get("image", "")),
                    "reasons": "",
                    **{f: meta.get(f, "") for f in CSV_FIELDS},
                }
            )
    for entry in shortlist:
        rows.append(
            {
                "section": "shortlist",
                "slot": "",
                "rank": "",
                "id": entry.item_id,
                "name": entry.name,
                "image": str(entry.image_path),
                "reasons": entry.note,
                **{f: entry.metadata.get(f, "") for f in CSV_FIELDS},
            }
        )
    return rows


def saved_items(look: Look) -> list[dict[str, Any]]:
    """What :meth:`ClientBook.save_look` stores of a look: its chosen items, snapshotted."""
    return [
        {
            "slot": "anchor" if item.rank == 0 else item.slot,
            "id": item.item_id,
            "name": item.name,
            "image": item.image,
            "metadata": item.metadata,
        }
        for item in look.chosen()
    ]


def export_look(
    look: Look | Mapping[str, Any],
    path: str | Path,
    *,
    shortlist: Sequence[ShortlistEntry] = (),
    title: str = "",
    fmt: str | None = None,
) -> str:
    """Write a look and a shortlist as CSV, a PNG contact sheet or a PDF (atomically)."""
    target = Path(path)
    kind = (fmt or target.suffix.lstrip(".")).lower()
    if kind not in EXPORT_FORMATS:
        raise LookError(
            f"Cannot export to {target.name}: the formats are {', '.join(EXPORT_FORMATS)}."
        )
    rows = look_rows(look, shortlist)
    try:
        if kind == "csv":
            buffer = io.StringIO()
            columns = ["section", "slot", "rank", "id", "name", *CSV_FIELDS, "image", "reasons"]
            SafeCsvWriter(buffer).write_dicts(columns, rows)
            write_text_atomic(target, buffer.getvalue())
        else:
            pages = contact_sheets(rows, title or "Look")
            with atomic_file(target, "wb") as handle:
                if kind == "png":
                    pages[0].save(handle, "PNG")
                else:
                    pages[0].save(
                        handle, "PDF", save_all=True, append_images=pages[1:], resolution=150
                    )
    except OSError as error:
        raise LookError(f"Cannot write {target}: {error.strerror or error}.") from None
    return kind


THUMB = (120, 160)
CAPTION_HEIGHT = 44
MARGIN = 24
COLUMNS = 6
ROWS_PER_PAGE = 5


def contact_sheets(rows: Sequence[Mapping[str, str]], title: str) -> list[Image.Image]:
    """Pages of thumbnails with captions, one line per look slot, then the shortlist.

    One page for PNG (everything, however long); PDF takes the pages as they are.
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(13)
    heading = ImageFont.load_default(18)
    lines: list[tuple[str, list[Mapping[str, str]]]] = []
    for row in rows:
        label = "Shortlist" if row["section"] == "shortlist" else row["slot"].capitalize()
        if lines and lines[-1][0] == label and len(lines[-1][1]) < COLUMNS:
            lines[-1][1].append(row)
        else:
            lines.append((label, [row]))
    cell_w, cell_h = THUMB[0] + 12, THUMB[1] + CAPTION_HEIGHT + 28
    width = MARGIN * 2 + 110 + COLUMNS * cell_w
    pages = []
    for start in range(0, max(len(lines), 1), ROWS_PER_PAGE):
        chunk = lines[start : start + ROWS_PER_PAGE]
        height = MARGIN * 2 + 40 + len(chunk) * cell_h
        page = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(page)
        draw.text((MARGIN, MARGIN), title[:90], fill="black", font=heading)
        y = MARGIN + 40
        for label, items in chunk:
            draw.text((MARGIN, y + THUMB[1] // 2), label, fill="#333333", font=font)
            x = MARGIN + 110
            for item in items:
                page.paste(_thumbnail(item.get("image", "")), (x, y))
                caption = item.get("name", "") or item.get("id", "")
                for number, text in enumerate(_wrap(caption, 18)[:2]):
                    draw.text((x, y + THUMB[1] + 4 + 15 * number), text, fill="black", font=font)
                detail = " · ".join(
                    v for v in (item.get("baseColour", ""), item.get("id", "")) if v
                )
                draw.text((x, y + THUMB[1] + 34), detail[:22], fill="#666666", font=font)
                x += cell_w
            y += cell_h
        pages.append(page)
    return pages


def _thumbnail(path: str) -> Image.Image:
    from PIL import Image

    from fashion_desktop.core.errors import ImageError
    from fashion_desktop.core.imaging import load_image

    canvas = Image.new("RGB", THUMB, (240, 240, 240))
    try:
        image = load_image(path).image if path else None
    except ImageError:
        image = None
    if image is None:
        return canvas
    scale = min(THUMB[0] / image.width, THUMB[1] / image.height)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    canvas.paste(image, ((THUMB[0] - image.width) // 2, (THUMB[1] - image.height) // 2))
    return canvas


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines or [""]
