"""LiteRT against today's TensorFlow path, and int8 against float32 (issue 13), in one run.

    python tests/benchmarks/bench_litert.py [--out bench-out/litert] [--int8 DIR ...]
        [--index-items 3000] [--queries 500] [--photos 300]

* start-up: a fresh process imports what it needs, loads the bundled model and embeds one image
  (TensorFlow: Keras ResNet50 from the float16 bundle behind a fixed-shape ``tf.function``, the
  path the application used before; LiteRT: ``Embedder.load``), three runs each, median;
* speed: batch-1 embedding p50 over 40 catalogue images, and batch throughput over 256 (what
  ``index build`` runs: TensorFlow at batch 16 as before, LiteRT at the product's batch);
* agreement: cosine between LiteRT and Keras embeddings of the same 64 images;
* quality, each model in the same run: an index of ``--index-items`` ``train`` items plus the
  photos' items, built with the product's code (label signatures, default ranking); P@5 of
  ``--queries`` ``val`` items (article type, colour) and exact-item R@5 of ``--photos``
  synthetic photos (``make_photo_queries.py``'s yardstick, localised as ``search`` does).

Each ``--int8 DIR`` is a model folder written by ``fashion-desktop model export --int8``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import ROOT, SHARED, machine_summary, save_json, split_ids, write_subset_catalogue

from fashion_desktop.core.imaging import load_model_input

STARTUP_RUNS = 3

TF_STARTUP = """
    import time
    started = time.perf_counter()
    import os, numpy as np
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import keras, tensorflow as tf
    from fashion_desktop.core.keras_backbone import build_resnet50, load_weights_file
    from fashion_desktop.resources import bundled_weights_path
    model = build_resnet50(None)
    load_weights_file(model, bundled_weights_path())
    spec = tf.TensorSpec((1, 224, 224, 3), tf.uint8)
    pre = keras.applications.resnet50.preprocess_input
    forward = tf.function(lambda x: model(pre(tf.cast(x, tf.float32)), training=False),
                          input_signature=[spec], autograph=False)
    forward(np.full((1, 224, 224, 3), 255, np.uint8)).numpy()
    print(time.perf_counter() - started)
"""

LITERT_STARTUP = """
    import time
    started = time.perf_counter()
    import numpy as np
    from fashion_desktop.core.embedder import Embedder
    embedder = Embedder.load({weights!r})
    print(time.perf_counter() - started)
"""


def startup_seconds(code: str) -> float:
    runs = []
    for _ in range(STARTUP_RUNS):
        completed = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        runs.append(float(completed.stdout.strip().splitlines()[-1]))
    return float(np.median(runs))


class TensorFlowPath:
    """The application's model path before LiteRT: Keras + fixed-shape tf.function."""

    def __init__(self) -> None:
        import keras
        import tensorflow as tf

        from fashion_desktop.core.keras_backbone import build_resnet50, load_weights_file
        from fashion_desktop.resources import bundled_weights_path

        self.model = build_resnet50(None)
        load_weights_file(self.model, bundled_weights_path())
        pre = keras.applications.resnet50.preprocess_input
        self.functions = {}
        for batch in (1, 16):
            spec = tf.TensorSpec((batch, 224, 224, 3), tf.uint8)
            self.functions[batch] = tf.function(
                lambda x: self.model(pre(tf.cast(x, tf.float32)), training=False),
                input_signature=[spec],
                autograph=False,
            )

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.functions[len(images)](images).numpy()


def speed(embed_one, embed_many, images: np.ndarray, batch: int) -> dict:
    embed_one(images[0])
    times = []
    for image in images[:40]:
        started = time.perf_counter()
        embed_one(image)
        times.append((time.perf_counter() - started) * 1000)
    many = images[: 256 // batch * batch]
    embed_many(many[:batch])
    started = time.perf_counter()
    embed_many(many)
    elapsed = time.perf_counter() - started
    return {
        "batch1_p50_ms": round(float(np.median(times)), 1),
        "batch1_p90_ms": round(float(np.percentile(times, 90)), 1),
        "batch": batch,
        "batch_images_per_s": round(len(many) / elapsed, 1),
    }


def index_build(root: Path, catalogue: Path, out: Path, weights: str | None) -> dict:
    """``fashion-desktop index build`` of ``catalogue`` from the checkout ``root`` (a fresh
    process: model load included in the wall time, as a user runs it)."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "fashion_desktop", "index", "build", str(catalogue)]
    command += ["--out", str(out), "--dim", "full"]
    if weights:
        command += ["--weights", weights]
    started = time.perf_counter()
    subprocess.run(command, cwd=root, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    items = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["count"]
    return {"items": items, "wall_s": round(wall, 1), "images_per_s": round(items / wall, 1)}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def quality(
    weights: str, work: Path, index_csv: Path, queries_csv: Path, photos_csv: Path, real_csv: Path
):
    from fashion_desktop.core.builder import build_index
    from fashion_desktop.core.catalogue import read_catalogue
    from fashion_desktop.core.embedder import Embedder
    from fashion_desktop.core.evaluation import embed_queries, evaluate, evaluate_photos
    from fashion_desktop.core.index import EmbeddingIndex

    embedder = Embedder.load(weights)
    index_dir = work / "index"
    started = time.perf_counter()
    if not (index_dir / "manifest.json").is_file():
        build_index(read_catalogue(index_csv), index_dir, embedder)
    build_s = time.perf_counter() - started
    index = EmbeddingIndex.open(index_dir)
    queries = embed_queries(read_catalogue(queries_csv), embedder, localise="auto")
    report = evaluate(index, queries, k=5, fields=("articleType", "baseColour"))
    photos = embed_queries(read_catalogue(photos_csv), embedder, localise="auto")
    photo_report = evaluate_photos(index, photos, ks=(1, 5))
    real = embed_queries(read_catalogue(real_csv), embedder, localise="auto")
    real_fields = ("masterCategory", "subCategory", "articleType", "baseColour")
    real_report = evaluate(index, real, k=5, fields=real_fields)
    return {
        "identity": embedder.identity.to_json(),
        "index_build_s": round(build_s, 1),
        "catalogue_P@5": {n: round(s.precision, 4) for n, s in report.fields.items()},
        "photo_R@1": round(photo_report.recall[1], 4),
        "photo_R@5": round(photo_report.recall[5], 4),
        "photos": photo_report.queries,
        "real_photos_P@5": {n: round(s.precision, 4) for n, s in real_report.fields.items()},
        "real_photos": len(real.raw),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "litert")
    parser.add_argument("--int8", type=Path, action="append", default=[])
    parser.add_argument("--float", type=Path, help="the float32 model (default: the bundled one)")
    parser.add_argument("--index-items", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument(
        "--photo-queries", type=Path, default=ROOT / "bench-out" / "photos" / "queries"
    )
    parser.add_argument("--skip-tensorflow", action="store_true")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of the TensorFlow version (e.g. a git worktree of e33253f): its "
        "`index build` is timed on the same images, on this interpreter",
    )
    parser.add_argument("--build-items", type=int, default=1000)
    parser.add_argument(
        "--quality-only", action="store_true", help="skip start-up, speed and index build"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": machine_summary()}

    from fashion_desktop.core.embedder import Embedder

    val = split_ids("val")
    sample = [load_model_input(SHARED / "catalog" / "images" / f"{i}.jpg")[0] for i in val[:256]]
    images = np.stack(sample)

    if args.quality_only:
        return quality_section(args, result, val)
    result["startup_s"] = {"litert-float32": startup_seconds(LITERT_STARTUP.format(weights=None))}
    for folder in args.int8:
        code = LITERT_STARTUP.format(weights=str(folder))
        result["startup_s"][f"litert-int8 {folder.name}"] = startup_seconds(code)
    if not args.skip_tensorflow:
        result["startup_s"]["tensorflow"] = startup_seconds(TF_STARTUP)
    print(json.dumps(result["startup_s"]), flush=True)

    litert = Embedder.load()
    result["speed"] = {
        "litert-float32": speed(litert.embed_one, litert.embed_batch, images, litert.batch_size)
    }
    for folder in args.int8:
        model = Embedder.load(folder)
        result["speed"][f"litert-int8 {folder.name}"] = speed(
            model.embed_one, model.embed_batch, images, model.batch_size
        )
    if not args.skip_tensorflow:
        tf_path = TensorFlowPath()

        def tf_many(batch: np.ndarray) -> np.ndarray:
            return np.concatenate(
                [tf_path.embed(batch[i : i + 16]) for i in range(0, len(batch), 16)]
            )

        result["speed"]["tensorflow"] = speed(
            lambda image: tf_path.embed(image[np.newaxis]), tf_many, images, 16
        )
        probe = images[:64]
        keras_raw = np.concatenate([tf_path.embed(probe[i : i + 16]) for i in range(0, 64, 16)])
        agreement = cosines(keras_raw, litert.embed_batch(probe))
        result["agreement_float32_vs_keras"] = {
            "min_cosine": round(float(agreement.min()), 6),
            "median_cosine": round(float(np.median(agreement)), 6),
            "images": len(probe),
        }
        for folder in args.int8:
            model = Embedder.load(folder)
            agreement = cosines(keras_raw, model.embed_batch(probe))
            result[f"agreement_int8_{folder.name}_vs_keras"] = {
                "min_cosine": round(float(agreement.min()), 4),
                "median_cosine": round(float(np.median(agreement)), 4),
            }
    print(json.dumps(result["speed"]), flush=True)

    build_csv = write_subset_catalogue(
        split_ids("train")[-args.build_items :], args.out / "build-items.csv"
    )
    builds = {"litert-float32": (ROOT, None)}
    builds |= {f"litert-int8 {f.name}": (ROOT, str(f.resolve())) for f in args.int8}
    if args.baseline:
        builds["tensorflow"] = (args.baseline.resolve(), None)
    result["index_build"] = {
        name: index_build(root, build_csv.resolve(), (args.out / "build" / name).resolve(), w)
        for name, (root, w) in builds.items()
    }
    print(json.dumps(result["index_build"]), flush=True)
    return quality_section(args, result, val)


def quality_section(args: argparse.Namespace, result: dict, val: list[str]) -> int:
    import csv

    from bench_real_photos import write_real_photos

    from fashion_desktop.resources import bundled_model_path

    photos_csv = args.photo_queries / "photos.csv"
    if not photos_csv.is_file():
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).parent / "make_photo_queries.py"),
                "--count",
                str(args.photos),
                "--out",
                str(args.photo_queries),
            ],
            check=True,
        )
    with photos_csv.open(encoding="utf-8") as handle:
        photo_ids = [row["id"] for row in csv.DictReader(handle)][: args.photos]
    index_csv = write_subset_catalogue(
        split_ids("train", args.index_items) + photo_ids, args.out / "index-items.csv"
    )
    queries_csv = write_subset_catalogue(val[: args.queries], args.out / "queries.csv")
    real_csv = write_real_photos(args.out / "val-photos.csv")
    result["quality"] = {}
    models = [("litert-float32", str(args.float or bundled_model_path()))]
    models += [(f"litert-int8 {f.name}", str(f)) for f in args.int8]
    for name, weights in models:
        work = args.out / name.replace(" ", "-")
        result["quality"][name] = quality(
            weights, work, index_csv, queries_csv, photos_csv, real_csv
        )
        print(name, json.dumps(result["quality"][name]), flush=True)
    save_json(result, args.out / ("quality.json" if args.quality_only else "litert.json"))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
