"""``fashion-desktop kiosk set-pin``: the admin PIN that exits kiosk mode, stored hashed."""

from __future__ import annotations

import argparse
import sys

from fashion_desktop.cli.common import EXIT_OK
from fashion_desktop.core.errors import FashionDesktopError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "kiosk", help="kiosk mode administration", add_arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="kiosk_command", metavar="ACTION", required=True)
    actions.add_parser(
        "set-pin",
        help="set the admin PIN that exits kiosk mode (asked twice; read from stdin if piped)",
        description=f"Set the {_pin_lengths()} digit PIN staff type to leave kiosk mode. Only a "
        "salted scrypt hash is stored, in the user data folder.",
    )


def _pin_lengths() -> str:
    """``4-12``: the PIN lengths :func:`~fashion_desktop.core.kiosk_pin.check_pin_format` takes."""
    from fashion_desktop.core.kiosk_pin import MAX_PIN_LENGTH, MIN_PIN_LENGTH

    return f"{MIN_PIN_LENGTH}-{MAX_PIN_LENGTH}"


def run(args: argparse.Namespace) -> int:
    """``kiosk set-pin``: the PIN is typed twice (hidden on a terminal) and stored hashed."""
    from fashion_desktop.core.kiosk_pin import check_pin_format, set_pin

    if sys.stdin.isatty():
        import getpass

        pin = getpass.getpass(f"New kiosk admin PIN ({_pin_lengths()} digits): ")
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
