"""Multi-crop fusion on real photos (issue 11): the localised crop, the whole frame, and both.

    python tests/benchmarks/bench_garment_colour.py     # makes the index and photo list used here
    python tests/benchmarks/bench_multicrop.py

For each of the 615 ``val`` photos (a product shot among them is searched whole): the whole
frame's embedding (the localiser's own pass), the localised crop's, and their mean, each with the
garment colour measured on the same pixels, ranked by the product's default scoring against all
39,987 items. P@5 per field.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from bench_real_photos import FIELDS, scores

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import QuerySet
from fashion_desktop.core.imaging import load_image, prepare_for_model
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.localise import GarmentLocator, looks_like_product_shot
from fashion_desktop.core.scoring import DEFAULT_SCORING

embedder = Embedder.load()
index = EmbeddingIndex.open(Path("bench-out/garment-colour/all-index"))
photos = read_catalogue(Path("bench-out/garment-colour/val-photos.csv"))
locator = GarmentLocator(embedder)
model = embedder.garment_colour
frames, crops, colours_box, colours_whole, kinds, meta = [], [], [], [], [], []
for item in photos.items:
    image = load_image(item.image_path).image
    photo = not looks_like_product_shot(image)
    loc = locator.locate(image)
    box = loc.box if photo else None
    crop = embedder.embed_one(prepare_for_model(image, box))
    frames.append(loc.frame_embedding)
    crops.append(crop)
    colours_box.append(model.probabilities(image, box, photo=True) if photo else None)
    colours_whole.append(model.probabilities(image, None, photo=True) if photo else None)
    kinds.append(photo)
    meta.append(item.metadata)


frames, crops = np.stack(frames), np.stack(crops)
for name, raw, colours in (
    ("whole", frames, colours_whole),
    ("crop", crops, colours_box),
    ("mean raw", (frames + crops) / 2, colours_box),
    ("mean raw, whole colour", (frames + crops) / 2, colours_whole),
):
    q = QuerySet(
        meta,
        [""] * len(meta),
        raw.astype(np.float32),
        [],
        embedder.identity.fingerprint,
        photo=kinds,
        colours=colours,
    ).with_signatures(embedder)
    s = scores(index, q, DEFAULT_SCORING)
    print(name, {f: s[f]["P@5"] for f in FIELDS}, flush=True)
