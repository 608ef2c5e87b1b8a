"""``fashion-desktop evaluate``: retrieval precision/recall/mAP of an index, and before/after."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_desktop.cli.common import (
    EXIT_OK,
    add_ranking_options,
    load_embedder,
    progress_bar,
    scoring_of,
)
from fashion_desktop.core.errors import FashionDesktopError

if TYPE_CHECKING:
    from fashion_desktop.core.evaluation import EvaluationReport, PhotoReport


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "evaluate",
        help="measure retrieval precision/recall/mAP",
        description="Catalogue-style queries (--queries, default leave-one-out) and labelled real "
        "photos (--labelled-photos): P/R/mAP@k of metadata agreement. Synthetic photos "
        "(--photos): exact-item Recall@1/@k. All in one table when several are given; each "
        "query is localised and ranked exactly as `search` would.",
        add_arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.evaluation import DEFAULT_FIELDS
    from fashion_desktop.core.search import DEFAULT_K

    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, help="query catalogue (default: leave-one-out)")
    parser.add_argument(
        "--photos",
        type=Path,
        metavar="PHOTO_CATALOGUE",
        help="catalogue of photos whose id column names the indexed item each shows: report "
        "exact-item Recall@1/@k (e.g. made by tests/benchmarks/make_photo_queries.py)",
    )
    parser.add_argument(
        "--labelled-photos",
        type=Path,
        metavar="PHOTO_CSV",
        help="real photos with labels: any catalogue CSV (an image column, or ids with "
        "images/<id>.jpg) and any of the catalogue's label columns; P/mAP@k of agreement per "
        "field, empty labels skipped (e.g. the shared real photos' val split)",
    )
    add_ranking_options(parser)
    # The k users see in `search` (core.evaluation has no constant of its own for it).
    parser.add_argument("-k", type=int, default=DEFAULT_K)
    parser.add_argument(
        "--fields",
        help=f"comma-separated fields (default: {','.join(DEFAULT_FIELDS)})",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--weights", help="model weights (default: the bundled fashion model)")
    parser.add_argument(
        "--compare-weights",
        metavar="NEW_MODEL",
        help="before/after: also re-embed the index's catalogue and the queries with this model "
        "(e.g. a folder written by `train`) and print both side by side",
    )
    from fashion_desktop.cli.recommend import add_history_argument

    add_history_argument(parser)


def run(args: argparse.Namespace) -> int:
    if args.history is not None:  # recommendations, not search (cli/recommend.py)
        from fashion_desktop.cli.recommend import run_history_evaluation

        return run_history_evaluation(args)
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
        embedder = load_embedder(args.weights)
        index.check_model(embedder.identity)

        def embed(catalogue, what: str):
            if catalogue is None:
                return None
            with progress_bar(f"Embedding {what}", len(catalogue)) as update:
                return embed_queries(catalogue, embedder, update, localise=args.localise)

        query_set = embed(queries, "queries")
        photo_set = embed(photos, "photos")
        labelled_set = embed(labelled, "labelled photos")
    # Leave-one-out is the default only when no query of any kind is given.
    scoring = scoring_of(args)
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


def _print_quality_table(named: Sequence[tuple[str, EvaluationReport]]) -> None:
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


def _print_photo_report(report: PhotoReport) -> None:
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
        old = load_embedder(args.weights)
        index.check_model(old.identity)
        with progress_bar("Queries, old model", len(queries)) as update:
            before_queries = embed_queries(queries, old, update, localise=args.localise)
    new = load_embedder(args.compare_weights)
    with tempfile.TemporaryDirectory(prefix="fashion-compare-") as workdir:
        with progress_bar("Catalogue, new model", len(index)) as update:
            after_index = reembed_index(index, new, Path(workdir) / "index", update)
        try:
            if queries is not None:
                with progress_bar("Queries, new model", len(queries)) as update:
                    after_queries = embed_queries(queries, new, update, localise=args.localise)
            comparison = compare_models(
                index,
                before_queries,
                after_index,
                after_queries,
                k=args.k,
                fields=fields,
                scoring=scoring_of(args),
            )
        finally:
            after_index.close()
    if args.json:
        print(json.dumps(comparison.to_json()))
    else:
        print(comparison.table())
    return EXIT_OK
