"""Index build throughput against the usual open-source baseline and the batched ceiling (issue 2).

    python tests/benchmarks/bench_build.py [--count 2000] [--out bench-out/build]

Three measurements on the same ``--count`` shared-catalogue images, in one run:

* **baseline** — what common open-source fashion recommenders do: ResNet50 + GlobalMaxPooling2D,
  ``keras.utils.load_img`` per file, one ``model.predict`` call per image, features appended to a
  Python list (same weights as ours, so only the method differs);
* **ours** — ``build_index`` end to end: read, hash, decode in threads overlapped with batched
  inference, checkpoints, SQLite, manifest (the ``fashion-desktop index build`` code path);
* **ceiling** — the bare batched forward pass on pre-decoded uint8 tensors (no I/O at all).

Also reports achieved GFLOP/s (ResNet50 ≈ 8.2 GFLOP per 224×224 image) against the machine's
measured float32 matmul GFLOP/s. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import machine_summary, save_json, split_ids, write_subset_catalogue

from fashion_desktop.core.builder import build_index
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.imaging import load_model_input
from fashion_desktop.resources import bundled_weights_path

RESNET50_GFLOP = 8.2


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def baseline(paths: list[Path], weights: Path) -> float:
    """The common recommender recipe, timed over all ``paths`` (model built beforehand)."""
    import keras

    base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(224, 224, 3))
    base.trainable = False
    model = keras.Sequential([base, keras.layers.GlobalMaxPooling2D()])
    # Same weights as ours (ImageNet cannot be downloaded here); speed does not depend on them.
    reference = Embedder.load(str(weights), warm=False).model
    base.set_weights(reference.get_weights())
    preprocess = keras.applications.resnet50.preprocess_input
    model.predict(np.zeros((1, 224, 224, 3), np.float32), verbose=0)
    t0 = time.perf_counter()
    features = []
    for path in paths:
        img = keras.utils.load_img(path, target_size=(224, 224))
        x = np.expand_dims(keras.utils.img_to_array(img), axis=0)
        result = model.predict(preprocess(x), verbose=0).flatten()
        features.append(result / np.linalg.norm(result))
    return len(paths) / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-out/build"))
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = write_subset_catalogue(split_ids("train", args.count), args.out / "subset.csv")
    catalogue = read_catalogue(csv_path)
    paths = [item.image_path for item in catalogue.items]
    weights = bundled_weights_path()
    results: dict = {"machine": machine_summary(), "images": len(paths)}
    results["matmul_gflops"] = round(matmul_gflops(), 1)
    print(f"float32 matmul: {results['matmul_gflops']} GFLOP/s", flush=True)

    kwargs = {"batch_size": args.batch_size} if args.batch_size else {}
    embedder = Embedder.load(str(weights), **kwargs)
    results["batch_size"] = embedder.batch_size
    index_dir = args.out / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.rmtree(args.out / ".index.building", ignore_errors=True)
    t0 = time.perf_counter()
    report = build_index(catalogue, index_dir, embedder)
    ours = report.indexed / (time.perf_counter() - t0)
    results["ours_images_per_s"] = round(ours, 2)
    print(f"ours: {ours:.2f} images/s", flush=True)

    pixels = np.stack([load_model_input(p)[0] for p in paths])
    embedder.embed_batch(pixels[: embedder.batch_size * 2])  # trace + warm the batch function
    t0 = time.perf_counter()
    embedder.embed_batch(pixels)
    ceiling = len(paths) / (time.perf_counter() - t0)
    results["ceiling_images_per_s"] = round(ceiling, 2)
    print(f"ceiling: {ceiling:.2f} images/s", flush=True)
    del pixels

    if not args.skip_baseline:
        base = baseline(paths, weights)
        results["baseline_images_per_s"] = round(base, 2)
        results["speedup_vs_baseline"] = round(ours / base, 2)
        print(f"baseline: {base:.2f} images/s", flush=True)
    results["fraction_of_ceiling"] = round(ours / ceiling, 3)
    results["achieved_gflops"] = round(ours * RESNET50_GFLOP, 1)
    results["ceiling_gflops"] = round(ceiling * RESNET50_GFLOP, 1)
    save_json(results, args.out / "build.json")
    print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
