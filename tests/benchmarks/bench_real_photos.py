"""Real photographs (issue 11): the shared real photos' ``val`` split against the whole catalogue.

    fashion-desktop index build ../shared/catalog --out ALL_INDEX --dim full [--weights MODEL]
    python tests/benchmarks/bench_real_photos.py --all-index ALL_INDEX [--weights MODEL]
        [--out bench-out/real/NAME]

The 615 ``val`` photos (taken by people none of whose photos are in ``train``) are searched
against the product's index of all 39,987 shared catalogue items (PCA-256 and label signatures,
derived from ALL_INDEX's stored embeddings, nothing re-embedded), through ``evaluate``'s own code
(:func:`evaluation.embed_queries` and :func:`evaluation.evaluate`: each photo localised and
ranked as ``search`` ranks it). P@5 per field: master category, sub-category and article type
from the shared labels (article type only where the photo's class maps to one catalogue type),
colour and gender from ``data/real_val_colour_gender.csv`` (320 photos labelled by looking at
them; gender only where visible). Query-time variants are measured side by side: whole photo vs
the localised garment (``--localise never/auto``), photos ranked by the cosine (the default
before the photo-trained model) vs with the label weights of product shots (the default since).
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

from bench_scoring import derived_index, weights_of
from common import SHARED, machine_summary, save_json, split_ids

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import LABEL_FIELDS, QuerySet, embed_queries, evaluate
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.scoring import DEFAULT_SCORING, Scoring

REAL = SHARED / "real" / "clothing-dataset"
LABELS = Path(__file__).resolve().parent / "data" / "real_val_colour_gender.csv"
FIELDS = ("masterCategory", "subCategory", "articleType", "baseColour", "gender")


def write_real_photos(path: Path, split: str = "val") -> Path:
    """The ``split`` photos as a labelled photo CSV: shared labels plus the colour/gender labels
    (made for ``val`` photos only; empty for the others)."""
    with LABELS.open(encoding="utf-8") as handle:
        looked = {row["id"]: row for row in csv.DictReader(handle)}
    with (REAL / "labels.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == split]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "id", "label", *FIELDS])
        writer.writeheader()
        for row in rows:
            extra = looked.get(row["id"], {})
            writer.writerow(
                {
                    "image": str((REAL / "images" / f"{row['id']}.jpg").resolve()),
                    "id": row["id"],
                    "label": row["label"],
                    "masterCategory": row["masterCategory"],
                    "subCategory": row["subCategory"],
                    "articleType": row["articleType"],
                    "baseColour": extra.get("baseColour", ""),
                    "gender": extra.get("gender", ""),
                }
            )
    return path


def scores(index: EmbeddingIndex, queries: QuerySet, scoring: Scoring) -> dict:
    report = evaluate(index, queries, k=5, fields=FIELDS, scoring=scoring)
    return {
        "ranked_by": report.scoring,
        **{
            name: {"P@5": round(s.precision, 4), "mAP@5": round(s.map, 4), "queries": s.queries}
            for name, s in report.fields.items()
        },
    }


def head_accuracy(embedder: Embedder, queries: QuerySet) -> dict:
    """The heads' top-1 on the photos, per labelled field (what the model thinks it sees)."""
    assert embedder.heads is not None
    probabilities = embedder.heads.probabilities(queries.raw)
    result = {}
    for name, head in embedder.heads.heads.items():
        top = [head.classes[i] for i in probabilities[name].argmax(axis=1)]
        pairs = [(t, m.get(name, "")) for t, m in zip(top, queries.metadata, strict=True)]
        pairs = [(t, truth) for t, truth in pairs if truth]
        if pairs:
            result[name] = {
                "top1": round(sum(t == truth for t, truth in pairs) / len(pairs), 4),
                "photos": len(pairs),
            }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-index", type=Path, required=True)
    parser.add_argument("--weights", help="model folder (default: the bundled model)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/real/bundled"))
    args = parser.parse_args()
    assert set(FIELDS) <= set(LABEL_FIELDS)
    embedder = Embedder.load(args.weights)
    everything = EmbeddingIndex.open(args.all_index, verify=False)
    everything.check_model(embedder.identity)
    ids = split_ids("train") + split_ids("val")
    index = EmbeddingIndex.open(derived_index(args.all_index, ids, args.out / "index", embedder))
    photos = read_catalogue(write_real_photos(args.out / "val-photos.csv"))
    results: dict = {
        "machine": machine_summary(),
        "model": embedder.identity.to_json(),
        "index_items": len(index),
        "photos": len(photos),
        "variants": {},
    }
    cosine_photos = Scoring(DEFAULT_SCORING.weights, photo_weights={})
    label_aware = Scoring(DEFAULT_SCORING.weights, photo_weights=DEFAULT_SCORING.weights)
    for mode in ("never", "auto"):
        t0 = time.perf_counter()
        queries = embed_queries(photos, embedder, localise=mode)
        seconds = time.perf_counter() - t0
        print(f"embedded {len(queries.raw)} photos, localise {mode}: {seconds:.0f} s", flush=True)
        assert not queries.skipped, queries.skipped
        results["photos_judged_photo"] = sum(queries.photo)
        if mode == "never":
            results["head_top1_whole_photo"] = head_accuracy(embedder, queries)
            print("heads' top-1", results["head_top1_whole_photo"], flush=True)
        for name, scoring in (
            ("photos by cosine", cosine_photos),
            (f"photos label-aware ({weights_of(label_aware)})", label_aware),
            ("the product's default ranking", DEFAULT_SCORING),
        ):
            key = f"localise {mode}, {name}"
            results["variants"][key] = scores(index, queries, scoring)
            print(key, results["variants"][key], flush=True)
    save_json(results, args.out / "real_photos.json")
    print(f"wrote {args.out / 'real_photos.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
