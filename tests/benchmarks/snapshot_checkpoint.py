"""A model folder from an unfinished ``train --photos`` checkpoint, to probe a run half-way.

    python tests/benchmarks/snapshot_checkpoint.py RUN_DIR/checkpoint/alignment-W \
        --frozen-stages N --out bench-out/snapshots/NAME [--init bundled|MODEL_DIR]
    python tests/benchmarks/bench_instance_probe.py --weights bench-out/snapshots/NAME ...

The checkpoint's trained weights (``photos.trained_params``: the backbone's trainable weights,
then the trained heads) are written over the starting model's, as the run's end would
(``photos.apply_trained_params``); AdamW's moments are left out. ``--init`` and
``--frozen-stages`` must be the run's. The folder also gets the run's report so far
(``photo_training_report.json``: steps, seconds and the logged history, which
``build/bundle_model.py`` ships) and its curves (``training_curves.png``). Nothing in the
checkpoint is changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from fashion_desktop.core.embedder import resolve_weights
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.keras_backbone import save_weights_bundle, weights_fingerprint
from fashion_desktop.core.training.photo_checkpoint import VariantCheckpoint
from fashion_desktop.core.training.photos import (
    apply_trained_params,
    build_backbone,
    draw_mixed_curves,
    trained_params,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="RUN_DIR/checkpoint/alignment-W")
    parser.add_argument("--frozen-stages", type=int, required=True)
    parser.add_argument("--init", default="bundled")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    checkpoint = VariantCheckpoint(args.checkpoint)
    progress = checkpoint.progress()
    if progress is None:
        sys.exit(f"{args.checkpoint} holds no unfinished run (params.npz and progress.json)")
    choice = resolve_weights(None if args.init == "bundled" else args.init, keras=True)
    if choice.path is None or choice.heads is None:
        sys.exit("--init must be the bundled model or a model folder with heads")
    backbone = build_backbone(choice.path, args.frozen_stages)
    heads = ClassifierHeads.load(choice.heads)
    try:
        params = checkpoint.restore_params(trained_params(backbone, heads))
    except FashionDesktopError:
        sys.exit(
            f"{args.checkpoint} does not fit --init {args.init} with --frozen-stages "
            f"{args.frozen_stages}: give the run's own"
        )
    snapshot_heads = apply_trained_params(backbone, heads, params)
    args.out.mkdir(parents=True, exist_ok=True)
    save_weights_bundle(
        [np.asarray(w, np.float32) for w in backbone.get_weights()],
        [w.path for w in backbone.weights],
        args.out / "backbone.f16.npz",
    )
    snapshot_heads.save(args.out / "heads.npz")
    weights = [np.asarray(w, np.float16).astype(np.float32) for w in backbone.get_weights()]
    report = {
        "snapshot_of": str(args.checkpoint),
        "stopped_at_step": progress["step"],
        "planned_steps": progress.get("total_steps"),
        "seconds": progress.get("seconds"),
        "frozen_stages": args.frozen_stages,
        "init_weights": str(args.init),
        "history": progress.get("history", []),
        "fingerprint": weights_fingerprint(weights),
    }
    report_path = args.out / "photo_training_report.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    if report["history"]:
        draw_mixed_curves(report["history"], args.out / "training_curves.png")
    print(f"{args.out}: the run at step {progress['step']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
