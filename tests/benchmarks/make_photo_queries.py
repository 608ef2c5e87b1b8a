"""Synthetic photo queries of unseen products: the yardstick for photo search (issue 7).

    python tests/benchmarks/make_photo_queries.py [--count 300] [--offset 500] [--seed 0]
        [--out bench-out/photos/queries] [--sheet 24] [--split val]

Takes ``--count`` ``val`` items of the shared catalogue in the fixed hash order, starting at
``--offset`` (the first 500 are the catalogue-style queries of ``bench_quality.py``, so the two
sets do not overlap), and writes for each one a simulated photo
(:func:`fashion_desktop.core.photosim.simulate_photo`) to ``OUT/photos/<id>.jpg``.
``OUT/photos.csv`` is a generic-layout catalogue: ``image``, ``id`` (the ground-truth item id),
the item's metadata, and the simulation's scene, garment fraction and garment box (fractions of
the frame). Other ``train`` products appear as distractors on rails and in cluttered scenes. The
same arguments always give byte-identical photos. ``--sheet N`` also saves a contact sheet.
``--split train`` photographs ``train`` items instead: training views for a method measured on
the ``val`` yardstick (``bench_instance_probe.py --whiten-views``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, split_ids

from fashion_desktop.core.photosim import ANY_PRODUCT_SCENES, SCENES, simulate_photo

CLOTHES = {"Apparel"}
EXTRA_FIELDS = ["scene", "fraction", "box_left", "box_top", "box_right", "box_bottom"]


def item_seed(seed: int, item_id: str) -> list[int]:
    """A per-item seed independent of the order items are generated in."""
    return [seed, int(hashlib.sha256(item_id.encode()).hexdigest()[:15], 16)]


def load_styles(shared: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with (shared / "catalog" / "styles.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), {row["id"]: row for row in reader}


def make_photos(
    count: int,
    offset: int,
    seed: int,
    out: Path,
    shared: Path = SHARED,
    split: str = "val",
) -> tuple[Path, list[dict[str, str]]]:
    fields, styles = load_styles(shared)
    images = shared / "catalog" / "images"
    ids = [i for i in split_ids(split, shared=shared)[offset:] if (images / f"{i}.jpg").is_file()]
    ids = ids[:count]
    pool = split_ids("train", shared=shared)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    rows = []
    for item_id in ids:
        rng = np.random.default_rng(item_seed(seed, item_id))
        meta = styles[item_id]
        product = Image.open(images / f"{item_id}.jpg").convert("RGB")
        scenes = SCENES if meta.get("masterCategory") in CLOTHES else ANY_PRODUCT_SCENES
        distractors = []
        for other in rng.choice(len(pool), size=int(rng.integers(0, 3)), replace=False):
            path = images / f"{pool[int(other)]}.jpg"
            if path.is_file():
                distractors.append(Image.open(path).convert("RGB"))
        photo = simulate_photo(product, rng, scenes=scenes, distractors=distractors)
        relative = f"photos/{item_id}.jpg"
        (out / relative).write_bytes(photo.data)
        rows.append(
            {
                "image": relative,
                **meta,
                "scene": photo.scene,
                "fraction": f"{photo.fraction:.3f}",
                **{
                    name: f"{value:.4f}"
                    for name, value in zip(EXTRA_FIELDS[2:], photo.box, strict=True)
                },
            }
        )
    csv_path = out / "photos.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", *fields, *EXTRA_FIELDS])
        writer.writeheader()
        writer.writerows(rows)
    return csv_path, rows


def contact_sheet(out: Path, rows: list[dict[str, str]], count: int, shared: Path = SHARED) -> Path:
    """The first ``count`` photos beside their catalogue image, the garment box drawn in red."""
    cell, columns = 220, 6
    rows = rows[:count]
    sheet_rows = (len(rows) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (cell + 60), sheet_rows * (cell + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, row in enumerate(rows):
        photo = Image.open(out / row["image"]).convert("RGB")
        photo.thumbnail((cell, cell))
        box = [float(row[k]) for k in EXTRA_FIELDS[2:]]
        pixels = (
            box[0] * photo.width,
            box[1] * photo.height,
            box[2] * photo.width,
            box[3] * photo.height,
        )
        ImageDraw.Draw(photo).rectangle(pixels, outline=(255, 0, 0), width=2)
        x, y = (n % columns) * (cell + 60), (n // columns) * (cell + 16)
        sheet.paste(photo, (x, y))
        original = Image.open(shared / "catalog" / "images" / f"{row['id']}.jpg")
        original.thumbnail((56, 75))
        sheet.paste(original, (x + cell + 2, y))
        draw.text((x, y + cell + 2), f"{row['id']} {row['scene']} {row['fraction']}", fill="black")
    path = out / "contact-sheet.png"
    sheet.save(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--offset", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split", choices=("val", "train"), default="val", help="whose items to photograph"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-out/photos/queries"))
    parser.add_argument("--sheet", type=int, default=0, help="contact sheet of the first N")
    args = parser.parse_args()
    csv_path, rows = make_photos(args.count, args.offset, args.seed, args.out, split=args.split)
    print(f"wrote {len(rows)} photos and {csv_path}")
    if args.sheet:
        print(f"contact sheet: {contact_sheet(args.out, rows, args.sheet)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
