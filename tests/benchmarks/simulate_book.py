"""A reproducible, SIMULATED client book on the shared catalogue (no public purchase log exists).

    python tests/benchmarks/simulate_book.py --index INDEX --seed 1 --out bench-out/book-1.csv

Writes a purchase history (``client,item_id,date,quantity``) that ``fashion-desktop clients
import-history`` and ``evaluate --history`` read. Every client has hidden tastes over catalogue
ATTRIBUTES, never over the product embeddings (so a recommender built on the embeddings gets no
free credit):

* a gender (buys that gender's items and Unisex ones), two to four favourite article types with
  Dirichlet weights (repeat categories), and 10% exploratory purchases of any type;
* favourite colours and usages (multiplicative preferences), and one or two favourite brands
  (the first word of the product name — something no recommender here models directly);
* item appeal shared by all clients (log-normal: a long tail of popularity) drifting over the
  two years (some items rise, some fade), and seasons: an item of the current season is three
  times as likely;
* hidden "bought together" companions: each garment has two companions from a complementary
  slot (same gender and usage, chosen at random, not by looks); after buying it a client buys
  one of them the same day with probability 0.25 — structure only co-purchase data reveals.

At least ``min_purchases`` distinct items per client over the last two years, dates ISO 8601.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

START = date(2024, 1, 1)
DAYS = 730
EXPLORE = 0.10
COMPANION_PROBABILITY = 0.25
SEASON_OF_MONTH = {
    12: "Winter", 1: "Winter", 2: "Winter",
    3: "Spring", 4: "Spring", 5: "Spring",
    6: "Summer", 7: "Summer", 8: "Summer",
    9: "Fall", 10: "Fall", 11: "Fall",
}  # fmt: skip
#: Which slot complements which (the hidden companions' rule).
COMPLEMENT = {"Topwear": "Bottomwear", "Bottomwear": "Topwear", "Dress": "Footwear"}


@dataclass(frozen=True)
class Catalogue:
    ids: list[str]
    fields: dict[str, np.ndarray]  # field → (n,) codes
    vocab: dict[str, list[str]]


def catalogue_from_rows(rows: Sequence[dict[str, str]]) -> Catalogue:
    fields: dict[str, np.ndarray] = {}
    vocab: dict[str, list[str]] = {}
    for name in ("gender", "articleType", "baseColour", "usage", "season", "subCategory",
                 "masterCategory", "brand"):  # fmt: skip
        values: dict[str, int] = {}
        column = []
        for row in rows:
            text = (
                (row.get("productDisplayName", "").split() or [""])[0]
                if name == "brand"
                else row.get(name, "")
            )
            column.append(values.setdefault(text, len(values)))
        fields[name] = np.array(column, np.int32)
        vocab[name] = list(values)
    return Catalogue([row["id"] for row in rows], fields, vocab)


def catalogue_from_index(index_path: Path) -> Catalogue:
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(index_path, verify=False)
    try:
        rows = [{"id": item.item_id, **item.metadata} for item in index.items(range(len(index)))]
    finally:
        index.close()
    return catalogue_from_rows(rows)


def _slot(catalogue: Catalogue) -> np.ndarray:
    """(n,) slot names for companions: Topwear, Bottomwear, Dress, Footwear or ''."""
    sub = np.array(catalogue.vocab["subCategory"])[catalogue.fields["subCategory"]]
    master = np.array(catalogue.vocab["masterCategory"])[catalogue.fields["masterCategory"]]
    slot = np.where(np.isin(sub, ["Topwear", "Bottomwear", "Dress"]), sub, "")
    return np.where(master == "Footwear", "Footwear", slot)


def simulate(
    catalogue: Catalogue,
    *,
    seed: int,
    clients: int = 300,
    min_purchases: int = 20,
    mean_extra: float = 10.0,
) -> list[tuple[str, str, str, int]]:
    """``(client, item_id, date, quantity)`` rows, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    n = len(catalogue.ids)
    f = catalogue.fields
    vocab = catalogue.vocab
    gender_names = vocab["gender"]
    unisex = gender_names.index("Unisex") if "Unisex" in gender_names else -1
    appeal = rng.lognormal(0.0, 1.0, n)
    drift = rng.normal(0.0, 1.0, n)
    colour_share = np.bincount(f["baseColour"], minlength=len(vocab["baseColour"])) / n
    usage_share = np.bincount(f["usage"], minlength=len(vocab["usage"])) / n
    season_names = np.array(vocab["season"])
    slots = _slot(catalogue)
    # hidden companions: two per garment, complementary slot, same gender and usage
    companions = np.full((n, 2), -1, np.int64)
    group_key = f["gender"].astype(np.int64) * 1000 + f["usage"]
    for source_slot, target_slot in COMPLEMENT.items():
        sources = np.flatnonzero(slots == source_slot)
        for key in np.unique(group_key[sources]):
            targets = np.flatnonzero((slots == target_slot) & (group_key == key))
            members = sources[group_key[sources] == key]
            if len(targets):
                companions[members] = rng.choice(targets, size=(len(members), 2))
    people = [g for g in ("Women", "Men", "Girls", "Boys") if g in gender_names]
    people_share = np.array([np.sum(f["gender"] == gender_names.index(g)) for g in people], float)
    rows: list[tuple[str, str, str, int]] = []
    for number in range(clients):
        name = f"Client {seed:02d}-{number:04d}"
        gender = gender_names.index(
            people[rng.choice(len(people), p=people_share / people_share.sum())]
        )
        allowed = (f["gender"] == gender) | (f["gender"] == unisex)
        types, counts = np.unique(f["articleType"][allowed], return_counts=True)
        favourite = rng.choice(
            types, size=min(len(types), int(rng.integers(2, 5))), replace=False,
            p=counts**0.7 / np.sum(counts**0.7),
        )  # fmt: skip
        interest = rng.dirichlet(np.ones(len(favourite)))
        palette = np.zeros(len(colour_share))
        palette[rng.choice(len(colour_share), size=3, replace=False, p=colour_share)] = (
            rng.dirichlet(np.ones(3))
        )
        colour_weight = 0.4 + 6.0 * palette
        usage_pref = np.zeros(len(usage_share))
        usage_pref[rng.choice(len(usage_share), p=usage_share)] = 1.0
        usage_weight = 0.5 + 3.0 * usage_pref
        brands = np.unique(f["brand"][allowed & np.isin(f["articleType"], favourite)])
        brand_weight = np.ones(len(vocab["brand"]))
        brand_weight[rng.choice(brands, size=min(2, len(brands)), replace=False)] = 4.0
        taste = (
            appeal
            * colour_weight[f["baseColour"]]
            * usage_weight[f["usage"]]
            * brand_weight[f["brand"]]
            * allowed
        )
        count = min_purchases + int(rng.geometric(1.0 / (1.0 + mean_extra)) - 1)
        count = min(count, max(min_purchases, int(allowed.sum()) // 2))  # small catalogues
        first = int(rng.integers(0, DAYS // 2))
        days = np.sort(rng.integers(first, DAYS, size=count))
        bought = np.zeros(n, bool)
        made = 0
        for day in days:
            if made >= count:
                break
            when = START + timedelta(days=int(day))
            season = SEASON_OF_MONTH[when.month]
            season_weight = np.where(season_names[f["season"]] == season, 3.0, 1.0)
            trend = np.exp(0.8 * drift * (day / DAYS - 0.5))
            if rng.random() < EXPLORE:
                kind = allowed
            else:
                kind = f["articleType"] == favourite[rng.choice(len(favourite), p=interest)]
            weight = taste * season_weight * trend * kind * ~bought
            if weight.sum() <= 0:
                weight = taste * ~bought
            if weight.sum() <= 0:
                break
            row = int(rng.choice(n, p=weight / weight.sum()))
            bought[row] = True
            quantity = 2 if rng.random() < 0.1 else 1
            rows.append((name, catalogue.ids[row], when.isoformat(), quantity))
            made += 1
            partners = [c for c in companions[row] if c >= 0 and not bought[c]]
            if partners and rng.random() < COMPANION_PROBABILITY:
                partner = int(partners[rng.integers(len(partners))])
                bought[partner] = True
                rows.append((name, catalogue.ids[partner], when.isoformat(), 1))
                made += 1
        while made < min_purchases:  # very narrow tastes: top up from anything allowed
            weight = taste * ~bought
            row = int(rng.choice(n, p=weight / weight.sum()))
            bought[row] = True
            rows.append(
                (name, catalogue.ids[row], (START + timedelta(days=DAYS - 1)).isoformat(), 1)
            )
            made += 1
    rows.sort(key=lambda r: (r[2], r[0]))
    return rows


def write_history(rows: Sequence[tuple[str, str, str, int]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["client", "item_id", "date", "quantity"])
        writer.writerows(rows)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index whose items are sold")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--min-purchases", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = simulate(
        catalogue_from_index(args.index),
        seed=args.seed,
        clients=args.clients,
        min_purchases=args.min_purchases,
    )
    write_history(rows, args.out)
    print(f"{len(rows):,} simulated purchases by {args.clients} clients → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
