"""Fine-tuning smoke benchmark (issue 6): train on shared-catalogue items, then before/after.

    python tests/benchmarks/bench_training.py [--train-count 2000] [--query-count 300]
        [--epochs 1] [--batch-size 16] [--freeze-backbone 4] [--out bench-out/training]

1. Catalogues: the first ``--train-count`` ``train`` items of the shared catalogue (stable
   pseudo-random order) and ``--query-count`` ``val`` items as queries.
2. An index of the training items with the bundled model (reused if already built).
3. ``train`` (the ``fashion-desktop train`` code path): heads + the last ResNet stage, starting
   from the bundled model, hash split 10 % validation, augmentation on.
4. Before/after (the ``evaluate --compare-weights`` code path): the same queries against the same
   items, bundled model vs the fine-tuned one; P@k, R@k, mAP@k per field.

Wall times of every phase and the table go to ``OUT/bench_training.json``. On a GPU machine run it
with ``KERAS_BACKEND=jax`` (mixed precision is switched on automatically); see docs/training.md.
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

from common import machine_summary, save_json, split_ids, write_subset_catalogue

from fashion_desktop.core.builder import build_index
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import (
    compare_models,
    embed_queries,
    reembed_index,
)
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.training.config import TrainingConfig, TrainingProgress
from fashion_desktop.core.training.loop import train

FIELDS = ("articleType", "baseColour", "gender", "masterCategory")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def progress_printer(every: int):
    def show(state: TrainingProgress) -> None:
        if state.phase == "train" and state.step % every and state.step != state.steps:
            return
        accuracy = " ".join(f"{n} {v:.3f}" for n, v in state.accuracy.items())
        extra = ""
        if state.phase == "epoch-end" and state.val_loss is not None:
            val = " ".join(f"{n} {v:.3f}" for n, v in state.val_accuracy.items())
            extra = f" | val loss {state.val_loss:.3f} acc {val}"
        log(
            f"epoch {state.epoch}/{state.epochs} step {state.step}/{state.steps} loss "
            f"{state.loss:.3f} acc {accuracy} {state.images_per_second:.2f} img/s "
            f"ETA {state.eta_s / 60:.1f} min{extra}"
        )

    return show


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-count", type=int, default=2000)
    parser.add_argument("--query-count", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--freeze-backbone", type=int, default=4)
    parser.add_argument("--init", default="bundled")
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--projection-dim", type=int, default=0)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-out/training"))
    parser.add_argument("--fresh", action="store_true", help="retrain even if a model exists")
    args = parser.parse_args()

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "machine": machine_summary(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    train_csv = write_subset_catalogue(
        split_ids("train", args.train_count), out / "train_catalog" / "catalog.csv"
    )
    query_csv = write_subset_catalogue(
        split_ids("val", args.query_count), out / "query_catalog" / "catalog.csv"
    )

    index_dir = out / f"index-bundled-{args.train_count}"
    t0 = time.perf_counter()
    old = Embedder.load(None)
    if not index_dir.exists():
        log(f"building the index of {args.train_count} training items with the bundled model")
        build_index(read_catalogue(train_csv), index_dir, old, dim="full")
    results["index_build_s"] = round(time.perf_counter() - t0, 1)

    model_dir = out / f"model-{args.train_count}-e{args.epochs}-f{args.freeze_backbone}"
    if args.fresh:
        shutil.rmtree(model_dir, ignore_errors=True)
    config = TrainingConfig(
        catalogue=str(train_csv),
        out=str(model_dir),
        init=args.init,
        epochs=args.epochs,
        batch_size=args.batch_size,
        freeze_backbone=args.freeze_backbone,
        steps_per_epoch=args.steps_per_epoch,
        projection_dim=args.projection_dim,
    )
    log(f"training into {model_dir}")
    t0 = time.perf_counter()
    trained = train(config, progress=progress_printer(10), notify=log)
    results["train_wall_s"] = round(time.perf_counter() - t0, 1)
    report = trained.report
    results["training"] = {
        key: report.get(key)
        for key in (
            "backend",
            "device",
            "dtype_policy",
            "data",
            "trainable_backbone_parameters",
            "warm_started_classes",
            "epochs_completed",
            "history",
            "validation",
            "fit_seconds_this_run",
            "total_seconds_this_run",
        )
    }
    results["training"]["data"] = {
        k: v for k, v in report.get("data", {}).items() if k in ("train_items", "val_items")
    }

    log("before/after evaluation")
    t0 = time.perf_counter()
    index = EmbeddingIndex.open(index_dir)
    queries = read_catalogue(query_csv)
    before_queries = embed_queries(queries, old)
    new = Embedder.load(model_dir)
    after_dir = out / f"index-after-{model_dir.name}"
    shutil.rmtree(after_dir, ignore_errors=True)
    after_index = reembed_index(index, new, after_dir)
    after_queries = embed_queries(queries, new)
    comparison = compare_models(
        index, before_queries, after_index, after_queries, k=args.k, fields=FIELDS
    )
    results["compare_wall_s"] = round(time.perf_counter() - t0, 1)
    results["comparison"] = comparison.to_json()
    results["table"] = comparison.table()
    print(comparison.table(), flush=True)
    save_json(results, out / "bench_training.json")
    log(f"results in {out / 'bench_training.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
