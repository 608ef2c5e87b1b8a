"""Retrieval quality: ``val`` queries against an index of ``train`` items (issue 2).

    python tests/benchmarks/bench_quality.py [--train 5000] [--val 500] [--out bench-out/quality]

For the bundled model and for random-init weights (the floor), builds an index of ``--train``
items, embeds ``--val`` query items once and reports P@5/R@5/mAP@5 per field. For the bundled
model it also rebuilds the index with PCA-projected vectors (``index build --update --dim D``,
which reuses every stored embedding) to measure the quality cost of the compact format.
Equivalent CLI: ``fashion-desktop index build TRAIN.csv --out IDX --dim full`` then
``fashion-desktop evaluate --index IDX --queries VAL.csv``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    machine_summary,
    save_json,
    split_ids,
    write_subset_catalogue,
)

from fashion_desktop.core.builder import build_index
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import embed_queries, evaluate
from fashion_desktop.core.index import EmbeddingIndex

FIELDS = ("articleType", "baseColour", "gender", "masterCategory")


def run(label: str, weights: str, train, val, out: Path, dims: tuple[int, ...]) -> dict:
    embedder = Embedder.load(weights)
    full_dir = out / f"index-{label}-full"
    t0 = time.perf_counter()
    build = build_index(train, full_dir, embedder, dim="full")
    build_s = time.perf_counter() - t0
    queries = embed_queries(val, embedder)
    results = {"build_seconds": round(build_s, 1), "variants": {}}
    variants = [("float32-2048", full_dir)]
    for dim in dims:
        target = out / f"index-{label}-pca{dim}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(full_dir, target)
        report = build_index(train, target, embedder, update=True, dim=dim)
        assert report.embedded == 0, "PCA variants must reuse the stored embeddings"
        variants.append((f"pca{dim}-float32", target))
    for name, path in variants:
        index = EmbeddingIndex.open(path)
        report = evaluate(index, queries, k=5, fields=FIELDS)
        vectors_mb = index.vectors.nbytes / 1e6
        results["variants"][name] = {
            "vector_mb_per_40k": round(vectors_mb / len(index) * 40000, 1),
            **{f: s.to_json() for f, s in report.fields.items()},
        }
        index.close()
        print(label, name, {f: round(s.precision, 4) for f, s in report.fields.items()}, flush=True)
    results["build_items"] = build.indexed
    results["queries"] = len(queries.sha256)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("bench-out/quality"))
    parser.add_argument("--skip-random", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train = read_catalogue(
        write_subset_catalogue(split_ids("train", args.train), args.out / "train.csv")
    )
    val = read_catalogue(write_subset_catalogue(split_ids("val", args.val), args.out / "val.csv"))
    results = {"machine": machine_summary(), "train_items": len(train), "val_queries": len(val)}
    from fashion_desktop.resources import bundled_weights_path

    results["bundled"] = run(
        "bundled", str(bundled_weights_path()), train, val, args.out, (128, 256, 512)
    )
    if not args.skip_random:
        results["random_init"] = run("random", "random", train, val, args.out, ())
    save_json(results, args.out / "quality.json")
    print(f"wrote {args.out / 'quality.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
