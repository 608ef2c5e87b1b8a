"""Write the int8 calibration catalogues of a model release from the shared data.

Usage: ``python build/make_calibration_sets.py [SHARED] [--out bench-out/calibration]``.
Writes ``products.csv`` (1,500 ``train`` catalogue items, the last of the fixed hash order, so
they are neither the demo catalogue's nor the benchmarks' queries) and ``photos.csv`` (the 4,040
``train`` real photos): generic-layout catalogues with absolute ``image`` paths, for
``build/bundle_model.py MODEL --int8 --calibration OUT/products.csv --calibration OUT/photos.csv``.
Nothing of ``val`` is used, so quality measured on ``val`` stays honest.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 1500


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", nargs="?", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "calibration")
    args = parser.parse_args()
    catalog = args.shared / "catalog"
    with (catalog / "split.csv").open(encoding="utf-8") as handle:
        train = [row["id"] for row in csv.DictReader(handle) if row["split"] == "train"]
    chosen = set(sorted(train, key=lambda i: hashlib.sha256(i.encode()).hexdigest())[-PRODUCTS:])
    args.out.mkdir(parents=True, exist_ok=True)
    with (catalog / "styles.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = [row for row in reader if row["id"] in chosen]
    with (args.out / "products.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", *fields])
        writer.writeheader()
        for row in rows:
            image = (catalog / "images" / f"{row['id']}.jpg").resolve()
            writer.writerow({"image": str(image), **row})
    real = args.shared / "real" / "clothing-dataset"
    with (real / "labels.csv").open(encoding="utf-8") as handle:
        photos = [row for row in csv.DictReader(handle) if row["split"] == "train"]
    with (args.out / "photos.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "id"])
        for row in photos:
            writer.writerow([str((real / "images" / f"{row['id']}.jpg").resolve()), row["id"]])
    print(f"wrote {len(rows)} products and {len(photos)} photos to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
