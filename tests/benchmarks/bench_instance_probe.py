"""A quick go/no-go for a candidate model (issue 11): exact-item recall of photos, and the kinds
of queries it must not lose, on a small gallery, float32, several models side by side.

    python tests/benchmarks/make_photo_queries.py --out bench-out/photos/queries
    python tests/benchmarks/bench_instance_probe.py --weights bundled --weights MODEL_DIR ...
        [--gallery 3000] [--photos bench-out/photos/queries/photos.csv] [--out bench-out/probe]

Gallery: ``--gallery`` ``train`` items (fixed hash order) plus the items the synthetic photos
show. Queries, embedded whole (no localisation) by the Keras network in float32 and ranked by
the cosine of the raw 2048-d embeddings (no PCA, no label weights: the network alone):

* the synthetic photos (``make_photo_queries.py``): exact-item R@1 / R@5;
* the 615 real ``val`` photos: P@5 of master category, sub-category and article type (where
  labelled) among the gallery's items;
* 300 ``val`` catalogue items not in the gallery: P@5 of article type and colour.

The full yardsticks (whole catalogue, the product's ranking, int8) are ``bench_real_photos.py``
and ``bench_garment_colour.py``; this one needs no index build (about 7 minutes a model on
2 cores) and tells whether a training run is worth them. ``--layers`` also reports the photo
recall of intermediate stages (global-average-pooled), to see where instance detail is lost.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import SHARED, machine_summary, save_json, split_ids

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.imaging import load_model_input

REAL = SHARED / "real" / "clothing-dataset"
LAYERS = ("conv4_block6_out", "conv5_block1_out", "conv5_block2_out")


def network(weights: str):
    """Keras ResNet50 (float32) with the weights of ``bundled``, a model folder or a file."""
    from fashion_desktop.core.embedder import resolve_weights
    from fashion_desktop.core.export import load_keras_backbone

    choice = resolve_weights(None if weights == "bundled" else weights, keras=True)
    return load_keras_backbone(choice)[0]


def embed(model, images: np.ndarray, layers: bool) -> dict[str, np.ndarray]:
    """L2-normalised pooled outputs of the final layer (and of ``LAYERS``)."""
    import keras

    names = ["final", *(LAYERS if layers else ())]
    outputs = [model.output, *(model.get_layer(n).output for n in names[1:])]
    probe = keras.Model(model.input, outputs)
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, len(images), 32):
        batch = keras.applications.resnet50.preprocess_input(
            images[start : start + 32].astype(np.float32)
        )
        result = probe(batch, training=False)
        for name, output in zip(names, result if layers else [result], strict=True):
            pooled = np.asarray(output, np.float32)
            chunks[name].append(pooled.mean(axis=(1, 2)) if pooled.ndim == 4 else pooled)
    out = {}
    for name, parts in chunks.items():
        vectors = np.concatenate(parts)
        out[name] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return out


def precision_at_5(
    scores: np.ndarray, query_labels: list[str], gallery_labels: list[str]
) -> float | None:
    top = np.argsort(-scores, axis=1)[:, :5]
    hits = [
        np.mean([gallery_labels[j] == label for j in row])
        for row, label in zip(top, query_labels, strict=True)
        if label
    ]
    return round(float(np.mean(hits)), 3) if hits else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", action="append", required=True)
    parser.add_argument("--gallery", type=int, default=3000)
    parser.add_argument("--photos", type=Path, default=Path("bench-out/photos/queries/photos.csv"))
    parser.add_argument("--layers", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-out/probe"))
    args = parser.parse_args()
    if not args.photos.is_file():
        sys.exit(f"{args.photos} not found: run tests/benchmarks/make_photo_queries.py first")

    catalogue = read_catalogue(SHARED / "catalog")
    by_id = {item.item_id: item for item in catalogue.items}
    with args.photos.open(encoding="utf-8") as handle:
        photos = list(csv.DictReader(handle))
    photo_items = [row["id"] for row in photos]
    gallery_ids = split_ids("train", args.gallery) + photo_items
    gallery_rows = {i: n for n, i in enumerate(gallery_ids)}
    cat_query_ids = [i for i in split_ids("val") if i not in set(photo_items)][:300]
    with (REAL / "labels.csv").open(encoding="utf-8") as handle:
        real = [row for row in csv.DictReader(handle) if row["split"] == "val"]

    def load(paths: list[Path]) -> np.ndarray:
        return np.stack([load_model_input(p)[0] for p in paths])

    started = time.perf_counter()
    gallery_images = load([by_id[i].image_path for i in gallery_ids])
    photo_images = load([args.photos.parent / row["image"] for row in photos])
    real_images = load([REAL / "images" / f"{row['id']}.jpg" for row in real])
    cat_images = load([by_id[i].image_path for i in cat_query_ids])
    print(
        f"decoded {len(gallery_images) + len(photo_images) + len(real_images):,} images "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    field = lambda ids, name: [by_id[i].metadata.get(name, "") for i in ids]  # noqa: E731
    truth = np.array([gallery_rows[i] for i in photo_items])

    results = {}
    for weights in args.weights:
        started = time.perf_counter()
        model = network(weights)
        gallery = embed(model, gallery_images, args.layers)
        queries = embed(model, photo_images, args.layers)
        real_z = embed(model, real_images, False)["final"]
        cat_z = embed(model, cat_images, False)["final"]
        entry: dict = {"layers": {}}
        for name in gallery:
            scores = queries[name] @ gallery[name].T
            rank = (scores > scores[np.arange(len(truth)), truth][:, None]).sum(axis=1)
            entry["layers"][name] = {
                "R@1": round(float(np.mean(rank < 1)), 3),
                "R@5": round(float(np.mean(rank < 5)), 3),
            }
        real_scores = real_z @ gallery["final"].T
        entry["real_val_P@5"] = {
            name: precision_at_5(real_scores, [r[name] for r in real], field(gallery_ids, name))
            for name in ("masterCategory", "subCategory", "articleType")
        }
        cat_scores = cat_z @ gallery["final"].T
        entry["catalogue_P@5"] = {
            name: precision_at_5(cat_scores, field(cat_query_ids, name), field(gallery_ids, name))
            for name in ("articleType", "baseColour")
        }
        entry["seconds"] = round(time.perf_counter() - started)
        results[weights] = entry
        print(weights, entry, file=sys.stderr)

    report = {
        "machine": machine_summary(),
        "gallery": len(gallery_ids),
        "synthetic_photos": len(photos),
        "real_val_photos": len(real),
        "catalogue_queries": len(cat_query_ids),
        "models": results,
    }
    save_json(report, args.out / "probe.json")
    print(
        "\n| model | photos R@1 / R@5 | real val P@5 master / sub / type | "
        "catalogue P@5 type / colour |\n|---|---|---|---|"
    )
    for weights, entry in results.items():
        final, real_p, cat_p = (
            entry["layers"]["final"],
            entry["real_val_P@5"],
            entry["catalogue_P@5"],
        )
        print(
            f"| {weights} | {final['R@1']:.3f} / {final['R@5']:.3f} | "
            f"{real_p['masterCategory']:.3f} / {real_p['subCategory']:.3f} / "
            f"{real_p['articleType']:.3f} | "
            f"{cat_p['articleType']:.3f} / {cat_p['baseColour']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
