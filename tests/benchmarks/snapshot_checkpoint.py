"""A model folder from an unfinished ``train --photos`` checkpoint, to probe a run half-way.

    python tests/benchmarks/snapshot_checkpoint.py RUN_DIR/checkpoint/alignment-W \
        --frozen-stages N --out bench-out/snapshots/NAME [--init bundled|MODEL_DIR]
    python tests/benchmarks/bench_instance_probe.py --weights bench-out/snapshots/NAME ...

The checkpoint holds the trainable weights (the backbone's, in order, then the heads' kernels
and biases by head name: the pytree ``{"backbone": [...], "heads": {...}}`` flattened) with
AdamW's moments after them; the frozen weights are the starting model's. ``--init`` and
``--frozen-stages`` must be the run's. The snapshot has the starting model's heads for those the
run does not train. Nothing in the checkpoint is changed.
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
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.keras_backbone import save_weights_bundle
from fashion_desktop.core.training.photos import HEADS, build_backbone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="RUN_DIR/checkpoint/alignment-W")
    parser.add_argument("--frozen-stages", type=int, required=True)
    parser.add_argument("--init", default="bundled")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params_file, progress_file = args.checkpoint / "params.npz", args.checkpoint / "progress.json"
    if not params_file.is_file() or not progress_file.is_file():
        sys.exit(f"{args.checkpoint} holds no unfinished run (params.npz and progress.json)")
    choice = resolve_weights(None if args.init == "bundled" else args.init, keras=True)
    if choice.path is None or choice.heads is None:
        sys.exit("--init must be the bundled model or a model folder with heads")
    backbone = build_backbone(choice.path, args.frozen_stages)
    heads = ClassifierHeads.load(choice.heads)
    trained = sorted(name for name in heads.heads if name in HEADS)
    with np.load(params_file, allow_pickle=False) as archive:
        leaves = [archive[f"a{i:04d}"] for i in range(len(archive.files))]
    variables = backbone.trainable_variables
    head_leaves = leaves[len(variables) : len(variables) + 2 * len(trained)]
    for variable, value in zip(variables, leaves, strict=False):
        if tuple(variable.shape) != value.shape:
            sys.exit("the checkpoint does not fit this model: check --init and --frozen-stages")
        variable.assign(value)
    by_name = {
        name: (head_leaves[2 * n + 1], head_leaves[2 * n])  # (kernel, bias): keys sort b < k
        for n, name in enumerate(trained)
    }
    for name, (kernel, bias) in by_name.items():
        if (
            kernel.shape != heads.heads[name].kernel.shape
            or bias.shape != heads.heads[name].bias.shape
        ):
            sys.exit(f"the checkpoint's {name} head does not fit the starting model's")
    snapshot_heads = ClassifierHeads(
        [
            ClassifierHead(name, *map(np.asarray, by_name[name]), head.classes)
            if name in by_name
            else head
            for name, head in heads.heads.items()
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    save_weights_bundle(
        [np.asarray(w, np.float32) for w in backbone.get_weights()],
        [w.path for w in backbone.weights],
        args.out / "backbone.f16.npz",
    )
    snapshot_heads.save(args.out / "heads.npz")
    step = json.loads(progress_file.read_text(encoding="utf-8"))["step"]
    print(f"{args.out}: the run at step {step}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
