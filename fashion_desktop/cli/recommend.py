"""``fashion-desktop recommend --client NAME``: what to show a client next, and why.

Also :func:`run_history_evaluation`, what ``evaluate --history`` runs. No model is loaded: the
index's stored vectors and metadata and the client book are all a recommendation needs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fashion_desktop.cli.common import EXIT_OK, default_index
from fashion_desktop.core.errors import FashionDesktopError

DEFAULT_RECOMMENDATIONS = 10


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "recommend",
        help="recommend catalogue items for a client of the client book",
        description="Content-based (the client's purchases, likes and shortlist), collaborative "
        "(what clients who bought the same items also bought) and hybrid. Never an item the "
        "client bought or disliked, an avoided colour, type or usage, or another gender; no "
        "near-duplicates in one list; each item says why.",
        add_arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.recommend import METHODS

    parser.add_argument("--client", required=True, metavar="NAME")
    parser.add_argument("--index", type=Path, help="index folder (default: the bundled demo)")
    parser.add_argument(
        "-k",
        type=int,
        default=DEFAULT_RECOMMENDATIONS,
        help=f"items to recommend (default {DEFAULT_RECOMMENDATIONS})",
    )
    parser.add_argument(
        "--method", choices=METHODS, default=METHODS[0], help="default: hybrid (the others: "
        "each component alone)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object")


def run(args: argparse.Namespace) -> int:
    from fashion_desktop.cli.clients import open_book
    from fashion_desktop.core.catalogue import display_name
    from fashion_desktop.core.index import EmbeddingIndex
    from fashion_desktop.core.recommend import Recommender

    if args.k < 1:
        raise FashionDesktopError("-k must be at least 1.")
    index = EmbeddingIndex.open(args.index or default_index())
    book = open_book()
    try:
        answer = Recommender(index, book).recommend(args.client, args.k, method=args.method)
    finally:
        book.close()
        index.close()
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return EXIT_OK
    for note in answer.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"Recommended for {answer.client} ({answer.method}, {answer.elapsed_ms:.0f} ms):")
    for result in answer.results:
        meta = result.metadata
        title = display_name(result.item_id, meta)
        detail = " · ".join(v for v in (meta.get("articleType"), meta.get("baseColour")) if v)
        print(f"{result.rank:>3}. {result.item_id:<8} {title}" + (f" — {detail}" if detail else ""))
        print(f"       {'; '.join(result.reasons)}")
    return EXIT_OK


def add_history_argument(parser: argparse.ArgumentParser) -> None:
    """``evaluate --history HISTORY.csv`` (added to the evaluate command's options)."""
    parser.add_argument(
        "--history",
        type=Path,
        metavar="HISTORY.csv",
        help="recommendations instead of search: hold out each client's last purchases of this "
        "purchase history (the columns `clients import-history` reads) and report Recall@10, "
        "NDCG@10, MAP@12, coverage and diversity beside popularity, random and last-purchase "
        "baselines (-k does not apply)",
    )


def run_history_evaluation(args: argparse.Namespace) -> int:
    """``evaluate --history``: the file is checked like an import, but nothing is stored."""
    from fashion_desktop.cli.clients import SHOWN_PROBLEMS
    from fashion_desktop.core.history import read_history
    from fashion_desktop.core.index import EmbeddingIndex
    from fashion_desktop.core.rec_evaluation import (
        evaluate_history,
        format_table,
        purchases_of_rows,
    )
    from fashion_desktop.core.recommend import catalogue_arrays

    index = EmbeddingIndex.open(args.index)
    try:
        arrays = catalogue_arrays(index)
        check = read_history(args.history, arrays.ids)
        if not check.ok:
            for problem in check.problems[:SHOWN_PROBLEMS]:
                print(f"  {args.history.name}: {problem}", file=sys.stderr)
            raise FashionDesktopError(
                f"{check.problem_count:,} rows of {args.history.name} have problems; fix them "
                "before evaluating (the same checks as `clients import-history`)."
            )
        evaluation = evaluate_history(arrays, purchases_of_rows(check.rows))
    finally:
        index.close()
    if args.json:
        print(json.dumps(evaluation.to_json()))
    else:
        print(format_table(evaluation))
    return EXIT_OK
