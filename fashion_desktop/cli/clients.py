"""``fashion-desktop clients ...``: the client book (profiles, purchase history, export, forget).

The book is the SQLite file in the user data folder the window uses too
(``FASHION_DESKTOP_DATA_DIR`` overrides the folder). Client data leaves it only through
``clients export``; ``clients forget`` deletes everything about one client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fashion_desktop.cli.common import EXIT_FAILED, EXIT_OK, default_index, print_error
from fashion_desktop.core.errors import FashionDesktopError

#: Problems printed before "… and N more" (all are counted).
SHOWN_PROBLEMS = 50
#: ``clients edit`` list options → ClientProfile fields.
LIST_OPTIONS = {
    "prefer_colour": "preferred_colours",
    "avoid_colour": "avoided_colours",
    "prefer_type": "preferred_article_types",
    "avoid_type": "avoided_article_types",
    "prefer_usage": "preferred_usages",
    "avoid_usage": "avoided_usages",
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "clients",
        help="the client book: import purchase history, list, show, edit, export, forget",
        description="Client profiles, purchase histories, likes and looks, kept in the user data "
        "folder. Nothing leaves this machine except through `clients export`.",
        add_arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.clients import GENDERS
    from fashion_desktop.core.history import history_columns

    actions = parser.add_subparsers(dest="clients_command", metavar="ACTION", required=True)
    history = actions.add_parser(
        "import-history",
        help="import purchases from a point-of-sale CSV export",
        description=f"Columns {history_columns()}; dates in ISO 8601 (YYYY-MM-DD). Every row is "
        "checked first: with any problem nothing is imported and each problem is listed with its "
        "line number. Unknown clients are created; purchases already in the book are not added "
        "again, so importing the same file twice adds nothing.",
    )
    history.add_argument("history", type=Path, metavar="HISTORY.csv")
    history.add_argument("--index", type=Path, help="index whose item ids the file uses "
                         "(default: the bundled demo)")  # fmt: skip
    history.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows and list the others, instead of importing nothing",
    )
    listing = actions.add_parser("list", help="list clients (alphabetically)")
    listing.add_argument("--search", default="", help="only names containing this text")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="a client's profile and history")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="everything, as `export` writes it")
    edit = actions.add_parser(
        "edit",
        help="create a client or change their profile",
        description="Only the options given change. A list option replaces that list (repeat it "
        "for several values; give an empty value to clear it).",
    )
    edit.add_argument("name")
    edit.add_argument("--rename", metavar="NEW_NAME")
    edit.add_argument("--gender", choices=[*GENDERS, ""], help="'' clears it")
    edit.add_argument("--size", action="append", metavar="CATEGORY=SIZE", help="e.g. Shoes=38")
    for option, field_name in LIST_OPTIONS.items():
        edit.add_argument(
            f"--{option.replace('_', '-')}",
            action="append",
            metavar="VALUE",
            help=field_name.replace("_", " ")
            + " (catalogue values, e.g. Navy Blue, Kurtas, Ethnic)",
        )
    edit.add_argument("--notes")
    opinion = actions.add_parser("opinion", help="record that a client likes or dislikes an item")
    opinion.add_argument("name")
    opinion.add_argument("item_id", metavar="ITEM_ID")
    opinion.add_argument("opinion", choices=["like", "dislike", "clear"])
    opinion.add_argument("--index", type=Path, help="index holding the item (default: the demo)")
    export = actions.add_parser(
        "export", help="write everything about a client to a JSON or CSV file"
    )
    export.add_argument("name")
    export.add_argument("--out", type=Path, required=True, help="file to write (.json or .csv)")
    export.add_argument("--format", choices=["json", "csv"], help="default: from --out's suffix")
    forget = actions.add_parser(
        "forget",
        help="delete everything about a client (profile, history, likes, looks, shortlist)",
    )
    forget.add_argument("name")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def open_book():
    """The user's client book (the window's shortlists file)."""
    from fashion_desktop.core.clients import ClientBook
    from fashion_desktop.resources import user_data_dir

    return ClientBook.in_directory(user_data_dir())


def run(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[Any, argparse.Namespace], int]] = {
        "import-history": _import_history,
        "list": _list,
        "show": _show,
        "edit": _edit,
        "opinion": _opinion,
        "export": _export,
        "forget": _forget,
    }
    book = open_book()
    try:
        return handlers[args.clients_command](book, args)
    finally:
        book.close()


def _import_history(book, args: argparse.Namespace) -> int:
    from fashion_desktop.core.history import import_history
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(args.index or default_index())
    try:
        with row_progress() as update:
            report = import_history(
                book, args.history, index=index, skip_invalid=args.skip_invalid, progress=update
            )
    finally:
        index.close()
    check = report.check
    for problem in check.problems[:SHOWN_PROBLEMS]:
        print(f"  {args.history.name}: {problem}", file=sys.stderr)
    if check.problem_count > SHOWN_PROBLEMS:
        print(f"  … and {check.problem_count - SHOWN_PROBLEMS:,} more", file=sys.stderr)
    if check.ignored_columns:
        print(f"  ignored columns: {', '.join(check.ignored_columns)}", file=sys.stderr)
    if not report.imported:
        print_error(
            f"{check.problem_count:,} of {check.total_rows:,} rows have problems; nothing was "
            "imported. Fix them, or import the valid rows with --skip-invalid."
        )
        return EXIT_FAILED
    created = len(report.clients_created)
    print(
        f"Imported {report.added:,} purchases from {args.history.name} "
        f"({report.already_present:,} already in the book"
        + (f", {report.skipped:,} invalid rows skipped" if report.skipped else "")
        + f"; {created:,} new client{'s' if created != 1 else ''}) in {report.elapsed_s:.1f} s."
    )
    return EXIT_OK


@contextlib.contextmanager
def row_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on a terminal's stderr for ``progress(phase, done, total)``; nothing in
    a log."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase.capitalize(), total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield update


def _list(book, args: argparse.Namespace) -> int:
    names = book.search_clients(args.search) if args.search else book.clients()
    if args.json:
        print(json.dumps(names, ensure_ascii=False))
    elif names:
        print("\n".join(names))
    else:
        print("No clients yet." if not args.search else f"No client name contains {args.search!r}.")
    return EXIT_OK


def _show(book, args: argparse.Namespace) -> int:
    from fashion_desktop.core.recommend import format_day

    data = book.export_data(args.name)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return EXIT_OK
    profile = data["profile"]
    print(data["client"])
    for key, value in profile.items():
        if value:
            shown = ", ".join(value) if isinstance(value, list) else value
            if isinstance(value, dict):
                shown = ", ".join(f"{k}: {v}" for k, v in value.items())
            print(f"  {key.replace('_', ' ')}: {shown}")
    purchases = data["purchases"]
    print(f"  purchases: {len(purchases):,}")
    for purchase in purchases[-10:]:
        print(f"    {format_day(purchase['date'])}  {purchase['item_id']}  {purchase['name']}")
    likes = [o for o in data["opinions"] if o["opinion"] == "like"]
    print(f"  likes: {len(likes)}, dislikes: {len(data['opinions']) - len(likes)}, "
          f"shortlist: {len(data['shortlist'])}, looks: {len(data['looks'])}")  # fmt: skip
    return EXIT_OK


def _edit(book, args: argparse.Namespace) -> int:
    import dataclasses

    from fashion_desktop.core.clients import ClientError, ClientProfile

    name = args.name
    try:
        current = book.profile(name)
    except ClientError:
        current = ClientProfile()
    changes: dict[str, Any] = {}
    if args.gender is not None:
        changes["gender"] = args.gender
    if args.notes is not None:
        changes["notes"] = args.notes
    if args.size:
        sizes = dict(current.sizes)
        for pair in args.size:
            category, sep, size = pair.partition("=")
            if not sep or not category.strip():
                raise FashionDesktopError(f"--size {pair!r} should look like CATEGORY=SIZE.")
            if size.strip():
                sizes[category.strip()] = size
            else:
                sizes.pop(category.strip(), None)
        changes["sizes"] = sizes
    for option, field_name in LIST_OPTIONS.items():
        values = getattr(args, option)
        if values is not None:
            changes[field_name] = tuple(v for v in values if v.strip())
    stored = book.set_profile(name, dataclasses.replace(current, **changes))
    if args.rename:
        stored = book.rename_client(stored, args.rename)
    print(f"Saved the profile of {stored}.")
    return EXIT_OK


def _opinion(book, args: argparse.Namespace) -> int:
    from fashion_desktop.core.catalogue import display_name
    from fashion_desktop.core.clients import ItemSnapshot
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(args.index or default_index())
    try:
        row = index.row_of(args.item_id)
        if row is None:
            raise FashionDesktopError(
                f"No item with id {args.item_id[:40]!r} in {index.path.name}."
            )
        item = index.item(row)
    finally:
        index.close()
    title = display_name(item.item_id, item.metadata)
    opinion = None if args.opinion == "clear" else args.opinion
    stored = book.set_opinion(
        args.name, ItemSnapshot(item.item_id, title, str(item.image_path), item.metadata), opinion
    )
    print(f"{stored}: {args.opinion} {title}.")
    return EXIT_OK


def _export(book, args: argparse.Namespace) -> int:
    stored = book.resolve(args.name)
    kind = book.export(stored, args.out, args.format)
    print(f"Exported {stored} to {args.out} ({kind.upper()}).")
    return EXIT_OK


def _forget(book, args: argparse.Namespace) -> int:
    stored = book.resolve(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise FashionDesktopError(
                f"Forgetting {stored} deletes everything about them; add --yes to confirm."
            )
        answer = input(f"Delete everything about {stored}? Type their name to confirm: ")
        if " ".join(answer.split()).casefold() != stored.casefold():
            print("Nothing was deleted.")
            return EXIT_FAILED
    deleted = book.forget(stored)
    print(
        f"Forgot {stored}: {deleted['purchases']:,} purchases, {deleted['opinions']:,} likes or "
        f"dislikes, {deleted['looks']:,} looks and {deleted['shortlist']:,} shortlisted items "
        "deleted."
    )
    return EXIT_OK
