"""``fashion-desktop index build|ann|info``: embed a catalogue into an index folder, add or drop
its approximate-search structure, describe one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fashion_desktop.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    load_embedder,
    print_error,
    progress_bar,
    stop_on_terminate,
)
from fashion_desktop.core.errors import FashionDesktopError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "index", help="build or inspect an index", add_arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.ann import ANN_ABOVE_ITEMS, ANN_MODES
    from fashion_desktop.core.index import DEFAULT_PROJECTED_DIM, PROJECT_ABOVE_ITEMS

    actions = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="embed a catalogue into an index folder")
    build.add_argument("catalogue", type=Path, help="catalogue folder or metadata CSV")
    build.add_argument("--out", type=Path, required=True, help="index folder to write")
    build.add_argument("--update", action="store_true", help="embed only new or changed images")
    build.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    # None: the embedder's own batch size (core.embedder.DEFAULT_BATCH_SIZE, see load_embedder).
    build.add_argument("--batch-size", type=int, default=None, help="images per model call")
    build.add_argument(
        "--dim",
        default="auto",  # core.builder.build_index's default; the core names no constant for it
        help=f"stored vector size: auto (PCA to {DEFAULT_PROJECTED_DIM} above "
        f"{PROJECT_ABOVE_ITEMS:,} items), full, or a number",
    )
    build.add_argument(
        "--ann",
        choices=ANN_MODES,
        default="auto",
        help=f"approximate-nearest-neighbour structure for fast search: auto (above "
        f"{ANN_ABOVE_ITEMS:,} items), on or off",
    )
    build.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="embed here, or on Ray workers (needs the cluster extra; docs/cluster.md)",
    )
    build.add_argument("--ray-address", help="Ray cluster to join (default: start Ray here)")
    build.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    ann = actions.add_parser(
        "ann",
        help="add or drop an index's approximate-search structure (nothing is re-embedded)",
    )
    ann.add_argument("index", type=Path)
    ann.add_argument(
        "mode",
        choices=ANN_MODES,
        help=f"on: build it, off: drop it, auto: as a build would (above {ANN_ABOVE_ITEMS:,} "
        "items)",
    )
    info = actions.add_parser("info", help="describe an index")
    info.add_argument("index", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.index_command == "info":
        return _info(args.index)
    if args.index_command == "ann":
        return _set_ann(args.index, args.mode)
    from fashion_desktop.core.builder import (
        BuildInterruptedError,
        build_index,
        check_output_folder,
    )
    from fashion_desktop.core.catalogue import read_catalogue

    if args.batch_size is not None and args.batch_size < 1:
        raise FashionDesktopError("--batch-size must be at least 1.")
    if args.engine == "ray":
        from fashion_desktop.core.distributed import RayEngine, import_ray

        import_ray()  # before any work: without Ray, the message says how to install it
    elif args.ray_address or args.workers is not None:
        raise FashionDesktopError("--ray-address and --workers need --engine ray.")
    check_output_folder(args.out.expanduser())
    catalogue = read_catalogue(args.catalogue)
    summary = catalogue.problem_summary()
    print(
        f"Catalogue {catalogue.csv_path}: {len(catalogue):,} items"
        + (f"; problems: {', '.join(f'{n} {k}' for k, n in summary.items())}" if summary else ""),
        file=sys.stderr,
    )
    for problem in catalogue.problems[:10]:
        print(f"  {problem}", file=sys.stderr)
    if len(catalogue.problems) > 10:
        print(f"  … and {len(catalogue.problems) - 10} more", file=sys.stderr)
    embedder = load_embedder(args.weights, args.batch_size)
    # A Ray started here is stopped by Ray's own exit handler.
    engine = (
        RayEngine(embedder, address=args.ray_address, workers=args.workers)
        if args.engine == "ray"
        else None
    )
    try:
        with stop_on_terminate(), progress_bar("Embedding", len(catalogue)) as update:
            report = build_index(
                catalogue,
                args.out,
                embedder,
                update=args.update,
                dim=args.dim,
                progress=update,
                engine=engine,
                ann=args.ann,
            )
    except BuildInterruptedError as interrupted:
        print_error(str(interrupted))
        return EXIT_INTERRUPTED
    for path, reason in report.skipped[:20]:
        print(f"  skipped {path}: {reason}", file=sys.stderr)
    if len(report.skipped) > 20:
        print(f"  … and {len(report.skipped) - 20} more skipped", file=sys.stderr)
    print(
        f"Index written to {args.out}: {report.indexed:,} items ({report.embedded:,} embedded, "
        f"{report.reused:,} reused, {report.removed:,} removed, {len(report.skipped):,} skipped) "
        f"in {report.elapsed_s:.1f} s; {report.vector_dim}-d vectors."
    )
    return EXIT_OK


def _set_ann(path: Path, mode: str) -> int:
    from fashion_desktop.core.index import read_manifest, set_ann

    if set_ann(path, mode):
        done = "built" if "ann" in read_manifest(path) else "dropped"
        print(f"Approximate-search structure {done}; nothing was re-embedded.")
    else:
        print(f"Nothing to change: the index already matches ann {mode}.")
    return _info(path)


def _info(path: Path) -> int:
    from fashion_desktop.core.embedder import EMBEDDING_DIM
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(path)
    manifest = index.manifest
    print(f"Index {path}")
    print(f"  items:      {len(index):,}")
    print(
        f"  vectors:    {manifest['vector_dim']}-d float32"
        + (f" (PCA of {EMBEDDING_DIM}-d)" if manifest["projection"] else "")
    )
    model = manifest["model"]
    runtime = f", {model['runtime']}" if model.get("runtime") else ""
    print(f"  model:      {model['source']} ({model['fingerprint'][:16]}{runtime})")
    layout = index.signature_layout
    print(
        "  labels:     "
        + (
            ", ".join(f"{name} ({len(classes)} classes)" for name, classes in layout.heads)
            if layout is not None
            else "none (ranked by cosine similarity only)"
        )
    )
    ann = manifest.get("ann")
    if index.ann is not None and isinstance(ann, dict):
        size = manifest["files"]["ann.faiss"]["bytes"] / 1e6
        labels = (
            f", {ann['recall_at_5_labels']:.3f} with labels" if "recall_at_5_labels" in ann else ""
        )
        print(
            f"  search:     approximate, {ann['kind']} ({index.ann.settings.describe()}; "
            f"{size:,.1f} MB, {ann.get('build_s', '?')} s to build)"
        )
        print(
            f"  recall@5:   {ann.get('recall_at_5', float('nan')):.3f}{labels} against exact "
            f"search, {ann.get('recall_queries', '?')} of its own items as queries"
        )
    else:
        print("  search:     exact (every item scored; no ANN structure)")
    print(f"  catalogue:  {index.catalogue_root}")
    print(f"  fields:     {', '.join(index.fields)}")
    print(f"  created:    {manifest.get('created', '?')}")
    return EXIT_OK
