"""Make the bundled demo catalogue (``resources/demo/catalog``) from the shared catalogue.

Usage: ``python build/make_demo_catalogue.py [SHARED_CATALOG] [--count 400]``. Picks a fixed,
diverse sample (round-robin over article types, in a stable hashed order) of ``train`` items, copies
their images and writes a ``styles.csv`` in the same layout. Then build the demo index with
``fashion-desktop index build resources/demo/catalog --out resources/demo/index``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", nargs="?", type=Path, default=ROOT.parent / "shared" / "catalog")
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args()
    split = dict(csv.reader((args.shared / "split.csv").open(encoding="utf-8")))
    with (args.shared / "styles.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        rows = [r for r in reader if split.get(r["id"]) == "train" and r["articleType"]]
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest()):
        by_type[row["articleType"]].append(row)
    # Most common types first, so the demo covers what a store mostly sells.
    types = sorted(by_type, key=lambda t: -len(by_type[t]))
    chosen: list[dict] = []
    while len(chosen) < args.count:
        for article_type in types:
            if by_type[article_type] and len(chosen) < args.count:
                chosen.append(by_type[article_type].pop())
    out = ROOT / "resources" / "demo" / "catalog"
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    chosen.sort(key=lambda r: int(r["id"]))
    for row in chosen:
        shutil.copyfile(
            args.shared / "images" / f"{row['id']}.jpg", out / "images" / f"{row['id']}.jpg"
        )
    with (out / "styles.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(chosen)
    print(f"wrote {len(chosen)} items to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
