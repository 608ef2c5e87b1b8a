"""Weight-space interpolation of two models of the same network (WiSE-FT style).

Usage: ``python build/interpolate_weights.py START TUNED --alpha A --out DIR``

START and TUNED are model folders (``backbone.f16.npz`` + ``heads.npz``, or the bundled layout
``resnet50_fashion.f16.npz`` + ``fashion_heads.npz``, e.g. ``resources/models``) of the same
layout, TUNED fine-tuned from START. Writes ``DIR/backbone.f16.npz`` and ``DIR/heads.npz`` holding
``(1 - A) × START + A × TUNED`` for every weight (batch-norm statistics included) and every head,
plus ``interpolation.json`` saying where they came from. ``A = 0`` is START, ``A = 1`` TUNED.
Interpolating a fine-tuned network back toward its start keeps most of what the fine-tuning
gained while giving back less of what it cost; which ``A`` ships is measured (BENCHMARKS.md).
Export DIR with ``fashion-desktop model export DIR --out OUT [--int8 ...]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_desktop.core.atomic import atomic_file  # noqa: E402
from fashion_desktop.core.embedder import HEADS_FILE_NAMES  # noqa: E402
from fashion_desktop.core.errors import ModelError  # noqa: E402
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads  # noqa: E402
from fashion_desktop.core.keras_backbone import (  # noqa: E402
    read_weights_bundle,
    save_weights_bundle,
)

BUNDLES = ("backbone.f16.npz", "resnet50_fashion.f16.npz")


def model_files(folder: Path) -> tuple[Path, Path]:
    """A model folder's float16 weights bundle and its classifier heads."""
    bundle = next((folder / n for n in BUNDLES if (folder / n).is_file()), None)
    heads = next((folder / n for n in HEADS_FILE_NAMES if (folder / n).is_file()), None)
    if bundle is None or heads is None:
        raise ModelError(
            f"{folder} needs one of {', '.join(BUNDLES)} and one of {', '.join(HEADS_FILE_NAMES)}."
        )
    return bundle, heads


def bundle_names(path: Path) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return [str(n) for n in archive["names"]]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ModelError(f"Cannot read weights bundle {path}: {error}") from None


def interpolate_heads(
    start: ClassifierHeads, tuned: ClassifierHeads, alpha: float
) -> ClassifierHeads:
    if sorted(start.names) != sorted(tuned.names):
        raise ModelError("The two models' classifier heads differ.")
    mixed = []
    for name in sorted(start.names):
        a, b = start.heads[name], tuned.heads[name]
        if a.classes != b.classes or a.kernel.shape != b.kernel.shape:
            raise ModelError(f"The two models' {name} heads have different classes.")
        mixed.append(
            ClassifierHead(
                name,
                ((1 - alpha) * a.kernel + alpha * b.kernel).astype(np.float32),
                ((1 - alpha) * a.bias + alpha * b.bias).astype(np.float32),
                a.classes,
            )
        )
    return ClassifierHeads(mixed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("start", type=Path, help="the model fine-tuning started from")
    parser.add_argument("tuned", type=Path, help="the fine-tuned model")
    parser.add_argument("--alpha", type=float, required=True, help="0 = start, 1 = tuned")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        parser.error("--alpha must lie between 0 and 1")
    try:
        start_bundle, start_heads = model_files(args.start)
        tuned_bundle, tuned_heads = model_files(args.tuned)
        names = bundle_names(start_bundle)
        if bundle_names(tuned_bundle) != names:
            raise ModelError("The two weights bundles hold different network layouts.")
        start = read_weights_bundle(start_bundle, names)
        tuned = read_weights_bundle(tuned_bundle, names)
        mixed = [(1 - args.alpha) * a + args.alpha * b for a, b in zip(start, tuned, strict=True)]
        heads = interpolate_heads(
            ClassifierHeads.load(start_heads), ClassifierHeads.load(tuned_heads), args.alpha
        )
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    save_weights_bundle(mixed, names, args.out / "backbone.f16.npz")
    heads.save(args.out / "heads.npz")
    source = {"start": str(args.start), "tuned": str(args.tuned), "alpha": args.alpha}
    with atomic_file(args.out / "interpolation.json", "w") as handle:
        handle.write(json.dumps(source, indent=2) + "\n")
    print(f"wrote {args.out}: {args.alpha:g} of the way from {args.start} to {args.tuned}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
