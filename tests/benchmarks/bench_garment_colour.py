"""Garment-pixel colour (issue 11): the fusion weight chosen on synthetic photos, then real photos.

    fashion-desktop index build ../shared/catalog --out bench-out/shared-index
    python tests/benchmarks/make_photo_queries.py --out bench-out/photos/queries
    python build/train_colour_model.py ../shared/catalog --split ../shared/catalog/split.csv
    python tests/benchmarks/bench_garment_colour.py [--all-index bench-out/shared-index]
        [--photos bench-out/photos/queries/photos.csv] [--out bench-out/garment-colour]

1. **The weight** of the pixels against the colour head (``photo_weight`` of the model file) is
   chosen on the 300 synthetic photos of unseen catalogue items (their colour labels are the
   catalogue's), searched against the ``train`` index: colour P@5 for weights 0 (the head alone)
   to 1 (the pixels alone). Real photos play no part in the choice. The same photos' exact-item
   R@1/R@5 (their items added to the index), without and with the garment colour.
2. **Real photos** (the 615 ``val`` photos, colour on the 320 labelled by eye) against all 39,987
   items, through ``evaluate``'s code, whole photo and localised: every field's P@5 without the
   garment colour (the head alone) and with it (the product).
3. **Cost**: milliseconds a photo to measure its garment colour (2 cores, median of the photos),
   and query latency through ``SearchEngine`` (one query at a time, model warm, the product's
   defaults, index of all 39,987 items) for photos with and without the garment colour and for
   product shots (``--latency N`` queries each; ``--latency-only`` skips 1 and 2).
Indexes are derived from ``--all-index``'s stored embeddings (nothing re-embedded); the model is
the bundled one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_real_photos import FIELDS, scores, write_real_photos
from bench_scoring import derived_index, latency
from common import SHARED, machine_summary, save_json, split_ids

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import QuerySet, embed_queries, evaluate_photos
from fashion_desktop.core.imaging import load_image
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.scoring import DEFAULT_SCORING
from fashion_desktop.core.search import SearchEngine

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def p_at_5(index: EmbeddingIndex, queries: QuerySet) -> dict[str, float]:
    measured = scores(index, queries, DEFAULT_SCORING)
    return {name: measured[name]["P@5"] for name in FIELDS if name in measured}


def with_weight(queries: QuerySet, embedder: Embedder, weight: float | None) -> QuerySet:
    """The queries' signatures with the pixels at ``weight`` (None: no garment colour)."""
    model = embedder.garment_colour
    assert model is not None
    colours = queries.colours
    embedder.garment_colour = None if weight is None else replace(model, photo_weight=weight)
    queries.with_signatures(embedder)
    embedder.garment_colour = model
    queries.colours = colours
    return queries


def query_latency(embedder: Embedder, out: Path, count: int) -> dict:
    """p50/p90 ms of a query (decode included, :func:`bench_scoring.latency`) for real photos,
    whole (the default) and localised, with and without the garment colour, and for catalogue
    product shots, each after a warm-up query."""
    index = EmbeddingIndex.open(out / "all-index")
    whole, localised = SearchEngine(index), SearchEngine(index, localise="auto")
    whole.attach_embedder(embedder)
    localised.attach_embedder(embedder)
    photos = [item.image_path for item in read_catalogue(out / "val-photos.csv").items][:count]
    shots = [SHARED / "catalog" / "images" / f"{i}.jpg" for i in split_ids("val")[:count]]
    model = embedder.garment_colour
    result = {}
    for name, engine, paths, colour in (
        ("photo, with the garment colour (product)", whole, photos, model),
        ("photo, colour head alone", whole, photos, None),
        ("photo localised (Find garment), with the garment colour", localised, photos, model),
        ("photo localised, colour head alone", localised, photos, None),
        ("product shot", whole, shots, model),
    ):
        embedder.garment_colour = colour
        engine.search_images([load_image(paths[0])])
        result[name] = latency(engine, paths)
        print(name, result[name], flush=True)
    embedder.garment_colour = model
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-index", type=Path, default=Path("bench-out/shared-index"))
    parser.add_argument("--photos", type=Path, default=Path("bench-out/photos/queries/photos.csv"))
    parser.add_argument("--out", type=Path, default=Path("bench-out/garment-colour"))
    parser.add_argument("--latency", type=int, default=60)
    parser.add_argument("--latency-only", action="store_true")
    args = parser.parse_args()
    embedder = Embedder.load()
    if embedder.garment_colour is None:
        raise SystemExit(
            "the bundled model has no garment colour model (build/train_colour_model.py)"
        )
    shipped = embedder.garment_colour.photo_weight
    results: dict = {"machine": machine_summary(), "shipped_weight": shipped}
    if args.latency_only:
        results["latency"] = query_latency(embedder, args.out, args.latency)
        save_json(results, args.out / "latency.json")
        return 0

    train_index = EmbeddingIndex.open(
        derived_index(args.all_index, split_ids("train"), args.out / "train-index", embedder)
    )
    photo_catalogue = read_catalogue(args.photos)
    synthetic = embed_queries(photo_catalogue, embedder, localise="auto")
    results["synthetic"] = {}
    for weight in WEIGHTS:
        with_weight(synthetic, embedder, weight)
        results["synthetic"][str(weight)] = p_at_5(train_index, synthetic)
        print("synthetic, weight", weight, results["synthetic"][str(weight)], flush=True)
    # The synthetic yardstick's exact-item recall (its items added to the train index).
    with_items = EmbeddingIndex.open(
        derived_index(
            args.all_index,
            split_ids("train") + [item.item_id for item in photo_catalogue.items],
            args.out / "train+photo-items-index",
            embedder,
        )
    )
    results["synthetic_exact_item"] = {}
    for name, weight in (("head alone", None), (f"with garment colour ({shipped})", shipped)):
        report = evaluate_photos(with_items, with_weight(synthetic, embedder, weight), ks=(1, 5))
        recall = {f"R@{k}": round(report.recall[k], 4) for k in (1, 5)}
        results["synthetic_exact_item"][name] = recall
        print("synthetic exact item,", name, recall, flush=True)

    ids = split_ids("train") + split_ids("val")
    index = EmbeddingIndex.open(
        derived_index(args.all_index, ids, args.out / "all-index", embedder)
    )
    photos = read_catalogue(write_real_photos(args.out / "val-photos.csv"))
    results["real"] = {}
    for mode in ("never", "auto"):
        queries = embed_queries(photos, embedder, localise=mode)
        for name, weight in (("head alone", None), (f"with garment colour ({shipped})", shipped)):
            key = f"localise {mode}, {name}"
            results["real"][key] = p_at_5(index, with_weight(queries, embedder, weight))
            print(key, results["real"][key], flush=True)
        if mode == "auto":
            model = embedder.garment_colour
            times = []
            for item, box, photo in zip(photos.items, queries.boxes, queries.photo, strict=True):
                image = load_image(item.image_path).image
                started = time.perf_counter()
                model.probabilities(image, box, photo=photo)
                times.append((time.perf_counter() - started) * 1000)
            results["colour_ms_p50"] = round(float(np.median(times)), 2)
            print("garment colour ms/photo p50", results["colour_ms_p50"], flush=True)
    save_json(results, args.out / "garment_colour.json")
    print(f"wrote {args.out / 'garment_colour.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
