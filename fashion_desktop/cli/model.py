"""``fashion-desktop model export``: Keras weights → the LiteRT model the application runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fashion_desktop.cli.common import EXIT_OK, status
from fashion_desktop.core.errors import FashionDesktopError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "model", help="export a model to LiteRT", add_arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.export import DEFAULT_CALIBRATION_IMAGES, IDENTITY_MIN_COSINE

    actions = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="convert Keras weights to the .tflite model the application runs (needs TensorFlow)",
        description="Write DIR/model.tflite (run on LiteRT by the window, search, index build "
        "and evaluate), its identity DIR/model.json and the classifier heads. A float32 export "
        f"keeps the Keras model's identity only if their embeddings agree (cosine >= "
        f"{IDENTITY_MIN_COSINE:g}). "
        "Use DIR with --weights.",
    )
    export.add_argument(
        "weights",
        metavar="MODEL",
        help="Keras weights: a model folder written by `train`, a .weights.h5 file, a .npz "
        "bundle, 'bundled', 'imagenet' or 'random'",
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write")
    export.add_argument(
        "--int8",
        action="store_true",
        help="full-integer int8 (per-channel weights), calibrated on --calibration",
    )
    export.add_argument(
        "--calibration",
        type=Path,
        action="append",
        metavar="CATALOG",
        help="with --int8: a catalogue whose images calibrate it (repeat it for products and "
        "for photos; every other product shot is shown as a simulated photo)",
    )
    export.add_argument(
        "--calibration-images",
        type=int,
        default=DEFAULT_CALIBRATION_IMAGES,
        help="with --int8: how many calibration images (default %(default)s)",
    )
    export.add_argument(
        "--keep-float",
        type=int,
        default=0,  # export_model's keep_float default (core/export.py names no constant)
        metavar="N",
        help="with --int8: keep the N layers that lose most in int8 in float (LiteRT's "
        "quantisation debugger; default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from fashion_desktop.core.embedder import resolve_weights
    from fashion_desktop.core.export import calibration_images, export_model
    from fashion_desktop.core.keras_backbone import require_tensorflow

    require_tensorflow()
    if args.calibration is not None and not args.int8:
        raise FashionDesktopError("--calibration is for --int8 exports.")
    if args.int8 and args.calibration is None:
        raise FashionDesktopError("--int8 needs --calibration CATALOG (images to calibrate on).")
    choice = resolve_weights(None if args.weights == "bundled" else args.weights, keras=True)
    calibration = calibration_images(args.calibration, args.calibration_images) if args.int8 else []
    with status("Exporting the model…"):
        report = export_model(
            choice,
            args.out.expanduser(),
            int8=args.int8,
            calibration=calibration,
            keep_float=args.keep_float,
            progress=lambda message: print(f"… {message}", file=sys.stderr),
        )
    print(
        f"Wrote {report.model} ({report.precision}, {report.size_bytes / 2**20:.1f} MiB, "
        f"{report.seconds:.0f} s); embeddings agree with Keras to cosine "
        f"{report.agreement_min_cosine:.5f} (worst of {report.agreement_images} images). Use it "
        f"with --weights {args.out}."
    )
    return EXIT_OK
