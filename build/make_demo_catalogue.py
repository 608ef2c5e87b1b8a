"""Make the bundled demo catalogue (``resources/demo/catalog``) from the shared catalogue.

Usage: ``python build/make_demo_catalogue.py [SHARED_CATALOG] [--count 4000]``. Picks a fixed
sample of ``train`` items that covers every article type of the catalogue in proportion to how
common it is (at least one item of each; largest remainders for the rest; items of a type in a
stable hashed order), copies their images and writes a ``styles.csv`` in the same layout. Then
build the demo index with
``fashion-desktop index build resources/demo/catalog --out resources/demo/index --dim 256``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def proportional_counts(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Items per type: one each, the rest in proportion to the type's size (largest remainder),
    never more than a type has."""
    counts = {t: 1 for t in sizes}
    left = total - len(counts)
    spare = {t: n - 1 for t, n in sizes.items()}
    pool = sum(spare.values())
    if left <= 0 or pool == 0:
        return counts
    shares = {t: left * n / pool for t, n in spare.items()}
    for t, share in shares.items():
        counts[t] += min(spare[t], int(share))
    remaining = total - sum(counts.values())
    for t in sorted(shares, key=lambda t: shares[t] - int(shares[t]), reverse=True):
        if remaining <= 0:
            break
        if counts[t] < sizes[t]:
            counts[t] += 1
            remaining -= 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", nargs="?", type=Path, default=ROOT.parent / "shared" / "catalog")
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    split = dict(csv.reader((args.shared / "split.csv").open(encoding="utf-8")))
    with (args.shared / "styles.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        rows = [r for r in reader if split.get(r["id"]) == "train" and r["articleType"]]
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest()):
        by_type[row["articleType"]].append(row)
    chosen: list[dict] = []
    for article_type, count in proportional_counts(
        {t: len(items) for t, items in by_type.items()}, args.count
    ).items():
        chosen.extend(by_type[article_type][:count])
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
