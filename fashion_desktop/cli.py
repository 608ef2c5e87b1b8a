"""The ``fashion-desktop`` command: the window by default; index/search/evaluate/train commands.

Every subcommand is a thin shell over :mod:`fashion_desktop.core`. Expected problems (bad image,
bad catalogue, missing weights, corrupted index) print one clear line on stderr and exit non-zero;
tracebacks are only for bugs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fashion_desktop import __version__
from fashion_desktop.core import training_defaults as defaults
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.export import DEFAULT_CALIBRATION_IMAGES

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def parse_filters(pairs: Sequence[str] | None) -> dict[str, list[str]]:
    """``["gender=Men", "baseColour=Blue", "baseColour=Navy Blue"]`` → OR within, AND across."""
    filters: dict[str, list[str]] = {}
    for pair in pairs or ():
        field, sep, value = pair.partition("=")
        if not sep or not field.strip() or not value.strip():
            raise FashionDesktopError(
                f"Filter '{pair}' should look like FIELD=VALUE, e.g. gender=Women."
            )
        filters.setdefault(field.strip(), []).append(value.strip())
    return filters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fashion-desktop",
        description="Find the catalogue items most similar to a photo of a garment. "
        "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    gui = parser.add_argument_group("window options")
    gui.add_argument("--index", type=Path, help="index to open (default: last used, else the demo)")
    gui.add_argument("--query", type=Path, action="append", help="image to search at launch")
    gui.add_argument("--filter", action="append", metavar="FIELD=VALUE", help="filter at launch")
    gui.add_argument("--screenshot", type=Path, help="save a screenshot after the query and exit")
    gui.add_argument("--kiosk", action="store_true", help="full-screen, locked-down kiosk mode")
    gui.add_argument(
        "--kiosk-config",
        type=Path,
        metavar="PATH",
        help="kiosk settings JSON (idle timeout, fixed filters; default: kiosk.json in the "
        "user data folder)",
    )
    gui.add_argument(  # for review screenshots: --kiosk --screenshot OUT --kiosk-screen capture
        "--kiosk-screen",
        choices=("attract", "capture", "results", "detail"),
        help=argparse.SUPPRESS,
    )
    gui.add_argument("--weights", help="model weights (file, model folder, 'imagenet', 'random')")
    gui.add_argument("--self-test", action="store_true", help="check the installation and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser("index", help="build or inspect an index").add_subparsers(
        dest="index_command", metavar="ACTION", required=True
    )
    build = index.add_parser("build", help="embed a catalogue into an index folder")
    build.add_argument("catalogue", type=Path, help="catalogue folder or metadata CSV")
    build.add_argument("--out", type=Path, required=True, help="index folder to write")
    build.add_argument("--update", action="store_true", help="embed only new or changed images")
    build.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    build.add_argument("--batch-size", type=int, default=None, help="images per model call")
    build.add_argument(
        "--dim",
        default="auto",
        help="stored vector size: auto (PCA to 256 above 8,192 items), full, or a number",
    )
    info = index.add_parser("info", help="describe an index")
    info.add_argument("index", type=Path)

    search = commands.add_parser("search", help="find the items most similar to images")
    search.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    search.add_argument("--index", type=Path, help="index folder (default: the bundled demo)")
    search.add_argument("-k", type=int, default=5, help="results per query (default 5)")
    search.add_argument(
        "--filter",
        action="append",
        metavar="FIELD=VALUE",
        help="only items with this value; repeat for more (OR within a field)",
    )
    search.add_argument("--blend", action="store_true", help="merge all images into one query")
    search.add_argument("--json", action="store_true", help="print JSON Lines, one per query")
    search.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    _add_ranking_options(search)

    evaluate = commands.add_parser(
        "evaluate",
        help="measure retrieval precision/recall/mAP",
        description="Catalogue-style queries (--queries, default leave-one-out) and labelled real "
        "photos (--labelled-photos): P/R/mAP@k of metadata agreement. Synthetic photos "
        "(--photos): exact-item Recall@1/@k. All in one table when several are given; each "
        "query is localised and ranked exactly as `search` would.",
    )
    evaluate.add_argument("--index", type=Path, required=True)
    evaluate.add_argument("--queries", type=Path, help="query catalogue (default: leave-one-out)")
    evaluate.add_argument(
        "--photos",
        type=Path,
        metavar="PHOTO_CATALOGUE",
        help="catalogue of photos whose id column names the indexed item each shows: report "
        "exact-item Recall@1/@k (e.g. made by tests/benchmarks/make_photo_queries.py)",
    )
    evaluate.add_argument(
        "--labelled-photos",
        type=Path,
        metavar="PHOTO_CSV",
        help="real photos with labels: any catalogue CSV (an image column, or ids with "
        "images/<id>.jpg) and any of the catalogue's label columns; P/mAP@k of agreement per "
        "field, empty labels skipped (e.g. the shared real photos' val split)",
    )
    _add_ranking_options(evaluate)
    evaluate.add_argument("-k", type=int, default=5)
    evaluate.add_argument(
        "--fields",
        help="comma-separated fields (default: articleType,baseColour,gender,masterCategory)",
    )
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    evaluate.add_argument(
        "--compare-weights",
        metavar="NEW_MODEL",
        help="before/after: also re-embed the index's catalogue and the queries with this model "
        "(e.g. a folder written by `train`) and print both side by side",
    )

    train = commands.add_parser(
        "train",
        help="fine-tune the model on a catalogue (transfer learning)",
        description="Fine-tune ResNet50's last stages and one classifier head per label on a "
        "catalogue. Writes MODEL_DIR/backbone.weights.h5 and heads.npz (use them with --weights "
        "MODEL_DIR), a report and loss/accuracy curves. Ctrl-C saves a checkpoint; running the "
        "same command again resumes.",
    )
    train.add_argument("catalogue", type=Path, help="catalogue folder or metadata CSV")
    train.add_argument(
        "--out", type=Path, required=True, metavar="MODEL_DIR", help="model folder to write"
    )
    train.add_argument(
        "--init",
        default="bundled",
        help="starting weights: bundled (default), imagenet, random, or a weights file or folder",
    )
    train.add_argument(
        "--labels",
        default="articleType,baseColour,gender",
        help="comma-separated columns to learn, one head each (default: %(default)s)",
    )
    train.add_argument("--split", type=Path, help="CSV id,split with train/val (default: hash)")
    train.add_argument(
        "--val-fraction", type=float, default=0.1, help="hash split share (default 0.1)"
    )
    train.add_argument("--epochs", type=int, default=5, help="maximum epochs (default 5)")
    train.add_argument(
        "--batch-size",
        type=int,
        help=f"images per step (default {defaults.BATCH_SIZE}; with --photos, catalogue "
        f"items per step, default {defaults.PHOTO_CATALOGUE_BATCH})",
    )
    train.add_argument(
        "--freeze-backbone",
        type=int,
        metavar="N",
        help=f"ResNet stages kept frozen, 0-5 (default {defaults.FROZEN_STAGES}: train "
        f"conv5 + heads; 5: heads only; with --photos {defaults.PHOTO_FROZEN_STAGES})",
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        help=f"Adam (default {defaults.LEARNING_RATE:g}; with --photos "
        f"{defaults.PHOTO_LEARNING_RATE:g})",
    )
    train.add_argument(
        "--min-class-count",
        type=int,
        default=10,
        help="merge classes with fewer training examples into 'other' (default 10)",
    )
    train.add_argument(
        "--class-weighting",
        choices=("none", "sqrt", "balanced"),
        default="sqrt",
        help="weight rare classes up (default sqrt of inverse frequency)",
    )
    train.add_argument("--patience", type=int, default=2, help="early-stopping epochs (default 2)")
    train.add_argument("--steps-per-epoch", type=int, help="limit training steps per epoch")
    train.add_argument("--val-steps", type=int, help="limit validation steps")
    train.add_argument("--no-augment", action="store_true", help="no flip/rotate/zoom/shift")
    train.add_argument(
        "--projection-dim",
        type=int,
        default=0,
        help="add a projection head trained with a contrastive retrieval loss (not exported)",
    )
    train.add_argument(
        "--photo-views",
        type=_fraction,
        default=0.0,
        metavar="SHARE",
        help="photo-robust training: show this share (0-1) of each batch's items again as a "
        "simulated photo (busy background, angle, light, blur) (default 0: off)",
    )
    train.add_argument(
        "--instance-weight",
        type=float,
        default=0.5,
        help="weight of the term pulling an item's clean and photo views together (default 0.5)",
    )
    train.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed"),
        default="auto",
        help="auto: mixed float16 when a GPU is present (default)",
    )
    train.add_argument(
        "--photos",
        type=Path,
        metavar="PHOTO_CATALOGUE",
        help="also learn from labelled real photos (a catalogue CSV with masterCategory, "
        "subCategory and, where known, articleType; a split column's train rows are used, its "
        "val rows measured): domain-balanced batches, partial labels, cross-domain alignment. "
        "Runs on the JAX backend (KERAS_BACKEND=jax), meant for a GPU; needs --split",
    )
    train.add_argument(
        "--seconds",
        type=float,
        default=defaults.PHOTO_SECONDS,
        help="with --photos: training time per model, in seconds (default %(default)g)",
    )
    train.add_argument(
        "--alignment-weights",
        default=str(defaults.PHOTO_ALIGNMENT_WEIGHT),
        help="with --photos: comma-separated weights of the photo-catalogue alignment term; one "
        "model each, the best on the val photos and items is kept (default %(default)s)",
    )
    train.add_argument(
        "--no-baseline",
        action="store_true",
        help="with --photos: do not measure the starting model first",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=2, help="image decoding threads")
    train.add_argument("--restart", action="store_true", help="ignore a checkpoint; start over")
    train.add_argument(
        "--keep-checkpoint", action="store_true", help="keep the checkpoint weights when done"
    )
    model = commands.add_parser("model", help="export a model to LiteRT").add_subparsers(
        dest="model_command", metavar="ACTION", required=True
    )
    export = model.add_parser(
        "export",
        help="convert Keras weights to the .tflite model the application runs (needs TensorFlow)",
        description="Write DIR/model.tflite (run on LiteRT by the window, search, index build "
        "and evaluate), its identity DIR/model.json and the classifier heads. A float32 export "
        "keeps the Keras model's identity only if their embeddings agree (cosine >= 0.9999). "
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
        default=0,
        metavar="N",
        help="with --int8: keep the N layers that lose most in int8 in float (LiteRT's "
        "quantisation debugger; default 0)",
    )
    kiosk = commands.add_parser("kiosk", help="kiosk mode administration").add_subparsers(
        dest="kiosk_command", metavar="ACTION", required=True
    )
    kiosk.add_parser(
        "set-pin",
        help="set the admin PIN that exits kiosk mode (asked twice; read from stdin if piped)",
        description="Set the 4-12 digit PIN staff type to leave kiosk mode. Only a salted "
        "scrypt hash is stored, in the user data folder.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("FASHION_DESKTOP_FORBID_NETWORK"):
        from fashion_desktop.selftest import forbid_network

        forbid_network()
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        "index": _index_command,
        "search": _search_command,
        "evaluate": _evaluate_command,
        "train": _train_command,
        "model": _model_command,
        "kiosk": _kiosk_command,
        None: _window_command,
    }
    try:
        return handlers[args.command](args)
    except FashionDesktopError as error:
        _error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("Interrupted.")
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------------- helpers
def _error(message: str) -> None:
    print(f"fashion-desktop: {message}", file=sys.stderr)


def _default_index() -> Path:
    from fashion_desktop.resources import demo_index_path

    return demo_index_path()


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, not {value:g}")
    return value


def _add_ranking_options(parser: argparse.ArgumentParser) -> None:
    """How queries are localised and ranked: the same options for search and evaluate."""
    parser.add_argument(
        "--localise",
        choices=("auto", "always", "never"),
        default="auto",
        help="crop a query to the garment first (class-activation box): auto = only images that "
        "are not a product on a plain background (default), always, or never",
    )
    parser.add_argument(
        "--match-colour",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rank items the model sees in the query's colour higher (default: on)",
    )
    parser.add_argument(
        "--cosine-only",
        action="store_true",
        help="rank by embedding cosine alone, without the classifier heads' label agreement",
    )


def _scoring(args: argparse.Namespace):
    from fashion_desktop.core.scoring import COSINE_ONLY, DEFAULT_SCORING

    scoring = COSINE_ONLY if args.cosine_only else DEFAULT_SCORING
    return scoring.with_match_colour(args.match_colour)


def _load_embedder(weights: str | None, batch_size: int | None = None):
    from fashion_desktop.core.embedder import DEFAULT_BATCH_SIZE, Embedder

    with _status("Loading the model…"):
        return Embedder.load(weights, batch_size=batch_size or DEFAULT_BATCH_SIZE)


@contextlib.contextmanager
def _status(message: str) -> Iterator[None]:
    if sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status(message):
            yield
    else:
        yield


@contextlib.contextmanager
def _progress_bar(description: str, total: int):
    """A rich progress bar on stderr: count, images/s and ETA. Yields an update callback."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f} img/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total, rate=0.0)

        def update(state) -> None:
            rate = state.embedded / state.elapsed_s if state.elapsed_s else 0.0
            progress.update(task, completed=state.done, rate=rate)

        yield update


# -------------------------------------------------------------------------------- commands
def _index_command(args: argparse.Namespace) -> int:
    if args.index_command == "info":
        return _index_info(args.index)
    from fashion_desktop.core.builder import (
        BuildInterruptedError,
        build_index,
        check_output_folder,
    )
    from fashion_desktop.core.catalogue import read_catalogue

    if args.batch_size is not None and args.batch_size < 1:
        raise FashionDesktopError("--batch-size must be at least 1.")
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
    embedder = _load_embedder(args.weights, args.batch_size)
    try:
        with _progress_bar("Embedding", len(catalogue)) as update:
            report = build_index(
                catalogue, args.out, embedder, update=args.update, dim=args.dim, progress=update
            )
    except BuildInterruptedError as interrupted:
        _error(str(interrupted))
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


def _index_info(path: Path) -> int:
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(path)
    manifest = index.manifest
    print(f"Index {path}")
    print(f"  items:      {len(index):,}")
    print(
        f"  vectors:    {manifest['vector_dim']}-d float32"
        + (" (PCA of 2048-d)" if manifest["projection"] else "")
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
    print(f"  catalogue:  {index.catalogue_root}")
    print(f"  fields:     {', '.join(index.fields)}")
    print(f"  created:    {manifest.get('created', '?')}")
    return EXIT_OK


def _search_command(args: argparse.Namespace) -> int:
    from fashion_desktop.core.imaging import load_image
    from fashion_desktop.core.index import EmbeddingIndex
    from fashion_desktop.core.search import SearchEngine

    if args.k < 1:
        raise FashionDesktopError("-k must be at least 1.")
    filters = parse_filters(args.filter)
    index = EmbeddingIndex.open(args.index or _default_index())
    _check_filters(index, filters)
    queries, failed = [], 0
    for path in args.images:
        try:
            queries.append(load_image(path))
        except FashionDesktopError as error:
            _error(str(error))
            failed += 1
    if not queries:
        return EXIT_FAILED
    engine = SearchEngine(
        index, _load_embedder(args.weights), scoring=_scoring(args), localise=args.localise
    )
    if args.blend:
        responses = engine.search_images(queries, k=args.k, filters=filters, blend=True)
    else:  # one at a time: a per-image latency, and a failure never hides the others
        responses = [
            r for q in queries for r in engine.search_images([q], k=args.k, filters=filters)
        ]
    for response in responses:
        if args.json:
            print(json.dumps(response.to_json(), ensure_ascii=False), flush=True)
        else:
            _print_response(response)
    return EXIT_FAILED if failed else EXIT_OK


def _check_filters(index, filters: dict[str, list[str]]) -> None:
    """Unknown fields are errors; a value no item has gets a did-you-mean warning."""
    import difflib

    unknown = sorted(set(filters) - set(index.fields))
    if unknown:
        raise FashionDesktopError(
            f"Unknown filter field {', '.join(unknown)}; fields are: {', '.join(index.fields)}."
        )
    for field, values in filters.items():
        known = {v.casefold(): v for v, _ in index.field_values(field)}
        for value in values:
            if value.casefold() not in known:
                close = difflib.get_close_matches(value, list(known.values()), n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                _error(f"warning: no item has {field}={value}.{hint}")


def _print_response(response) -> None:
    print(f"\n{response.query}")
    if response.predicted:
        looks = " · ".join(classes[0][0] for classes in response.predicted.values())
        print(f"  looks like: {looks}")
    if not response.hits:
        print("  no matching items")
    for hit in response.hits:
        meta = hit.metadata
        kind = " · ".join(
            v for v in (meta.get("gender"), meta.get("articleType"), meta.get("baseColour")) if v
        )
        name = meta.get("productDisplayName", "")
        print(f"  {hit.rank}. {hit.similarity:.3f}  {hit.item_id:<8} {kind:<32} {name}")
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in response.timings_ms.items())
    print(f"  ({timings})")


def _evaluate_command(args: argparse.Namespace) -> int:
    from fashion_desktop.core.catalogue import read_catalogue
    from fashion_desktop.core.evaluation import (
        DEFAULT_FIELDS,
        LABEL_FIELDS,
        embed_queries,
        evaluate,
        evaluate_photos,
    )
    from fashion_desktop.core.index import EmbeddingIndex

    if args.k < 1:
        raise FashionDesktopError("-k must be at least 1.")
    fields = tuple(f.strip() for f in args.fields.split(",")) if args.fields else DEFAULT_FIELDS
    index = EmbeddingIndex.open(args.index)
    queries = read_catalogue(args.queries) if args.queries else None
    photos = read_catalogue(args.photos) if args.photos else None
    labelled = read_catalogue(args.labelled_photos) if args.labelled_photos else None
    if args.compare_weights:
        if photos is not None or labelled is not None:
            raise FashionDesktopError("Photos cannot be combined with --compare-weights yet.")
        return _compare_models(args, index, queries, fields)
    query_set = photo_set = labelled_set = None
    labelled_fields: list[str] = []
    if labelled is not None:
        labelled_fields = [
            name for name in LABEL_FIELDS if name in labelled.fields and name in index.fields
        ]
        if args.fields:
            labelled_fields = [name for name in labelled_fields if name in fields]
        if not labelled_fields:
            raise FashionDesktopError(
                f"{args.labelled_photos} has no label column the index also has "
                f"({', '.join(name for name in LABEL_FIELDS if name in index.fields)})."
            )
    if queries is not None or photos is not None or labelled is not None:
        embedder = _load_embedder(args.weights)
        index.check_model(embedder.identity)

        def embed(catalogue, what: str):
            if catalogue is None:
                return None
            with _progress_bar(f"Embedding {what}", len(catalogue)) as update:
                return embed_queries(catalogue, embedder, update, localise=args.localise)

        query_set = embed(queries, "queries")
        photo_set = embed(photos, "photos")
        labelled_set = embed(labelled, "labelled photos")
    # Leave-one-out is the default only when no query of any kind is given.
    scoring = _scoring(args)
    report = (
        evaluate(index, query_set, k=args.k, fields=fields, scoring=scoring)
        if queries is not None or (photos is None and labelled is None)
        else None
    )
    labelled_report = (
        evaluate(index, labelled_set, k=args.k, fields=labelled_fields, scoring=scoring)
        if labelled_set is not None
        else None
    )
    photo_report = (
        evaluate_photos(index, photo_set, ks=(1, args.k), scoring=scoring)
        if photo_set is not None
        else None
    )
    if args.json:
        if photo_report is None and labelled_report is None and report is not None:
            print(json.dumps(report.to_json()))
        else:
            print(
                json.dumps(
                    {
                        "catalogue": report.to_json() if report is not None else None,
                        "labelled_photos": (
                            labelled_report.to_json() if labelled_report is not None else None
                        ),
                        "photos": photo_report.to_json() if photo_report is not None else None,
                    }
                )
            )
        return EXIT_OK
    named = [
        (title, r)
        for title, r in (
            ("catalogue-style" if report and report.mode == "queries" else "leave-one-out", report),
            ("real photos", labelled_report),
        )
        if r is not None
    ]
    if named:
        print(f"k = {args.k}; localisation: {args.localise}")
        _print_quality_table(named)
    if photo_report is not None:
        _print_photo_report(photo_report)
    return EXIT_OK


def _print_quality_table(named: Sequence[tuple[str, object]]) -> None:
    """One table: a row per field, P@k / R@k / mAP@k / hit@k and the query count per query set."""
    for title, report in named:
        print(
            f"{title}: {report.queries:,} queries against {report.index_items:,} items, "
            f"ranked by {report.scoring}"
            + (f", {len(report.skipped)} unreadable skipped" if report.skipped else "")
        )
    fields: list[str] = []
    for _, report in named:
        fields += [name for name in report.fields if name not in fields]
    width = 41
    print(f"{'':<16}" + "".join(f"{title:<{width}}" for title, _ in named))
    metrics = f"{'P@k':>8}{'R@k':>8}{'mAP@k':>8}{'hit@k':>8}{'queries':>9}"
    print(f"{'field':<16}" + metrics * len(named))
    for name in fields:
        row = f"{name:<16}"
        for _, report in named:
            scores = report.fields.get(name)
            if scores is None or not scores.queries:
                row += f"{'—':>8}" + " " * (width - 8)
            else:
                row += (
                    f"{scores.precision:>8.3f}{scores.recall:>8.4f}{scores.map:>8.3f}"
                    f"{scores.hit_rate:>8.3f}{scores.queries:>9,}"
                )
        print(row.rstrip())


def _print_photo_report(report) -> None:
    """Exact-item Recall@k of photos, overall and per scene when the catalogue names scenes."""
    notes = []
    if report.not_in_index:
        notes.append(f"{len(report.not_in_index)} whose item is not in the index left out")
    if report.skipped:
        notes.append(f"{len(report.skipped)} unreadable skipped")
    print(
        f"photos: {report.queries:,} queries against {report.index_items:,} items"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    print(f"ranked by {report.scoring}")
    columns = "".join(f"{f'R@{k}':>8}" for k in report.ks)
    print(f"{'exact item':<16}{columns}{f'MRR@{max(report.ks)}':>9}{'queries':>9}")
    values = "".join(f"{report.recall[k]:>8.3f}" for k in report.ks)
    print(f"{'all':<16}{values}{report.mrr:>9.3f}{report.queries:>9,}")
    for name, scores in report.groups.items():
        values = "".join(f"{scores[f'R@{k}']:>8.3f}" for k in report.ks)
        print(f"{'  ' + name:<16}{values}{'':>9}{int(scores['queries']):>9,}")


def _compare_models(args: argparse.Namespace, index, queries, fields: Sequence[str]) -> int:
    """``evaluate --compare-weights``: old model vs new, same queries and catalogue items."""
    import tempfile

    from fashion_desktop.core.evaluation import (
        check_fields,
        compare_models,
        embed_queries,
        reembed_index,
    )

    check_fields(index, fields)  # before minutes of embedding, not after
    before_queries = after_queries = None
    if queries is not None:
        old = _load_embedder(args.weights)
        index.check_model(old.identity)
        with _progress_bar("Queries, old model", len(queries)) as update:
            before_queries = embed_queries(queries, old, update, localise=args.localise)
    new = _load_embedder(args.compare_weights)
    with tempfile.TemporaryDirectory(prefix="fashion-compare-") as workdir:
        with _progress_bar("Catalogue, new model", len(index)) as update:
            after_index = reembed_index(index, new, Path(workdir) / "index", update)
        try:
            if queries is not None:
                with _progress_bar("Queries, new model", len(queries)) as update:
                    after_queries = embed_queries(queries, new, update, localise=args.localise)
            comparison = compare_models(
                index,
                before_queries,
                after_index,
                after_queries,
                k=args.k,
                fields=fields,
                scoring=_scoring(args),
            )
        finally:
            after_index.close()
    if args.json:
        print(json.dumps(comparison.to_json()))
    else:
        print(comparison.table())
    return EXIT_OK


def _model_command(args: argparse.Namespace) -> int:
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
    with _status("Exporting the model…"):
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


def _train_command(args: argparse.Namespace) -> int:
    if args.photos is not None:
        return _train_with_photos(args)
    from fashion_desktop.core.keras_backbone import require_tensorflow

    require_tensorflow()
    from fashion_desktop.core.training import (
        TrainingConfig,
        TrainingInterruptedError,
        train,
    )

    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    if not labels:
        raise FashionDesktopError("--labels needs at least one column name.")
    config = TrainingConfig(
        catalogue=str(args.catalogue),
        out=str(args.out),
        init=args.init,
        labels=labels,
        split=str(args.split) if args.split else None,
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        batch_size=args.batch_size or defaults.BATCH_SIZE,
        freeze_backbone=(
            defaults.FROZEN_STAGES if args.freeze_backbone is None else args.freeze_backbone
        ),
        learning_rate=args.learning_rate or defaults.LEARNING_RATE,
        min_class_count=args.min_class_count,
        class_weighting=args.class_weighting,
        patience=args.patience,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.val_steps,
        augment=not args.no_augment,
        projection_dim=args.projection_dim,
        photo_views=args.photo_views,
        instance_weight=args.instance_weight,
        precision=args.precision,
        seed=args.seed,
        workers=args.workers,
    )
    try:
        with _training_progress() as progress:
            result = train(
                config,
                restart=args.restart,
                keep_checkpoint=args.keep_checkpoint,
                progress=progress,
                notify=lambda message: print(message, file=sys.stderr),
            )
    except TrainingInterruptedError as interrupted:
        _error(str(interrupted))
        return EXIT_INTERRUPTED
    report = result.report
    if result.already_trained:
        print(
            f"{args.out} is already trained ({report.get('epochs_completed', '?')} epochs); pass "
            "--restart to train it again (a run kept with --keep-checkpoint can also continue "
            "with more --epochs)."
        )
        return EXIT_OK
    for path, reason in [(u["image"], u["reason"]) for u in report["data"]["unreadable"]][:10]:
        print(f"  skipped {path}: {reason}", file=sys.stderr)
    for name, scores in report["validation"].items():
        if scores.get("accuracy") is not None:
            print(
                f"  {name:<14} val accuracy {scores['accuracy']:.3f}  macro precision "
                f"{scores['precision']:.3f}  macro recall {scores['recall']:.3f}"
            )
    print(
        f"Model written to {result.model_dir} ({report['epochs_completed']} epochs"
        + (", stopped early" if report["stopped_early"] else "")
        + f", best epoch {report['best_epoch']}, {report['total_seconds_this_run']:.0f} s). Use it "
        f"with --weights {result.model_dir}, e.g. `fashion-desktop index build CATALOGUE --out "
        f"INDEX --weights {result.model_dir}`."
    )
    return EXIT_OK


def _train_with_photos(args: argparse.Namespace) -> int:
    """``train --photos``: catalogue and real photos together (:mod:`core.photo_training`)."""
    from fashion_desktop.core.embedder import resolve_weights
    from fashion_desktop.core.photo_training import MixedTrainingConfig, run_mixed_training
    from fashion_desktop.resources import bundled_heads_path, bundled_weights_path

    if args.split is None:
        raise FashionDesktopError("--photos needs --split (which catalogue items are held out).")
    if args.init == "bundled":
        weights, heads = bundled_weights_path(), bundled_heads_path()
    else:
        choice = resolve_weights(args.init, keras=True)
        if choice.path is None or choice.heads is None:
            raise FashionDesktopError(
                "--photos starts from a model with classifier heads: the bundled one or a model "
                "folder."
            )
        weights, heads = choice.path, choice.heads
    try:
        alignment = [float(w) for w in args.alignment_weights.split(",") if w.strip()]
    except ValueError:
        raise FashionDesktopError("--alignment-weights takes numbers, e.g. 0,0.5.") from None
    config = MixedTrainingConfig(
        seconds=args.seconds,
        catalogue_batch=args.batch_size or defaults.PHOTO_CATALOGUE_BATCH,
        learning_rate=args.learning_rate or defaults.PHOTO_LEARNING_RATE,
        frozen_stages=(
            defaults.PHOTO_FROZEN_STAGES if args.freeze_backbone is None else args.freeze_backbone
        ),
        seed=args.seed,
    )
    report = run_mixed_training(
        str(args.catalogue),
        str(args.photos),
        str(args.split),
        str(weights),
        str(heads),
        str(args.out),
        config,
        alignment_weights=alignment or [defaults.PHOTO_ALIGNMENT_WEIGHT],
        baseline=not args.no_baseline,
        log=lambda message: print(message, file=sys.stderr),
    )
    print(
        f"Model written to {args.out} (alignment weight {report['chosen_alignment_weight']}). "
        f"Use it with --weights {args.out}."
    )
    return EXIT_OK


@contextlib.contextmanager
def _training_progress():
    """Training progress on stderr: a rich bar on a terminal, plain lines in a log otherwise."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[metrics]}"),
        TextColumn("{task.fields[rate]:>5.1f} img/s  ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("train", total=1, epoch="", metrics="", rate=0.0, eta="?")

        def update(state) -> None:
            accuracy = " ".join(f"{n} {v:.3f}" for n, v in state.accuracy.items())
            metrics = f"loss {state.loss:.3f}  acc {accuracy}"
            eta = _duration(state.eta_s)
            if state.phase == "train":
                if not console.is_terminal and (
                    state.step % max(1, state.steps // 10) == 0 or state.step == 1
                ):  # a log file still sees the run move, about ten lines an epoch
                    console.print(
                        f"epoch {state.epoch}/{state.epochs} step {state.step}/{state.steps}: "
                        f"{metrics}  {state.images_per_second:.1f} img/s  ETA {eta}",
                        highlight=False,
                        soft_wrap=True,
                    )
                bar.update(
                    task,
                    total=state.steps,
                    completed=state.step,
                    epoch=f"{state.epoch}/{state.epochs}",
                    metrics=metrics,
                    rate=state.images_per_second,
                    eta=eta,
                )
                return
            val = ""
            if state.val_loss is not None:
                val_accuracy = " ".join(f"{n} {v:.3f}" for n, v in state.val_accuracy.items())
                val = f"  val loss {state.val_loss:.3f}  val acc {val_accuracy}"
            console.print(
                f"epoch {state.epoch}/{state.epochs}: {metrics}{val}  "
                f"{state.images_per_second:.1f} img/s  ETA {eta}",
                highlight=False,
                soft_wrap=True,
            )

        yield update


def _duration(seconds: float) -> str:
    import math

    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _kiosk_command(args: argparse.Namespace) -> int:
    """``kiosk set-pin``: the PIN is typed twice (hidden on a terminal) and stored hashed."""
    from fashion_desktop.core.kiosk_pin import check_pin_format, set_pin

    if sys.stdin.isatty():
        import getpass

        pin = getpass.getpass("New kiosk admin PIN (4-12 digits): ")
        check_pin_format(pin)
        again = getpass.getpass("Type it again: ")
    else:
        lines = sys.stdin.read().splitlines()
        pin = lines[0].strip() if lines else ""
        again = lines[1].strip() if len(lines) > 1 else pin
    check_pin_format(pin)
    if again != pin:
        raise FashionDesktopError("The two PINs differ; nothing was changed.")
    path = set_pin(pin)
    print(f"Kiosk PIN set (stored as a salted hash in {path}).")
    return EXIT_OK


def _window_command(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from fashion_desktop.gui.self_test import check_window_search
        from fashion_desktop.selftest import run_self_test

        return run_self_test(check_window_search)
    try:
        from fashion_desktop.gui.app import run_app
    except ImportError as error:  # the window needs PySide6; the CLI does not
        raise FashionDesktopError(f"The window cannot start: {error}") from None
    return run_app(args)
