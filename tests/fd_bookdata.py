"""A toy catalogue for the client-book tests: real catalogue vocabulary, synthetic vectors.

Every article type has its own direction in vector space (items of one type are near each
other), and the "same shirt in five colours" family (``Nike Men <Colour> Polo Tshirt``) has
almost identical vectors. No model, no TensorFlow: written straight with ``write_index``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fd_testdata import write_toy_index

#: (articleType, masterCategory, subCategory, gender, usage, colours)
KINDS = [
    ("Kurtas", "Apparel", "Topwear", "Women", "Ethnic", ["Blue", "Red", "Pink", "White", "Green"]),
    ("Churidar", "Apparel", "Bottomwear", "Women", "Ethnic", ["White", "Blue", "Red", "Black"]),
    ("Tshirts", "Apparel", "Topwear", "Men", "Casual", ["Blue", "Red", "Black", "White", "Green"]),
    ("Jeans", "Apparel", "Bottomwear", "Men", "Casual", ["Blue", "Black", "Grey", "Navy Blue"]),
    ("Tops", "Apparel", "Topwear", "Women", "Casual", ["Pink", "White", "Yellow", "Black"]),
    ("Skirts", "Apparel", "Bottomwear", "Women", "Casual", ["Black", "Blue", "Red", "Beige"]),
    ("Sports Shoes", "Footwear", "Shoes", "Women", "Sports", ["White", "Black", "Pink", "Grey"]),
    ("Sports Shoes", "Footwear", "Shoes", "Men", "Sports", ["White", "Black", "Blue", "Red"]),
    ("Heels", "Footwear", "Shoes", "Women", "Ethnic", ["Gold", "Red", "Black"]),
    ("Flats", "Footwear", "Shoes", "Women", "Casual", ["Black", "Brown", "Pink", "Red"]),
    ("Casual Shoes", "Footwear", "Shoes", "Men", "Casual", ["Brown", "Black", "White"]),
    ("Handbags", "Accessories", "Bags", "Women", "Casual", ["Brown", "Black", "Red", "Blue"]),
    ("Earrings", "Accessories", "Jewellery", "Women", "Ethnic", ["Gold", "Silver", "Red"]),
    ("Watches", "Accessories", "Watches", "Unisex", "Casual", ["Black", "Silver", "Blue"]),
    ("Dresses", "Apparel", "Dress", "Women", "Casual", ["Red", "Blue", "Black", "Green"]),
    ("Bra", "Apparel", "Innerwear", "Women", "Casual", ["Black", "White"]),
    ("Free Gifts", "Free Items", "Free Gifts", "Unisex", "Casual", ["Multi"]),
]
SEASONS = ["Summer", "Fall", "Winter", "Spring"]
DIMENSIONS = 24


def toy_catalogue() -> tuple[list[dict[str, str]], np.ndarray]:
    """(metadata rows, (n, DIMENSIONS) vectors), the same on every call."""
    rng = np.random.default_rng(12)
    directions = rng.normal(size=(len(KINDS), DIMENSIONS))
    colour_names = sorted({c for kind in KINDS for c in kind[5]})
    colour_axes = rng.normal(size=(len(colour_names), DIMENSIONS))
    rows: list[dict[str, str]] = []
    vectors = []
    next_id = 100
    for kind_number, (article, master, sub, gender, usage, colours) in enumerate(KINDS):
        for variant in range(2):
            for colour in colours:
                brand = ("Nike", "Biba", "Puma", "Fabindia")[(kind_number + variant) % 4]
                name = f"{brand} {gender} {colour} {article} {variant + 1}"
                rows.append(
                    {
                        "id": str(next_id),
                        "gender": gender,
                        "masterCategory": master,
                        "subCategory": sub,
                        "articleType": article,
                        "baseColour": colour,
                        "season": SEASONS[(next_id + variant) % 4],
                        "usage": usage,
                        "productDisplayName": name,
                    }
                )
                noise = rng.normal(scale=0.25, size=DIMENSIONS)
                vectors.append(
                    directions[kind_number]
                    + 0.35 * colour_axes[colour_names.index(colour)]
                    + 0.3 * variant * directions[(kind_number + 1) % len(KINDS)]
                    + noise
                )
                next_id += 1
    # the same polo in five colours: one family, near-identical vectors
    polo = directions[2] * 1.2
    for colour in ("Blue", "Red", "Black", "White", "Green"):
        rows.append(
            {
                "id": str(next_id),
                "gender": "Men",
                "masterCategory": "Apparel",
                "subCategory": "Topwear",
                "articleType": "Tshirts",
                "baseColour": colour,
                "season": "Summer",
                "usage": "Casual",
                "productDisplayName": f"Nike Men {colour} Polo Tshirt",
            }
        )
        vectors.append(polo + rng.normal(scale=0.01, size=DIMENSIONS))
        next_id += 1
    return rows, np.asarray(vectors, np.float32)


def write_book_index(directory: Path) -> Path:
    """The toy catalogue as an index at ``directory`` (images beside it)."""
    rows, vectors = toy_catalogue()
    return write_toy_index(directory, vectors, rows)


def item_ids(rows: list[dict[str, str]], **wanted: str) -> list[str]:
    """Ids of toy items whose metadata has every ``field=value`` given."""
    return [r["id"] for r in rows if all(r.get(k) == v for k, v in wanted.items())]
