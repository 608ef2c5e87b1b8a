"""``fashion-desktop look ITEM_ID``: complete the look around one catalogue item.

Alternatives for each complementary slot (topwear, bottomwear or a dress, footwear, one
accessory) of the item's gender and usage, in colours that go with it; for a client, nothing
they own, disliked or avoid. ``--save`` keeps the look in the client book, ``--export`` writes
it (with the client's shortlist) as CSV, PNG or PDF.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fashion_desktop.cli.common import EXIT_OK, default_index
from fashion_desktop.core.errors import FashionDesktopError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "look",
        help="complete the look around a catalogue item",
        description="For an anchor item, alternatives for each complementary slot of the same "
        "gender and usage, in colours that go together (neutrals go with anything; the rule is "
        "printed with the look).",
        add_arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fashion_desktop.core.looks import DEFAULT_ALTERNATIVES, MAX_ALTERNATIVES

    parser.add_argument("item_id", metavar="ITEM_ID")
    parser.add_argument("--client", metavar="NAME", help="leave out what this client owns")
    parser.add_argument("--index", type=Path, help="index folder (default: the bundled demo)")
    parser.add_argument(
        "--alternatives",
        type=int,
        default=DEFAULT_ALTERNATIVES,
        help=f"per slot (default {DEFAULT_ALTERNATIVES}, at most {MAX_ALTERNATIVES})",
    )
    parser.add_argument("--save", metavar="LOOK_NAME", help="save the look to --client")
    parser.add_argument(
        "--export",
        type=Path,
        metavar="FILE",
        help="write the look (and --client's shortlist) as .csv, .png or .pdf",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")


def run(args: argparse.Namespace) -> int:
    from fashion_desktop.cli.clients import open_book
    from fashion_desktop.core.index import EmbeddingIndex
    from fashion_desktop.core.looks import COLOUR_RULE, LookBuilder, export_look, saved_items

    if args.save and not args.client:
        raise FashionDesktopError("--save needs --client: a look is saved to a client.")
    index = EmbeddingIndex.open(args.index or default_index())
    book = open_book() if args.client else None
    try:
        look = LookBuilder(index, book).look(
            args.item_id, client=args.client, alternatives=args.alternatives
        )
        if args.export:
            shortlist = book.entries(look.client) if book is not None and look.client else []
            title = f"Look: {look.anchor.name}" + (f" · for {look.client}" if look.client else "")
            export_look(look, args.export, shortlist=shortlist, title=title)
        if args.save and book is not None and look.client:
            book.save_look(look.client, args.save, look.anchor.item_id, saved_items(look))
    finally:
        if book is not None:
            book.close()
        index.close()
    if args.json:
        print(json.dumps(look.to_json(), ensure_ascii=False))
        return EXIT_OK
    for note in look.notes:
        print(f"note: {note}", file=sys.stderr)
    anchor = look.anchor.metadata
    facts = " · ".join(
        v for f in ("gender", "usage", "baseColour", "season") if (v := anchor.get(f))
    )
    print(
        f"Look around {look.anchor.item_id} {look.anchor.name} ({facts})"
        + (f" for {look.client}" if look.client else "")
        + f", {look.elapsed_ms:.0f} ms"
    )
    for slot, items in look.slots.items():
        print(f"  {slot}:")
        for item in items:
            colour = item.metadata.get("baseColour", "")
            print(
                f"    {item.rank}. {item.item_id:<8} {item.name}"
                + (f" — {colour}" if colour else "")
            )
            print(f"         {'; '.join(item.reasons)}")
    print(f"Colour rule: {COLOUR_RULE}")
    if args.save:
        print(f"Saved as {args.save!r} for {look.client}.")
    if args.export:
        print(f"Exported to {args.export}.")
    return EXIT_OK
