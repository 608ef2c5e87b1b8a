"""Photos and catalogue images side by side (issue 7): quality and latency per query method.

    python tests/benchmarks/bench_photos.py [--photos 300] [--methods baseline,cam-crop]
        [--out bench-out/photos]

Setup (modest, 2-core friendly):

* catalogue-style queries: the 500 ``val`` items of ``bench_quality.py``
  (``bench-out/quality/val.csv``) against its 5,000-item ``train`` index
  (``bench-out/quality/index-bundled-full``, which this script never modifies): P@5 per field;
* photos: ``--photos`` synthetic photos of other ``val`` items (``make_photo_queries.py``,
  offset 500) against that index plus the photographed items' catalogue images (built with
  ``--update`` into ``OUT/index-train+photo-items``, so only the new items are embedded):
  exact-item Recall@1/@5;
* latency: decode + (detect + localise) + embed + search, one query at a time, model warm.

``--sweep`` instead chooses the CAM box's threshold and margin on a separate development set
(100 photos of other ``val`` items, seed 1) and its own index, so the yardstick is not tuned on.

Methods: ``baseline`` (the whole image, as today), ``cam-crop`` (photos detected as not being a
product on a plain background are cropped to the article-type head's class-activation box) and
``cam-fused`` (the crop's and the whole frame's embeddings averaged).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import (
    latency_summary,
    machine_summary,
    save_json,
    split_ids,
    write_subset_catalogue,
)
from make_photo_queries import make_photos

from fashion_desktop.core.builder import build_index
from fashion_desktop.core.catalogue import Catalogue, read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import QuerySet, evaluate, evaluate_photos
from fashion_desktop.core.imaging import CropBox, load_image, prepare_for_model
from fashion_desktop.core.index import EmbeddingIndex, normalise, search_vectors_for
from fashion_desktop.core.localise import (
    CAM_MARGIN,
    CAM_PEAK_ONLY,
    CAM_THRESHOLD,
    GarmentLocator,
    embed_query_images,
)

FIELDS = ("articleType", "baseColour", "gender", "masterCategory")
QUALITY = Path("bench-out/quality")
METHODS = ("baseline", "cam-crop", "cam-fused")


class QueryMethod:
    """How a query image becomes a raw embedding (and which box, if any, was searched)."""

    def __init__(self, name: str, embedder: Embedder, locator: GarmentLocator | None) -> None:
        self.name = name
        self.embedder = embedder
        self.locator = locator

    def embed(self, image) -> tuple[np.ndarray, CropBox | None, bool]:
        """One image → (raw embedding, searched box or None, detected as product shot)."""
        mode = "never" if self.name == "baseline" else "auto"
        (result,) = embed_query_images([image], self.embedder, self.locator, mode).queries
        raw = result.raw
        if self.name == "cam-fused" and result.box is not None:  # crop and whole frame averaged
            whole = self.embedder.embed_one(prepare_for_model(image))
            raw = normalise(normalise(raw) + normalise(whole))
        return raw, result.box, not result.photo


def embed_catalogue(method: QueryMethod, catalogue: Catalogue) -> tuple[QuerySet, dict]:
    raws, boxes, shots, sha = [], [], [], []
    for item in catalogue.items:
        query = load_image(item.image_path)
        raw, box, shot = method.embed(query.image)
        raws.append(raw)
        boxes.append(box)
        shots.append(shot)
        sha.append(query.sha256)
    queries = QuerySet(
        [item.metadata for item in catalogue.items],
        sha,
        np.stack(raws),
        [],
        method.embedder.identity.fingerprint,
        [item.item_id for item in catalogue.items],
    )
    return queries, {"boxes": boxes, "product_shot": shots}


def iou(box: CropBox | None, truth: tuple[float, float, float, float]) -> float:
    found = (0.0, 0.0, 1.0, 1.0) if box is None else (box.left, box.top, box.right, box.bottom)
    width = max(0.0, min(found[2], truth[2]) - max(found[0], truth[0]))
    height = max(0.0, min(found[3], truth[3]) - max(found[1], truth[1]))
    inter = width * height
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return inter / (area(found) + area(truth) - inter)


def latency(method: QueryMethod, index: EmbeddingIndex, paths: list[Path]) -> dict:
    times = []
    for path in paths:
        t0 = time.perf_counter()
        image = load_image(path).image
        raw, _, _ = method.embed(image)
        index.search(search_vectors_for(raw[np.newaxis], index.projection)[0], 5)
        times.append((time.perf_counter() - t0) * 1000)
    return latency_summary(times)


def prepare_index(
    embedder: Embedder, photos: Catalogue, out_dir: Path, train_index_dir: Path
) -> dict:
    """``train_index_dir`` plus the photographed items, via ``--update`` (only those embedded)."""
    if (out_dir / "manifest.json").is_file():
        return {}
    catalogue = read_catalogue(
        write_subset_catalogue(
            split_ids("train", 5000) + [item.item_id for item in photos.items],
            out_dir.parent / f"{out_dir.name}.csv",
        )
    )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(train_index_dir, out_dir)
    report = build_index(catalogue, out_dir, embedder, update=True, dim="full")
    print(f"index: {report.indexed} items, {report.embedded} embedded", flush=True)
    return {
        "embedded": report.embedded,
        "reused": report.reused,
        "seconds": round(report.elapsed_s, 1),
    }


def sweep(embedder: Embedder, out: Path) -> int:
    """CAM threshold × margin on the development photos: box IoU and exact-item recall."""
    dev_dir = out / "dev"
    if not (dev_dir / "photos.csv").is_file():
        make_photos(100, 800, 1, dev_dir)
    photos = read_catalogue(dev_dir / "photos.csv")
    truth = read_boxes(dev_dir / "photos.csv")
    index_dir = out / "index-train+dev-items"
    prepare_index(embedder, photos, index_dir, QUALITY / "index-bundled-full")
    index = EmbeddingIndex.open(index_dir)
    locator = GarmentLocator(embedder)
    images = [load_image(item.image_path).image for item in photos.items]
    ids = [item.item_id for item in photos.items]
    found = [locator.locate(image) for image in images]
    frames = np.stack([f.frame_embedding for f in found])

    def score(raw: np.ndarray) -> dict:
        queries = QuerySet(
            [i.metadata for i in photos.items],
            [""] * len(ids),
            raw,
            [],
            embedder.identity.fingerprint,
            ids,
        )
        report = evaluate_photos(index, queries, ks=(1, 5))
        return {"R@1": round(report.recall[1], 4), "R@5": round(report.recall[5], 4)}

    results: dict = {"photos": len(ids), "baseline": score(frames), "variants": {}}
    print("baseline", results["baseline"], flush=True)
    from fashion_desktop.core.localise import cam_box

    variants = [(t, m, False) for t in (0.2, 0.35, 0.5, 0.65) for m in (0.05, 0.2)]
    variants += [(t, 0.1, True) for t in (0.2, 0.35, 0.5)]
    for threshold, margin, peak_only in variants:
        boxes = [
            cam_box(
                f.activation,
                image.size,
                threshold=threshold,
                margin=margin,
                peak_only=peak_only,
            )
            for f, image in zip(found, images, strict=True)
        ]
        pixels = np.stack(
            [prepare_for_model(image, box) for image, box in zip(images, boxes, strict=True)]
        )
        crops = embedder.embed_batch(pixels)
        fused = normalise(normalise(crops) + normalise(frames))
        name = f"t{threshold}-m{margin}" + ("-peak" if peak_only else "")
        results["variants"][name] = {
            "iou": round(
                float(np.mean([iou(b, truth[i]) for b, i in zip(boxes, ids, strict=True)])), 4
            ),
            "crop": score(crops),
            "fused": score(fused),
        }
        print(name, results["variants"][name], flush=True)
    save_json(results, out / "sweep.json")
    print(f"wrote {out / 'sweep.json'}")
    return 0


def catalogue_histograms(items, cache: Path) -> np.ndarray:
    """CIELAB histograms of catalogue images over their product masks (cached in ``cache``)."""
    from PIL import Image

    from fashion_desktop.core.colour import colour_histogram
    from fashion_desktop.core.photosim import product_mask

    if cache.is_file():
        return np.load(cache)
    hists = []
    for item in items:
        image = Image.open(item.image_path).convert("RGB")
        hists.append(colour_histogram(image, product_mask(image).astype(np.float32)))
    result = np.stack(hists)
    np.save(cache, result)
    return result


def colour_mode(embedder: Embedder, out: Path, photo_dir: Path) -> int:
    """Colour re-ranking (head probabilities or CIELAB histograms): weight chosen on dev queries,
    reported on the yardstick (catalogue-style P@5; photos R@1/R@5 with the head signal)."""
    from fashion_desktop.core.colour import histogram_similarity, rerank
    from fashion_desktop.core.evaluation import embed_queries, score_rankings

    assert embedder.heads is not None
    colour_head = "baseColour"
    index = EmbeddingIndex.open(QUALITY / "index-bundled-full")
    items = index.items(range(len(index)))
    index_values = {f: index.metadata_column(f) for f in FIELDS}
    index_probs = embedder.heads.probabilities(np.asarray(index.raw_embeddings()))[colour_head]
    index_hists = catalogue_histograms(items, out / "colour-hist-train.npy")
    dev = read_catalogue(write_subset_catalogue(split_ids("val")[900:1400], out / "colour-dev.csv"))
    sets = {"dev": dev, "yardstick": read_catalogue(QUALITY / "val.csv")}
    pool = 50
    results: dict = {"pool": pool, "dev_queries": len(dev), "signals": {}}
    embedded = {}
    for name, catalogue in sets.items():
        queries = embed_queries(catalogue, embedder)
        hists = catalogue_histograms(catalogue.items, out / f"colour-hist-{name}.npy")
        probs = embedder.heads.probabilities(queries.raw)[colour_head]
        ranked = index.search_many(search_vectors_for(queries.raw, None), pool)
        embedded[name] = (queries, hists, probs, ranked)

    def p_at_5(name: str, signal: str, weight: float) -> dict[str, float]:
        queries, hists, probs, ranked = embedded[name]
        rankings = []
        for q, hits in enumerate(ranked):
            if signal == "head":
                sim = histogram_similarity(probs[q], index_probs)
            else:
                sim = histogram_similarity(hists[q], index_hists)
            rankings.append([row for row, _ in rerank(hits, sim, weight, 5)])
        scores = score_rankings(queries.metadata, rankings, index_values, 5, FIELDS)
        return {f: round(v.precision, 4) for f, v in scores.items()}

    for signal in ("head", "hist"):
        table = {w: p_at_5("dev", signal, w) for w in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8)}
        best = max(table, key=lambda w: table[w]["baseColour"] + table[w]["articleType"])
        results["signals"][signal] = {
            "dev": {str(w): v for w, v in table.items()},
            "chosen_weight": best,
            "yardstick": p_at_5("yardstick", signal, best),
            "yardstick_weight0": p_at_5("yardstick", signal, 0.0),
        }
        print(signal, "chosen", best, results["signals"][signal]["yardstick"], flush=True)
        save_json(results, out / "colour.json")
    # Photos with the head signal (it needs no localisation).
    combined = EmbeddingIndex.open(out / "index-train+photo-items")
    combined_probs = embedder.heads.probabilities(np.asarray(combined.raw_embeddings()))[
        colour_head
    ]
    photos = read_catalogue(photo_dir / "photos.csv")
    photo_set = embed_queries(photos, embedder)
    probs = embedder.heads.probabilities(photo_set.raw)[colour_head]
    ranked = combined.search_many(search_vectors_for(photo_set.raw, None), pool)
    targets = [combined.row_of(i) for i in photo_set.item_ids]
    from fashion_desktop.core.evaluation import exact_item_recall

    results["photos_head"] = {}
    for weight in (0.0, results["signals"]["head"]["chosen_weight"]):
        rankings = [
            [
                row
                for row, _ in rerank(
                    hits, histogram_similarity(probs[q], combined_probs), weight, 10
                )
            ]
            for q, hits in enumerate(ranked)
        ]
        recall, _ = exact_item_recall(targets, rankings, (1, 5))
        results["photos_head"][str(weight)] = {f"R@{k}": round(v, 4) for k, v in recall.items()}
    print("photos (head)", results["photos_head"], flush=True)
    save_json(results, out / "colour.json")
    print(f"wrote {out / 'colour.json'}")
    return 0


def read_boxes(csv_path: Path) -> dict[str, tuple[float, ...]]:
    with csv_path.open(encoding="utf-8") as handle:
        return {
            row["id"]: tuple(
                float(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")
            )
            for row in csv.DictReader(handle)
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--methods", default="baseline")
    parser.add_argument("--latency-queries", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench-out/photos"))
    parser.add_argument("--sweep", action="store_true", help="tune CAM boxes on the dev set")
    parser.add_argument("--colour", action="store_true", help="colour re-ranking experiment")
    parser.add_argument("--cam-threshold", type=float, default=CAM_THRESHOLD)
    parser.add_argument("--cam-margin", type=float, default=CAM_MARGIN)
    parser.add_argument(
        "--cam-peak-only", action=argparse.BooleanOptionalAction, default=CAM_PEAK_ONLY
    )
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",")]
    if unknown := set(methods) - set(METHODS):
        parser.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    out = args.out
    photo_dir = out / "queries"
    if not (photo_dir / "photos.csv").is_file():
        make_photos(args.photos, 500, 0, photo_dir)
    photos = read_catalogue(photo_dir / "photos.csv")
    truth = read_boxes(photo_dir / "photos.csv")
    train_index_dir = QUALITY / "index-bundled-full"
    val = read_catalogue(QUALITY / "val.csv")

    from fashion_desktop.resources import bundled_weights_path

    embedder = Embedder.load(str(bundled_weights_path()))
    if args.sweep:
        return sweep(embedder, out)
    if args.colour:
        return colour_mode(embedder, out, photo_dir)
    combined_dir = out / "index-train+photo-items"
    results: dict = {
        "machine": machine_summary(),
        "setup": {
            "catalogue_queries": len(val),
            "train_index": str(train_index_dir),
            "photos": len(photos),
            "photo_index": str(combined_dir),
        },
        "methods": {},
    }
    previous = out / "photos.json"
    if previous.is_file():  # methods measured by earlier runs are kept
        results["methods"] = json.loads(previous.read_text(encoding="utf-8")).get("methods", {})
    if build := prepare_index(embedder, photos, combined_dir, train_index_dir):
        results["setup"]["index_build"] = build
    train_index = EmbeddingIndex.open(train_index_dir)
    combined = EmbeddingIndex.open(combined_dir)
    results["setup"]["photo_index_items"] = len(combined)
    locator = None
    if set(methods) - {"baseline"}:
        locator = GarmentLocator(
            embedder,
            threshold=args.cam_threshold,
            margin=args.cam_margin,
            peak_only=args.cam_peak_only,
        )
    cam = f"t{args.cam_threshold}-m{args.cam_margin}" + ("-peak" if args.cam_peak_only else "")
    for name in methods:
        method = QueryMethod(name, embedder, locator)
        t0 = time.perf_counter()
        queries, val_info = embed_catalogue(method, val)
        photo_set, photo_info = embed_catalogue(method, photos)
        catalogue_report = evaluate(train_index, queries, k=5, fields=FIELDS)
        photo_report = evaluate_photos(combined, photo_set, ks=(1, 5, 10))
        ious = [
            iou(box, truth[item_id])
            for box, item_id in zip(photo_info["boxes"], photo_set.item_ids, strict=True)
        ]
        entry = {
            "catalogue_style": {f: s.to_json() for f, s in catalogue_report.fields.items()},
            "photos": photo_report.to_json(),
            "detected_product_shot": {
                "catalogue_queries": round(float(np.mean(val_info["product_shot"])), 4),
                "photos": round(float(np.mean(photo_info["product_shot"])), 4),
            },
            "photo_box_mean_iou": round(float(np.mean(ious)), 4),
            "embed_seconds": round(time.perf_counter() - t0, 1),
        }
        n = args.latency_queries
        entry["latency_photo"] = latency(method, combined, [i.image_path for i in photos.items[:n]])
        entry["latency_catalogue"] = latency(
            method, train_index, [i.image_path for i in val.items[:n]]
        )
        results["methods"][name if name == "baseline" else f"{name}({cam})"] = entry
        p5 = {f: s.precision for f, s in catalogue_report.fields.items()}
        print(
            f"{name}: catalogue P@5 type {p5['articleType']:.3f} colour {p5['baseColour']:.3f}; "
            f"photos R@1 {photo_report.recall[1]:.3f} R@5 {photo_report.recall[5]:.3f}; "
            f"IoU {entry['photo_box_mean_iou']:.3f}; "
            f"latency photo {entry['latency_photo']['p50_ms']} ms, "
            f"catalogue {entry['latency_catalogue']['p50_ms']} ms",
            flush=True,
        )
        save_json(results, out / "photos.json")
    print(f"wrote {out / 'photos.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
