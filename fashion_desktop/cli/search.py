"""``fashion-desktop search IMAGE...``: the catalogue items most similar to images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fashion_desktop.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_ranking_options,
    default_index,
    load_embedder,
    print_error,
    scoring_of,
)
from fashion_desktop.core.errors import FashionDesktopError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "search", help="find the items most similar to images", add_arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.search import DEFAULT_K

    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--index", type=Path, help="index folder (default: the bundled demo)")
    parser.add_argument(
        "-k", type=int, default=DEFAULT_K, help=f"results per query (default {DEFAULT_K})"
    )
    parser.add_argument(
        "--filter",
        action="append",
        metavar="FIELD=VALUE",
        help="only items with this value; repeat for more (OR within a field)",
    )
    parser.add_argument("--blend", action="store_true", help="merge all images into one query")
    parser.add_argument("--json", action="store_true", help="print JSON Lines, one per query")
    parser.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    add_ranking_options(parser)


def run(args: argparse.Namespace) -> int:
    from fashion_desktop.core.filters import Filters
    from fashion_desktop.core.imaging import load_image
    from fashion_desktop.core.index import EmbeddingIndex
    from fashion_desktop.core.search import SearchEngine

    if args.k < 1:
        raise FashionDesktopError("-k must be at least 1.")
    filters = Filters.parse(args.filter)
    index = EmbeddingIndex.open(args.index or default_index())
    filters.check_fields(index.fields)
    known = {name: [v for v, _ in index.field_values(name)] for name in filters}
    for warning in filters.unmatched_values(known):
        print_error(f"warning: {warning}")
    queries, failed = [], 0
    for path in args.images:
        try:
            queries.append(load_image(path))
        except FashionDesktopError as error:
            print_error(str(error))
            failed += 1
    if not queries:
        return EXIT_FAILED
    engine = SearchEngine(
        index, load_embedder(args.weights), scoring=scoring_of(args), localise=args.localise
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
    print(f"  (scores: {response.scoring}, scaled to 0..1; {timings})")
