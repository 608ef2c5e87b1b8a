"""Make the compact model files in ``resources/models/`` from a trained model.

Usage: ``python build/bundle_model.py MODEL`` where MODEL is a model folder written by
``fashion-desktop train`` (``backbone.f16.npz`` or ``backbone.weights.h5`` with ``heads.npz``
and its training report) or a folder with the shared layout (``resnet50_fashion_notop.weights.h5``
+ ``fashion_heads.npz``). Writes ``resnet50_fashion.f16.npz`` (float16 weights, ~47 MB), the
classifier heads and the training report. Run by a developer at each model release; the files
are committed and ship with the app. Then rebuild the demo index (see README.md).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_desktop.core.embedder import (  # noqa: E402
    _load_weights_file,
    build_resnet50,
    save_weights_bundle,
    weights_fingerprint,
)
from fashion_desktop.resources import bundled_heads_path, bundled_weights_path  # noqa: E402

WEIGHTS = ("backbone.f16.npz", "backbone.weights.h5", "resnet50_fashion_notop.weights.h5")
HEADS = ("heads.npz", "fashion_heads.npz")
REPORTS = ("photo_training_report.json", "training_report.json")


def first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    source = Path(sys.argv[1])
    weights_path, heads_path = first(source, WEIGHTS), first(source, HEADS)
    if weights_path is None or heads_path is None:
        print(f"{source} holds no model: expected one of {WEIGHTS} and {HEADS}", file=sys.stderr)
        return 1
    model = build_resnet50(None)
    _load_weights_file(model, weights_path)
    weights = model.get_weights()
    out = bundled_weights_path()
    save_weights_bundle(weights, [w.path for w in model.weights], out)
    shutil.copyfile(heads_path, bundled_heads_path())
    report = first(source, REPORTS)
    if report is not None:
        shutil.copyfile(report, out.parent / "training_report.json")
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB), fingerprint "
        f"{weights_fingerprint(weights)[:16]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
