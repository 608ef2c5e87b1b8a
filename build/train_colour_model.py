"""Learn the garment-colour model (fashion_desktop/core/garment_colour.py) from a catalogue.

    python build/train_colour_model.py CATALOG [--split SPLIT_CSV] [--photo-weight 0.5]
        [--codebook 128] [--out resources/models/garment_colour.npz]

The release model was made by
    python build/train_colour_model.py ../shared/catalog --split ../shared/catalog/split.csv

Every product shot of the catalogue's ``train`` rows (all rows without ``--split``) with a
``baseColour`` gives its garment's pixels (the plain background dropped); each garment is also
seen once under other light (:func:`with_lighting_variation`); the classes are the bundled
colour head's. Photos are never used: the model must generalise to photos it has not seen.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.errors import FashionDesktopError, ImageError
from fashion_desktop.core.garment_colour import (
    COLOUR_HEAD,
    fit_colour_model,
    garment_pixels,
    with_lighting_variation,
)
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.imaging import load_image
from fashion_desktop.resources import bundled_heads_path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "models" / "garment_colour.npz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--split", type=Path, help="id,split CSV: only the train rows are used")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--heads", type=Path, default=None, help="default: the bundled heads")
    parser.add_argument("--photo-weight", type=float, default=0.5)
    parser.add_argument("--codebook", type=int, default=128)
    args = parser.parse_args()
    try:
        heads = ClassifierHeads.load(args.heads or bundled_heads_path())
        classes = list(heads.heads[COLOUR_HEAD].classes)
        catalogue = read_catalogue(args.catalog)
    except (FashionDesktopError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    items = [item for item in catalogue.items if item.metadata.get(COLOUR_HEAD)]
    held_out = []
    if args.split:
        with args.split.open(encoding="utf-8") as handle:
            splits = {row["id"]: row["split"] for row in csv.DictReader(handle)}
        held_out = [item for item in items if splits.get(item.item_id) == "val"][:2000]
        items = [item for item in items if splits.get(item.item_id) == "train"]

    def pixels(item):  # type: ignore[no-untyped-def]
        try:
            return garment_pixels(load_image(item.image_path).image, None, photo=False)
        except ImageError:
            return None

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        measured = list(pool.map(pixels, items))
    usable = [
        (m, item.metadata[COLOUR_HEAD])
        for m, item in zip(measured, items, strict=True)
        if m is not None
    ]
    print(f"{len(usable):,} garments measured in {time.perf_counter() - started:.0f} s")
    garments, labels = with_lighting_variation(
        [g for g, _ in usable], [label for _, label in usable]
    )
    started = time.perf_counter()
    model = fit_colour_model(
        garments, labels, classes, codebook_size=args.codebook, photo_weight=args.photo_weight
    )
    print(f"fitted in {time.perf_counter() - started:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"wrote {args.out}")
    checked = [(pixels(item), item.metadata[COLOUR_HEAD]) for item in held_out]
    checked = [(g, label) for g, label in checked if g is not None]
    if checked:
        probabilities = model.probabilities_of_histograms(
            np.stack([model.histogram(*g) for g, _ in checked])
        )
        top = [classes[i] for i in probabilities.argmax(axis=1)]
        right = sum(t == label for t, (_, label) in zip(top, checked, strict=True))
        print(
            f"top-1 colour of {len(checked):,} held-out (val) product shots: "
            f"{right / len(checked):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
