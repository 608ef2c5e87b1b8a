"""The top-level parser (the window's options and one subcommand per module) and :func:`main`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from fashion_desktop import __version__
from fashion_desktop.cli import (
    clients,
    evaluate,
    index,
    kiosk,
    look,
    model,
    recommend,
    search,
    train,
    window,
)
from fashion_desktop.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, CommandParser, print_error
from fashion_desktop.core.errors import FashionDesktopError

#: ``COMMAND`` → its module (``add_parser(subparsers)``, ``run(args) -> int``), in help order.
COMMANDS = {
    "index": index,
    "search": search,
    "evaluate": evaluate,
    "train": train,
    "model": model,
    "kiosk": kiosk,
    "clients": clients,
    "recommend": recommend,
    "look": look,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fashion-desktop",
        description="Find the catalogue items most similar to a photo of a garment. "
        "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    window.add_arguments(parser)
    # Each command's arguments are added when it is used (CommandParser): the core modules its
    # defaults come from are imported only then.
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=CommandParser
    )
    for module in COMMANDS.values():
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("FASHION_DESKTOP_FORBID_NETWORK"):
        from fashion_desktop.selftest import forbid_network

        forbid_network()
    handler: Callable[[argparse.Namespace], int] = (
        window.run if args.command is None else COMMANDS[args.command].run
    )
    try:
        return handler(args)
    except FashionDesktopError as error:
        print_error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print_error("Interrupted.")
        return EXIT_INTERRUPTED
