"""``fashion-desktop`` without a command: the window (or its self-test, or kiosk mode).

Its options belong to the top-level parser (:func:`add_arguments`), not to a subcommand, so what
this module imports every start pays for (:mod:`fashion_desktop.core.kiosk_config` is small and
NumPy-free). PySide6 is imported only by :func:`run`, so the other commands never load Qt.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.kiosk_config import CONFIG_FILE_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
        help="kiosk settings JSON (idle timeout, fixed filters; default: "
        f"{CONFIG_FILE_NAME} in the user data folder)",
    )
    gui.add_argument(  # for review screenshots: --kiosk --screenshot OUT --kiosk-screen capture
        "--kiosk-screen",
        choices=("attract", "capture", "results", "detail"),
        help=argparse.SUPPRESS,
    )
    gui.add_argument(
        "--client", metavar="NAME", help="open the Clients page for this client of the book"
    )
    gui.add_argument("--weights", help="model weights (file, model folder, 'imagenet', 'random')")
    gui.add_argument("--self-test", action="store_true", help="check the installation and exit")


def run(args: argparse.Namespace) -> int:
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
