"""Make the model files in ``resources/models/`` from a trained model: one command per release.

Usage: ``python build/bundle_model.py MODEL [--int8 --calibration CATALOG ... [--keep-float N]]``
where MODEL is a model folder written by ``fashion-desktop train`` (``backbone.f16.npz`` or
``backbone.weights.h5`` with ``heads.npz`` and its training report), a folder with the shared
layout (``resnet50_fashion_notop.weights.h5`` + ``fashion_heads.npz``), or ``resources/models``
itself to re-export the bundled model. Writes ``resnet50_fashion.f16.npz`` (float16 Keras
weights, ~47 MB: where training and export start), ``resnet50_fashion.tflite`` with its identity
``resnet50_fashion.json`` (what the application runs, on LiteRT), the classifier heads and the
training report. The files are committed and ship with the app (the frozen bundle carries only
the LiteRT model). Then rebuild the demo index (see README.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_desktop.core.embedder import WeightsChoice  # noqa: E402
from fashion_desktop.core.export import calibration_images, export_model  # noqa: E402
from fashion_desktop.core.imaging import load_model_input  # noqa: E402
from fashion_desktop.core.keras_backbone import (  # noqa: E402
    build_resnet50,
    load_weights_file,
    save_weights_bundle,
    weights_fingerprint,
)
from fashion_desktop.resources import (  # noqa: E402
    bundled_heads_path,
    bundled_model_path,
    bundled_weights_path,
    demo_catalogue_path,
)

WEIGHTS = (
    "backbone.f16.npz",
    "backbone.weights.h5",
    "resnet50_fashion_notop.weights.h5",
    "resnet50_fashion.f16.npz",  # resources/models itself: re-export the bundled model only
)
HEADS = ("heads.npz", "fashion_heads.npz")
REPORTS = ("photo_training_report.json", "training_report.json")
PROBES = 24  # demo catalogue images the export compares with Keras, beside generated ones


def first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--int8", action="store_true", help="ship an int8 LiteRT model")
    parser.add_argument(
        "--calibration", type=Path, action="append", help="catalogue(s) for int8 calibration"
    )
    parser.add_argument("--keep-float", type=int, default=0, help="layers int8 keeps in float")
    parser.add_argument(
        "--calibration-images", type=int, default=300, help="int8 calibration images"
    )
    args = parser.parse_args()
    source = args.model
    weights_path, heads_path = first(source, WEIGHTS), first(source, HEADS)
    if weights_path is None or heads_path is None:
        print(f"{source} holds no model: expected one of {WEIGHTS} and {HEADS}", file=sys.stderr)
        return 1
    out = bundled_weights_path()
    if weights_path.resolve() != out.resolve():  # a new model (not a re-export of the bundle)
        model = build_resnet50(None)
        load_weights_file(model, weights_path)
        weights = model.get_weights()
        save_weights_bundle(weights, [w.path for w in model.weights], out)
        shutil.copyfile(heads_path, bundled_heads_path())
        report = first(source, REPORTS)
        if report is not None:
            shutil.copyfile(report, out.parent / "training_report.json")
        print(
            f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB), fingerprint "
            f"{weights_fingerprint(weights)[:16]}"
        )
    images = sorted((demo_catalogue_path() / "images").glob("*.jpg"))[:PROBES]
    if args.int8 and not args.calibration:
        parser.error("--int8 needs --calibration CATALOG (see build/make_calibration_sets.py)")
    calibration = (
        calibration_images(args.calibration, args.calibration_images) if args.int8 else []
    )
    exported = export_model(
        WeightsChoice("file", out, bundled_heads_path()),
        bundled_model_path().parent,
        int8=args.int8,
        calibration=calibration,
        keep_float=args.keep_float,
        probes=[load_model_input(p)[0] for p in images],
        name=bundled_model_path().name,
        progress=lambda message: print(f"… {message}", flush=True),
    )
    print(
        f"wrote {exported.model} ({exported.size_bytes / 2**20:.1f} MiB, {exported.precision}); "
        f"agreement with Keras: min cosine {exported.agreement_min_cosine} over "
        f"{exported.agreement_images} images"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
