"""The ``fashion-desktop`` command: the window by default, and index/search/evaluate subcommands.

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
from fashion_desktop.core.errors import FashionDesktopError

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

    evaluate = commands.add_parser("evaluate", help="measure retrieval precision/recall/mAP")
    evaluate.add_argument("--index", type=Path, required=True)
    evaluate.add_argument("--queries", type=Path, help="query catalogue (default: leave-one-out)")
    evaluate.add_argument("-k", type=int, default=5)
    evaluate.add_argument(
        "--fields",
        help="comma-separated fields (default: articleType,baseColour,gender,masterCategory)",
    )
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        "index": _index_command,
        "search": _search_command,
        "evaluate": _evaluate_command,
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
    from fashion_desktop.core.builder import BuildInterruptedError, build_index
    from fashion_desktop.core.catalogue import read_catalogue

    if args.batch_size is not None and args.batch_size < 1:
        raise FashionDesktopError("--batch-size must be at least 1.")
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
    print(f"  model:      {manifest['model']['source']} ({manifest['model']['fingerprint'][:16]})")
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
    engine = SearchEngine(index, _load_embedder(args.weights))
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
        print(f"  {hit.rank}. {hit.score:.3f}  {hit.item_id:<8} {kind:<32} {name}")
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in response.timings_ms.items())
    print(f"  ({timings})")


def _evaluate_command(args: argparse.Namespace) -> int:
    from fashion_desktop.core.catalogue import read_catalogue
    from fashion_desktop.core.evaluation import DEFAULT_FIELDS, embed_queries, evaluate
    from fashion_desktop.core.index import EmbeddingIndex

    if args.k < 1:
        raise FashionDesktopError("-k must be at least 1.")
    fields = tuple(f.strip() for f in args.fields.split(",")) if args.fields else DEFAULT_FIELDS
    index = EmbeddingIndex.open(args.index)
    queries = read_catalogue(args.queries) if args.queries else None
    query_set = None
    if queries is not None:
        embedder = _load_embedder(args.weights)
        index.check_model(embedder.identity)
        with _progress_bar("Embedding queries", len(queries)) as update:
            query_set = embed_queries(queries, embedder, update)
    report = evaluate(index, query_set, k=args.k, fields=fields)
    if args.json:
        print(json.dumps(report.to_json()))
        return EXIT_OK
    print(
        f"{report.mode}: {report.queries:,} queries against {report.index_items:,} items, "
        f"k = {report.k}"
        + (f", {len(report.skipped)} unreadable skipped" if report.skipped else "")
    )
    print(f"{'field':<16}{'P@k':>8}{'R@k':>8}{'mAP@k':>8}{'hit@k':>8}{'queries':>9}")
    for name, scores in report.fields.items():
        print(
            f"{name:<16}{scores.precision:>8.3f}{scores.recall:>8.4f}{scores.map:>8.3f}"
            f"{scores.hit_rate:>8.3f}{scores.queries:>9,}"
        )
    return EXIT_OK


def _window_command(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from fashion_desktop.gui.app import run_app
    except ImportError as error:  # the window needs PySide6; the CLI does not
        raise FashionDesktopError(f"The window cannot start: {error}") from None
    return run_app(args)
